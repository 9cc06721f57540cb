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
def sqlite_db_url(tmp_path):
    """A migrated SQLite database only: for chain tests whose database side is covered elsewhere."""
    from recover.db import dispose_engines, upgrade_to_head

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade_to_head(url)
    from team import enroll

    enroll(url)
    yield url
    dispose_engines()


@pytest.fixture
def db_url(empty_db_url):
    """A migrated case database on each backend."""
    from recover.db import upgrade_to_head

    from team import enroll

    upgrade_to_head(empty_db_url)
    enroll(empty_db_url)
    return empty_db_url


@pytest.fixture(scope="session")
def _read_cache(tmp_path_factory):
    """One cache folder of the read path (``recover.queries.networks``) per test process."""
    return str(tmp_path_factory.mktemp("read-cache"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path, _read_cache):
    """No test sees the developer's own database, config folder, keys or read cache: each runs as the
    test team (``tests/team.py``: its trust root, and the specialist's key unless a test names another)."""
    import team

    monkeypatch.delenv("RECOVER_CONFIG_DIR", raising=False)
    monkeypatch.delenv("RECOVER_DB_URL", raising=False)
    monkeypatch.setenv("RECOVER_CACHE_DIR", _read_cache)
    for name, value in team.env().items():
        monkeypatch.setenv(name, value)
    from recover.registry import clear_cache

    clear_cache()
    yield
    clear_cache()


# ---------------------------------------------------------------------------------------------
# EVM devnets: real anvil nodes (started once per session, reverted after every test).
@pytest.fixture(scope="session")
def anvil_a():
    from evm_devnet import start_anvil

    node = start_anvil(31337)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_b():
    from evm_devnet import start_anvil

    node = start_anvil(31338)
    yield node
    node.stop()


@pytest.fixture
def evm(anvil_a, anvil_b, monkeypatch):
    """Both devnets at a clean snapshot, with ANVIL_URL / ANVIL_B_URL and the HD seed set."""
    from evm_devnet import ANVIL_MNEMONIC

    from recover.chainio import use_adapter_factory

    from chains.evm.keys import derive_evm_account

    snaps = (anvil_a.snapshot(), anvil_b.snapshot())
    station = derive_evm_account(ANVIL_MNEMONIC, "m/44'/60'/1'/0/0").address
    anvil_a.set_balance(station, 100 * 10**18)
    anvil_b.set_balance(station, 100 * 10**18)
    monkeypatch.setenv("ANVIL_URL", anvil_a.url)
    monkeypatch.setenv("ANVIL_B_URL", anvil_b.url)
    monkeypatch.setenv("RECOVER_SEED", ANVIL_MNEMONIC)
    use_adapter_factory(None)
    yield anvil_a, anvil_b
    use_adapter_factory(None)
    anvil_a.revert(snaps[0])
    anvil_b.revert(snaps[1])
