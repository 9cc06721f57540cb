"""Throw-away databases on the PostgreSQL server (``RECOVER_TEST_PG_URL``): one per test that asks,
dropped after it (the tests' fixtures and the benchmarks use the same)."""

from __future__ import annotations

import os
import uuid

PG_URL = os.environ.get("RECOVER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


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

    from recover.storage.db import dispose_engines

    dispose_engines()
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
