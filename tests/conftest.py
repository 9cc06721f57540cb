"""Shared fixtures: a fresh case database on SQLite and on a real PostgreSQL server.

PostgreSQL is never optional: when ``RECOVER_TEST_PG_URL`` does not answer, tests that need it
fail (``make test`` starts a server first).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

PG_URL = os.environ.get("RECOVER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent


def _pg_admin_url() -> str:
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) if PG_URL.startswith("postgresql://") else PG_URL


def create_pg_database() -> str:
    import sqlalchemy as sa

    name = f"recover_t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    base = _pg_admin_url().rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_pg_database(url: str) -> None:
    import sqlalchemy as sa

    from recover.db import dispose_engines

    dispose_engines()
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    """A URL of an empty database (no schema), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.db'}"
        from recover.db import dispose_engines

        dispose_engines()
    else:
        url = create_pg_database()
        try:
            yield url
        finally:
            drop_pg_database(url)


@pytest.fixture
def db_url(empty_db_url):
    """A migrated case database on each backend."""
    from recover.db import upgrade_to_head

    upgrade_to_head(empty_db_url)
    return empty_db_url


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's own database, config folder or actor."""
    monkeypatch.delenv("RECOVER_CONFIG_DIR", raising=False)
    monkeypatch.delenv("RECOVER_DB_URL", raising=False)
    monkeypatch.setenv("RECOVER_ACTOR", "tester")
    from recover.registry import clear_cache

    clear_cache()
    yield
    clear_cache()
