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

from recover.errors import InvalidInput, NotFound

DEFAULT_DB_URL = "sqlite:///recover.db"
_ENGINES: dict[str, Engine] = {}


def resolve_db_url(url: str | None = None) -> str:
    """``--db`` wins, then ``RECOVER_DB_URL``, then ``recover.db`` in the working directory."""
    url = url or os.environ.get("RECOVER_DB_URL") or DEFAULT_DB_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def get_engine(url: str | None = None) -> Engine:
    url = resolve_db_url(url)
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
    except BaseException as exc:
        if getattr(exc, "commit", False) is True:  # a refusal that recorded why (the case moved): keep it
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.info.clear()
        session.close()


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
    engine = get_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
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
        raise NotFound(
            "the case database has no schema: run `recover init` first "
            f"(database: {conn.engine.url.render_as_string(hide_password=True)})",
            code="db_not_initialised",
        )
