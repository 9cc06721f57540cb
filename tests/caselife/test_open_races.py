"""Issue 21, item 7: scans and appeals at the same moment, on PostgreSQL, through the installed CLI.

- Two ``recover scan`` runs of one network at once both succeed (the scan state is an upsert that keeps
  the higher block), and a deposit both find is opened once.
- A scan and an appeal (``case open``) of one deposit at once open one case: the scan names the deposit
  address and asset, the appeal ``*``, so only a lock per (chain, txid) taken before the overlap check
  keeps them apart; the loser is refused with exit 5 ``duplicate``.

The processes are real ``recover`` subprocesses; ``RECOVER_TEST_PAUSE`` holds one of them at the point
where the race is decided, so the other really runs inside the window.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import sqlalchemy as sa

import team
from clihelp import RECOVER, run, snapshot
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import _world, cli, derive, register, world_pg  # noqa: F401


@pytest.fixture(params=["postgresql", "sqlite"])
def race_world(request, evm, tmp_path):
    """PostgreSQL (the advisory lock) and SQLite (BEGIN IMMEDIATE already serialises the openers)."""
    if request.param == "postgresql":
        yield request.getfixturevalue("world_pg")
    else:
        from recover.storage.db import dispose_engines

        yield _world(evm, f"sqlite:///{tmp_path / 'cases.db'}", tmp_path)
        dispose_engines()


def _stranded_deposit(w, index=20):
    """An unlisted token sent to our active deposit address: a finding of every scan."""
    deposit = derive(index)
    register(w, [("anvil", deposit, f"m/44'/60'/0'/0/{index}", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    receipt = token_transfer(w.a.w3, token, w.user, deposit, 2_500 * 10**6)
    return receipt["transactionHash"].to_0x_hex(), receipt["blockNumber"]


def _recover(w, *args, pause: str | None = None) -> subprocess.Popen:
    env = {**os.environ, **team.env(), "RECOVER_DB_URL": w.db}
    env.pop("RECOVER_TEST_PAUSE", None)
    if pause:
        env["RECOVER_TEST_PAUSE"] = pause
    return subprocess.Popen([RECOVER, *team.with_default_keys(args, None), "--json"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(w.tmp))


def _finish(proc: subprocess.Popen, timeout=120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _sql(w, text: str, **params):
    from recover.storage.db import get_engine

    with get_engine(w.db).connect() as conn:
        return conn.execute(sa.text(text), params).all()


def _wait_paused_in_open(w, timeout: float = 60.0) -> None:
    """Until the scan is held at its pause point inside ``open_case``, its transaction open.

    PostgreSQL: a session of this database sits idle in a transaction whose last statement read the
    claims of a transaction (the overlap check).  SQLite: the database's write lock (which every
    transaction takes at ``BEGIN IMMEDIATE``) has been held for over a second without a break; the scan's
    other transactions last milliseconds."""
    deadline = time.monotonic() + timeout
    if w.db.startswith("sqlite"):
        import sqlite3

        path, held_since = w.db.split("///", 1)[1], None
        while time.monotonic() < deadline:
            conn = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                held_since = None
            except sqlite3.OperationalError:  # database is locked
                held_since = held_since or time.monotonic()
                if time.monotonic() - held_since > 1.0:
                    return
            finally:
                conn.close()
            time.sleep(0.05)
        raise AssertionError("the scan never held the write lock at its pause point")
    name = w.db.rsplit("/", 1)[1]
    while time.monotonic() < deadline:
        rows = _sql(w, "SELECT query FROM pg_stat_activity WHERE datname = :d AND state = 'idle in transaction'",
                    d=name)
        if any("FROM cases" in q and "cases.txid" in q for (q,) in rows):
            return
        time.sleep(0.05)
    raise AssertionError("the scan never reached its pause point inside open_case")


def test_two_scans_at_once_both_succeed_keep_the_higher_block_and_open_once(world_pg):
    w = world_pg
    txid, block = _stranded_deposit(w)
    low = w.a.w3.eth.block_number
    w.a.mine(3)
    high = w.a.w3.eth.block_number
    assert high > low
    # Both read "no scan state yet" before either writes it; the higher one writes first, the lower one
    # last: the state must end at the higher block, and neither run may fail.
    slow = _recover(w, "scan", "--network", "anvil", "--from-block", str(block), "--to-block", str(low),
                    pause="scan_state_saving:4000")
    fast = _recover(w, "scan", "--network", "anvil", "--from-block", str(block), "--to-block", str(high),
                    pause="scan_state_saving:1500")
    results = [_finish(p) for p in (slow, fast)]
    for code, out, err in results:
        assert code == 0, (code, out, err)
    docs = [json.loads(out) for _, out, _ in results]
    assert [d["to_block"] for d in docs] == [low, high]
    assert sum(len(d["opened"]) for d in docs) == 1 and sum(d["already_cases"] for d in docs) == 1, docs
    assert _sql(w, "SELECT last_block FROM scan_state WHERE network = 'anvil'") == [(high,)]
    assert _sql(w, "SELECT count(*) FROM cases WHERE txid = :t", t=txid) == [(1,)]
    # the next scan resumes after the higher block
    w.a.mine(1)
    resumed = cli(w, "scan", "--network", "anvil")
    assert resumed["from_block"] == high + 1 and resumed["opened"] == []


def test_a_scan_and_an_appeal_of_one_deposit_at_once_open_one_case(race_world):
    w = race_world
    txid, block = _stranded_deposit(w)
    # the scan opens its case (deposit address + token) and is held after its overlap check, before
    # its case is stored; the appeal (no address, no asset: every transfer of the transaction) comes now
    scan = _recover(w, "scan", "--network", "anvil", "--from-block", str(block), pause="case_claims_checked:5000")
    _wait_paused_in_open(w)
    appeal = run("case", "open", "--network", "anvil", "--tx", txid, "--return-address", w.ret, "--json", db=w.db)
    code, out, err = _finish(scan)
    assert code == 0, (code, out, err)
    found = json.loads(out)
    assert found["found"] == 1 and len(found["opened"]) == 1, found
    assert appeal.code == 5 and appeal.error["code"] == "duplicate", (appeal.code, appeal.out, appeal.err)
    assert f"case {found['opened'][0]}" in appeal.error["message"]
    cases = _sql(w, "SELECT id, claim_scope FROM cases WHERE txid = :t", t=txid)
    assert [c[0] for c in cases] == found["opened"], cases
    # the appeal stored nothing: no case, statement or audit event of its claim
    assert _sql(w, "SELECT count(*) FROM cases WHERE return_address IS NOT NULL") == [(0,)]
    assert w.ret.lower() not in json.dumps(snapshot(w.db)).lower()
