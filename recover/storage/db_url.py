"""Which database a command uses, and how its errors read: shared by the ORM session (``recover.storage.db``)
and the plain read path (``recover.queries``), so a read needs no SQLAlchemy to find its database
or to say it is missing, uninitialised or unreachable in the same words."""

from __future__ import annotations

import os

from recover.errors import NodeUnreachable, NotFound

DEFAULT_DB_URL = "sqlite:///recover.db"


def resolve_db_url(url: str | None = None) -> str:
    """``--db`` wins, then ``RECOVER_DB_URL``, then ``recover.storage.db`` in the working directory."""
    url = url or os.environ.get("RECOVER_DB_URL") or DEFAULT_DB_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (None for in-memory databases and other URLs)."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def no_database(path: str) -> NotFound:
    return NotFound(f"there is no case database at {path}: run `recover init` first (or set RECOVER_DB_URL)",
                    code="db_not_initialised")


def no_schema(shown_url: str) -> NotFound:
    return NotFound("the case database has no schema: run `recover init` first "
                    f"(database: {shown_url})", code="db_not_initialised")


def shown_url(url: str) -> str:
    """The URL as messages show it: the password replaced by ``***`` (as SQLAlchemy renders it)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        if ":" in userinfo:
            authority = userinfo.split(":", 1)[0] + ":***@" + host
    return f"{scheme}://{authority}{slash}{tail}"


class DatabaseUnreachable(NodeUnreachable):
    """The database server did not answer (exit 8, like a node): nothing was done; try again."""

    code = "database_unreachable"


def unreachable_text(text: str) -> bool:
    """Whether a driver's error text says the server could not be reached (rather than refused)."""
    text = text.lower()
    return any(w in text for w in ("connection refused", "could not connect", "connection failed", "timeout",
                                   "server closed the connection", "no route to host", "name or service not known",
                                   "could not translate host name", "connection to server"))


def first_line(err) -> str:
    lines = [line.strip() for line in str(err or "").splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def database_unreachable(url: str, err) -> DatabaseUnreachable:
    return DatabaseUnreachable(f"the case database {shown_url(url)} does not answer: {first_line(err)}")
