"""Database URL, engine and sessions, and the Alembic upgrade that ``recover init`` runs.

SQLite transactions begin IMMEDIATE so that two processes never interleave a read-then-write
(the audit chain and the optimistic transitions rely on that); PostgreSQL takes an advisory lock
where the audit chain is appended.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from importlib import resources
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from recover.errors import InvalidInput, ToolkitError
from recover.storage.db_url import (
    DEFAULT_DB_URL,
    DatabaseUnreachable,
    no_database,
    no_schema,
    resolve_db_url,
    unreachable_text,
)
from recover.storage.db_url import first_line as _first_line
from recover.storage.db_url import sqlite_path as _sqlite_path

# Imports inside functions: Alembic loads only to create or check the schema, not for every unit of work.

AFTER_COMMIT = "recover.storage.db.after_commit"  # session.info: callables run once the unit of work committed

__all__ = ["DEFAULT_DB_URL", "DatabaseUnreachable", "resolve_db_url", "get_engine", "session_scope", "require_schema",
           "upgrade_to_head", "current_revision", "head_revision", "dispose_engines", "alembic_config"]
_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None, *, create: bool = False) -> Engine:
    """The engine of ``url``.  A SQLite file that does not exist yet is created only by ``recover init``
    (``create=True``): every other command says so instead of leaving an empty file behind."""
    url = resolve_db_url(url)
    path = _sqlite_path(url)
    if path is not None and not create and not os.path.exists(path):
        raise no_database(path)
    engine = _ENGINES.get(url)
    if engine is None:
        try:
            engine = _make_engine(url)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise InvalidInput(f"database URL {url!r} is not usable: {exc}", code="bad_db_url") from None
        _ENGINES[url] = engine
    return engine


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, poolclass=sa.pool.NullPool)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            dbapi_conn.execute("PRAGMA foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    engine = get_engine(url)
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
        for hook in session.info.pop(AFTER_COMMIT, ()):  # e.g. a deciding host pins what it wrote itself
            hook(session)
    except sa.exc.OperationalError as exc:
        session.rollback()
        if engine.dialect.name == "postgresql" and _unreachable(exc):
            raise DatabaseUnreachable(
                f"the case database {engine.url.render_as_string(hide_password=True)} does not answer: "
                f"{_first_line(exc.orig)}") from None
        raise
    except BaseException as exc:
        if isinstance(exc, ToolkitError) and exc.commit:  # a refusal that recorded why (the case moved): keep it
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.info.clear()
        session.close()


def _unreachable(exc: sa.exc.OperationalError) -> bool:
    return unreachable_text(str(exc.orig or exc))


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("recover.migrations")))
    cfg.set_main_option("sqlalchemy.url", resolve_db_url(url).replace("%", "%%"))
    return cfg


def upgrade_to_head(url: str | None = None) -> str:
    """Create or upgrade the schema to the newest revision; safe to run any number of times."""
    from alembic import command

    cfg = alembic_config(url)
    engine = get_engine(url, create=True)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:  # a batch migration rebuilds a table (copy, DROP, rename): SQLite refuses to DROP one
                # that rows refer to while foreign keys are on, and they can be turned off only outside a
                # transaction (Alembic's advice).  Checked before the commit instead.
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the schema upgrade would leave rows that refer to missing rows: rolled back")
    except sa.exc.OperationalError as exc:
        if engine.dialect.name == "postgresql" and _unreachable(exc):
            raise DatabaseUnreachable(
                f"the case database {engine.url.render_as_string(hide_password=True)} does not answer: "
                f"{_first_line(exc.orig)}") from None
        raise
    return current_revision(url) or ""


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str | None = None) -> str | None:
    engine = get_engine(url)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def require_schema(session: Session) -> None:
    """Refuse to work on a database that ``recover init`` has not prepared."""
    conn = session.connection()
    if not sa.inspect(conn).has_table("alembic_version"):
        raise no_schema(conn.engine.url.render_as_string(hide_password=True))
