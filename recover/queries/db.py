"""One read transaction over a plain DB-API connection: ``sqlite3`` or ``psycopg``, found from the
same URL as the ORM session (``recover.storage.db_url``) and refused in the same words.

SQLite reads take a deferred transaction (a shared lock: a consistent snapshot that does not queue
behind writers as ``BEGIN IMMEDIATE`` would); PostgreSQL reads run READ ONLY at REPEATABLE READ (one
snapshot for every query of the command).  A URL of another kind is opened through SQLAlchemy's
engine, whose raw connection is used the same way, so its errors read as they always did.
Values are decoded as the ORM's column types do (``decode_*``): JSON text, naive UTC times made
aware, base units as ``int``.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Iterator

from recover.storage.db_url import (
    database_unreachable,
    no_database,
    no_schema,
    resolve_db_url,
    shown_url,
    sqlite_path,
    unreachable_text,
)

# Imports inside functions: the read path loads statement checks, PyNaCl and the network files only for the
# documents that show them: `case list` starts without them.


class Db:
    """Rows as dicts (or attribute rows) from one connection; ``?`` placeholders on every dialect."""

    def __init__(self, conn, dialect: str):
        self.conn, self.dialect = conn, dialect

    @classmethod
    def of_session(cls, session) -> "Db":
        """The connection of an ORM session, inside its transaction (what a service reads is what it
        is about to write on)."""
        conn = session.connection()
        return cls(conn.connection.dbapi_connection, conn.dialect.name)

    def rows(self, sql: str, params: tuple | list = ()) -> list[dict]:
        if self.dialect != "sqlite":
            sql = sql.replace("?", "%s")
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            cur.close()

    def one(self, sql: str, params: tuple | list = ()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def records(self, sql: str, params: tuple | list = ()) -> list[SimpleNamespace]:
        return [SimpleNamespace(**r) for r in self.rows(sql, params)]

    def has_table(self, name: str) -> bool:
        if self.dialect == "sqlite":
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
        return self.one(sql, (name,)) is not None


def decode_json(value):
    """A JSON column: text on SQLite, already decoded by psycopg (every JSON column holds an object,
    an array or null, never a bare string)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def decode_time(value) -> datetime | None:
    """A ``UTCDateTime`` column: naive UTC (text on SQLite) read back aware."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc)


def decode_units(value) -> int | None:
    """A ``BaseUnits`` column: decimal text read back as ``int``."""
    return None if value is None else int(value)


def decode_bool(value) -> bool | None:
    return None if value is None else bool(value)


@contextmanager
def reading(db: str | None = None) -> Iterator[Db]:
    """The database of ``db`` (``--db``, else ``RECOVER_DB_URL``, else ``recover.storage.db``), checked to have
    a schema, in one read-only transaction that is rolled back at the end."""
    url = resolve_db_url(db)
    if url.startswith("sqlite"):
        conn, dialect, shown = _sqlite(url), "sqlite", url
    elif url.startswith("postgresql+psycopg://"):
        conn, dialect, shown = _postgres(url), "postgresql", shown_url(url)
    else:
        conn, dialect, shown = _other(url)
    try:
        handle = Db(conn, dialect)
        if not handle.has_table("alembic_version"):
            raise no_schema(shown)
        yield handle
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def _sqlite(url: str):
    import sqlite3

    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        raise no_database(path)
    conn = sqlite3.connect(path or ":memory:", timeout=30, isolation_level=None)
    conn.execute("BEGIN")  # deferred: a shared lock once the first table is read
    return conn


def _postgres(url: str):
    import psycopg

    try:
        conn = psycopg.connect("postgresql://" + url.split("://", 1)[1])
    except psycopg.OperationalError as exc:
        if unreachable_text(str(exc)):
            raise database_unreachable(url, exc) from None
        raise
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


def _other(url: str):
    """Any other URL through SQLAlchemy (its errors, its drivers); the raw connection is read as above."""
    from recover.storage.db import get_engine

    engine = get_engine(url)
    raw = engine.raw_connection()
    return raw, engine.dialect.name, engine.url.render_as_string(hide_password=True)
