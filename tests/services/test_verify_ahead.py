"""Issue 27: ``case verify --all`` starts its node reads before it has loaded its write side
(``recover.casework.verify_reads.read_ahead``), on the real anvil, SQLite and PostgreSQL.

What was read ahead is used (the verification itself asks the node nothing more for those cases),
and only the command's own list of open cases is decided: a case closed after the reads started is
left alone, a case opened after them is read and verified by the command itself.  Reading ahead
never decides, signs or writes anything: an operator who may not verify is refused, as before, and
the database is as it was.
"""

from __future__ import annotations

import os
import subprocess
import time

import sqlalchemy as sa

import team
from clihelp import RECOVER, snapshot
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import cli, derive, key, register, world_both  # noqa: F401 (fixture)


def _token_cases(w, first_index: int, n: int) -> list[int]:
    token = deploy(w.a.w3, "StandardToken", "Ahead", "AHD", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    ids = []
    for i in range(first_index, first_index + n):
        deposit = derive(i)
        register(w, [("anvil", deposit, f"m/44'/60'/0'/0/{i}", "active")])
        tx = token_transfer(w.a.w3, token, w.user, deposit, 10**6 + i)["transactionHash"].to_0x_hex()
        ids.append(cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--deposit-address", deposit,
                       "--return-address", w.ret)["id"])
    w.a.mine(2)
    return ids


def _node_requests() -> int:
    from recover.networks.chainio import adapter
    from recover.networks.registry import get_network

    return adapter(get_network("anvil")).client.http_requests


def _read_through(stream) -> None:
    """Wait until the stream has read every chunk (without taking them: the command does)."""
    end = time.monotonic() + 60
    while len(stream._done) < len(stream._chunks) and time.monotonic() < end:
        time.sleep(0.01)
    assert len(stream._done) == len(stream._chunks)


def _statuses(db: str, ids: list[int]) -> dict[int, str]:
    from recover.storage.db import get_engine

    with get_engine(db).connect() as conn:
        rows = conn.execute(sa.text("SELECT id, status FROM cases")).all()
    return {i: s for i, s in rows if i in ids}


def test_what_was_read_ahead_is_used_and_only_the_commands_own_list_is_decided(world_both, monkeypatch):
    import recover.api as api
    from recover.casework.verify_reads import read_ahead

    w = world_both
    for name, value in team.env().items():
        monkeypatch.setenv(name, value)
    kept, closed, later = _token_cases(w, 40, 3)
    ahead = read_ahead(w.db)
    stream = ahead.streams["anvil"]
    txids = [c[0] for chunk in stream._chunks for c in chunk]
    assert len(txids) == 3
    _read_through(stream)  # the reads are done: the node is asked nothing more for these cases
    cli(w, "case", "close", str(closed), "--as", "rejected", "--reason", "withdrawn by the claimant",
        "--key", key("rita"))
    before = _node_requests()
    summary = api.verify_cases(all_open=True, db=w.db, ahead=ahead).to_dict()
    assert _node_requests() == before
    assert sorted(c["id"] for c in summary["cases"]) == [kept, later]
    assert summary["verified"] == 2
    assert _statuses(w.db, [kept, closed, later]) == {kept: "verified", closed: "rejected", later: "verified"}
    assert not stream._thread.is_alive() and ahead.streams == {}

    # a case opened after the reads started: the command reads it itself, and verifies it
    first, = _token_cases(w, 50, 1)
    ahead = read_ahead(w.db)
    _read_through(ahead.streams["anvil"])
    second, = _token_cases(w, 51, 1)
    before = _node_requests()
    summary = api.verify_cases(all_open=True, db=w.db, ahead=ahead).to_dict()
    assert _node_requests() > before
    assert sorted(c["id"] for c in summary["cases"]) == [first, second] and summary["verified"] == 2
    assert cli(w, "audit", "verify")["ok"]


def test_an_operator_who_may_not_verify_is_refused_with_the_reads_under_way(world_both, tmp_path):
    """The attack: a key that is not a specialist's runs ``verify --all`` (whose node reads start
    before anyone is proven).  Refused as before; no case moved, no statement, no audit event."""
    w = world_both
    _token_cases(w, 60, 2)
    before = snapshot(w.db)
    env = {**os.environ, **team.env(), "RECOVER_DB_URL": w.db}
    stranger = tmp_path / "mallory.key"
    made = subprocess.run([RECOVER, "operators", "keygen", "mallory", "--out", str(stranger), "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    for who, code in ((key("rita"), "role_missing"), (str(stranger), "unknown_operator")):
        proc = subprocess.run([RECOVER, "case", "verify", "--all", "--json", "--key", who], capture_output=True,
                              text=True, env=env, timeout=120)
        assert proc.returncode != 0 and code in proc.stderr, (who, proc.returncode, proc.stderr)
        assert snapshot(w.db) == before
