"""Shared fixtures: a fresh case database on SQLite and on a real PostgreSQL server.

PostgreSQL is never optional: when ``RECOVER_TEST_PG_URL`` does not answer, tests that need it
fail (``make test`` starts a server first).
"""

from __future__ import annotations

import pytest

from pgdb import create_pg_database, drop_pg_database

#: what starts a chain node (tests/support): a test or fixture that names one needs a node
NODE_STARTERS = {"start_anvil", "start_litecoind", "start_bsvd", "start_node", "SolanaDevnet", "start_injectived"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    """A URL of an empty database (no schema), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.db'}"
        from recover.storage.db import dispose_engines

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
    from recover.storage.db import dispose_engines, upgrade_to_head

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade_to_head(url)
    from team import enroll

    enroll(url)
    yield url
    dispose_engines()


@pytest.fixture
def db_url(empty_db_url):
    """A migrated case database on each backend."""
    from recover.storage.db import upgrade_to_head
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
    test team (``tests/support/team.py``: its trust root, and the specialist's key unless a test names another)."""
    import team

    monkeypatch.delenv("RECOVER_CONFIG_DIR", raising=False)
    monkeypatch.delenv("RECOVER_DB_URL", raising=False)
    monkeypatch.delenv("RECOVER_DEVNETS", raising=False)
    monkeypatch.setenv("RECOVER_CACHE_DIR", _read_cache)
    for name, value in team.env().items():
        monkeypatch.setenv(name, value)
    from recover.networks.registry import clear_cache

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
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC
    from recover.networks.chainio import use_adapter_factory

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


# -- markers: which tests need a node, the database server or a browser --------------------------------
def _names(func) -> set[str]:
    code = getattr(func, "__code__", None)
    out: set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        c = stack.pop()
        out |= set(c.co_names)
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    return out


def pytest_collection_modifyitems(config, items):
    """``-m node`` / ``-m dbserver`` / ``-m browser`` select what needs a chain node, the PostgreSQL
    server or Chromium (``-m "not node and not dbserver"`` runs what needs neither), derived from
    what each test and its fixtures use rather than kept by hand."""
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        funcs = [getattr(item, "function", None)]
        if defs is not None:
            funcs += [d.func for name in item.fixturenames for d in defs.name2fixturedefs.get(name, ())]
        names = set().union(*(_names(f) for f in funcs if f is not None))
        if names & NODE_STARTERS:
            item.add_marker(pytest.mark.node)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "postgresql" in params.values() or "create_pg_database" in names:
            item.add_marker(pytest.mark.dbserver)
        if "chromium" in names or "playwright" in names or "sync_playwright" in names:
            item.add_marker(pytest.mark.browser)
