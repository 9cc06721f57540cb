"""Issue 27: ``case verify --all`` loads what verifying needs, and nothing of the rest of the toolkit.

A specialist waits for the whole process, start-up included: the web app, the other families' SDKs,
web3 and eth-account (the adapters speak JSON-RPC themselves), Alembic, PostgreSQL's driver on a
SQLite database, the PKCS#11 and metrics libraries and rich (with ``--json``; a plain table is
written directly: only rich's console is asked what the output is), pycryptodome with cffi and pycparser
(Keccak-256 comes from eth-hash's compiled pysha3 backend) are not loaded, as a real
``recover`` process reports (``RECOVER_DUMP_MODULES``, the test hook of ``cli.main``).  The EVM
adapter is, and the case is verified: the path under test is the real one.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from clihelp import RECOVER
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import cli, derive, register, world  # noqa: F401 (fixture)
from team import env as team_env
from team import with_default_keys

FORBIDDEN = ("fastapi", "starlette", "uvicorn", "jinja2", "webauthn", "recover.web", "prometheus_client", "pkcs11",
             "bitcoinlib", "bitcash", "embit", "solana", "solders", "cosmpy", "stellar_sdk", "xrpl", "chains.utxo",
             "chains.solana", "chains.cosmos", "chains.stellar", "chains.xrpl", "web3", "eth_account", "eth_tester",
             "alembic", "psycopg", "rich", "Crypto", "cffi", "pycparser")


def _open_token_case(w, index: int) -> int:
    deposit = derive(index)
    register(w, [("anvil", deposit, f"m/44'/60'/0'/0/{index}", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, deposit, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    return cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret)["id"]


def test_verify_all_loads_the_evm_adapter_and_none_of_the_rest(world, tmp_path):
    w = world
    first, second = _open_token_case(w, 20), None
    for extra in (["--json"], []):
        if not extra:  # a second open case, for the table
            second = _open_token_case(w, 21)
        dump = tmp_path / "modules.txt"
        env = {**os.environ, **team_env(), "RECOVER_DB_URL": w.db, "RECOVER_DUMP_MODULES": str(dump),
               "COLUMNS": "200"}
        proc = subprocess.run([RECOVER, *with_default_keys(("case", "verify", "--all", *extra), None)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        if extra:
            assert json.loads(proc.stdout)["verified"] == 1
        else:
            assert "1 verified" in proc.stdout and f"│ {second}" in proc.stdout, proc.stdout
        modules = dump.read_text().split()
        assert "chains.evm.adapter" in modules and "recover.casework.verification" in modules
        # the table asks rich's console what the output is (colours, width), but does not draw with rich
        forbidden = FORBIDDEN if extra else (*(f for f in FORBIDDEN if f != "rich"), "rich.table")
        loaded = [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)]
        assert loaded == [], (extra, loaded)
    assert cli(w, "case", "show", str(first))["status"] == "verified"


@pytest.mark.parametrize("argv", [["--all"], ["--all", "--json"], ["5"], ["5", "--json", "--key", "k.key"], ["007"],
                                  ["--all", "--db", "sqlite:///x.db", "--key=a/b", "--json"], ["--key", "x", "12"],
                                  ["--all", "3"], []])
def test_case_verify_runs_without_typer_with_the_arguments_typer_gives(argv):
    """``case verify`` skips typer's command tree when its command line is plain: the keyword
    arguments are typer's own for the same line (a usage error too is the command's own, as before)."""
    import functools

    import cli

    command = next(c for g in cli.app.registered_groups if g.name == "case"
                   for c in g.typer_instance.registered_commands if c.name == "verify")
    given = {}
    original = command.callback

    @functools.wraps(original)
    def record(**kwargs):
        given.update(kwargs)

    command.callback = record
    try:
        cli.app(["case", "verify", *argv], standalone_mode=False)
    finally:
        command.callback = original
    assert cli._parse_plainly(original, argv) == given


@pytest.mark.parametrize("argv", [["--key", ""], ["--key"], ["--all", "--all"], ["5", "6"], ["-1"], ["x1"],
                                  ["--bogus"], ["--help"], ["--all", "--json=1"], ["--key=", "--all"]])
def test_a_case_verify_line_that_is_not_plain_goes_to_typer(argv):
    import cli

    assert cli._fast_read(["case", "verify", *argv]) is None


def test_the_keccak_backend_the_cli_selects_hashes_as_the_default_one():
    """``cli._prefer_compiled_keccak`` swaps eth-hash's backend: the same Keccak-256 (not SHA3-256), on
    the empty input, a known vector, and inputs across the sponge's 136-byte block."""
    from eth_hash.backends import pycryptodome, pysha3

    assert pysha3.keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert pysha3.keccak256(b"Transfer(address,address,uint256)").hex() == (
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    for n in (1, 135, 136, 137, 272, 1000):
        data = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        assert pysha3.keccak256(data) == pycryptodome.keccak256(data)
