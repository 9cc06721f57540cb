"""Issue 13, item 2: background workers on the real PostgreSQL and anvil.

Cases are set up in-process (the CLI itself is not what is tested there); the workers are real
`recover worker` processes.  Each effect must happen exactly once: counted in the audit log and on
chain (a deposit address's nonce is the number of transactions it ever sent).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import sqlalchemy as sa

from clihelp import RECOVER, run
from evmflow import _world, derive, key, register, world, world_pg  # noqa: F401

ETH = 10**18



def _workers(w, n: int, *extra: str, env: dict | None = None) -> list[subprocess.Popen]:
    import team

    full = {**os.environ, **team.env(), "RECOVER_DB_URL": w.db, **(env or {})}
    return [subprocess.Popen([RECOVER, "worker", "--poll", "0.2", "--json", *extra], env=full,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]


def _wait_all(procs, timeout=600) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


def _native_cases(w, n: int, first: int = 100) -> list[tuple[int, str]]:
    """``n`` native deposits (0.5 ETH each) to retired deposit addresses, opened in-process."""
    from recover import api

    deposits = [derive(i) for i in range(first, first + n)]
    register(w, [("anvil", d, f"m/44'/60'/0'/0/{first + i}", "retired") for i, d in enumerate(deposits)])
    sender = w.a.accounts[1]
    w.a.set_balance(sender, (n + 10) * ETH)
    out = []
    spec, pete = _keys("spec", "pete")
    for d in deposits:
        tx = w.a.w3.eth.send_transaction({"from": sender, "to": d, "value": ETH // 2})
        out.append((api.open_case("anvil", tx.to_0x_hex(), return_address=w.ret, db=w.db, key=spec).id, d))
    api.set_price("ETH", "3000", db=w.db, key=pete)
    return out


def _count(w, action: str) -> dict[int, int]:
    from recover.storage.db import get_engine

    with get_engine(w.db).connect() as conn:
        rows = conn.execute(sa.text("SELECT case_id, count(*) FROM audit_events WHERE action = :a GROUP BY case_id"),
                            {"a": action}).all()
    return {cid: n for cid, n in rows}


def _keys(*names):
    """The team's signing keys, opened once (each key file costs an Argon2id derivation)."""
    from recover.authority.keyfile import load_signing_key
    from team import team

    return [load_signing_key(team().keys[n]) for n in names]


def _approve_and_sign(w, cases) -> int:
    """Quote, prepare, approve (bob, carol) and sign every case in-process; the number of transactions."""
    from recover import api

    spec, bob, carol, wes = _keys("spec", "bob", "carol", "wes")
    total = 0
    for cid, _ in cases:
        api.quote_case(cid, db=w.db, key=spec)
        api.prepare_case(cid, db=w.db, key=spec)
        api.decide(cid, "approve", db=w.db, key=bob)
        api.decide(cid, "approve", db=w.db, key=carol)
        total += len(api.sign_case(cid, db=w.db, key=wes))
    return total


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_drive_200_cases_each_effect_once(world_pg, workers):
    w = world_pg
    cases = _native_cases(w, 200)
    results = _wait_all(_workers(w, workers, "--once"))
    assert all(code == 0 for code, _, _ in results), results
    import json

    reports = [json.loads(out) for _, out, _ in results]
    assert sum(r["by_kind"].get("verify", 0) for r in reports) == 200  # each verify job ran once
    assert sum(1 for r in reports if r["jobs"]) >= 2  # the work was shared
    verified = _count(w, "verified")
    assert verified == {cid: 1 for cid, _ in cases}
    txs = _approve_and_sign(w, cases)
    results = _wait_all(_workers(w, workers, "--once"))
    assert all(code == 0 for code, _, _ in results), results
    from recover import api

    assert {api.show_case(cid, db=w.db)["status"] for cid, _ in cases} == {"completed"}
    sent = _count(w, "tx_sent")
    assert sum(sent.values()) == txs and set(sent) == {cid for cid, _ in cases}
    assert _count(w, "completed") == {cid: 1 for cid, _ in cases}
    # on chain: every deposit is empty, and sent exactly its own transactions, once
    for cid, deposit in cases:
        steps = len(api.show_case(cid, db=w.db)["transactions"])
        assert w.a.w3.eth.get_transaction_count(deposit) == steps
        assert w.a.w3.eth.get_balance(deposit) == 0


def test_a_worker_killed_mid_job_leaves_it_to_another(world_pg):
    w = world_pg
    cases = _native_cases(w, 3, first=300)
    assert all(code == 0 for code, _, _ in _wait_all(_workers(w, 1, "--once")))
    txs = _approve_and_sign(w, cases)
    # this worker dies (SIGKILL-like: os._exit) right after sending the first transaction of a job,
    # before recording it; its lease (2 s) runs out and another worker takes the job
    dying = _wait_all(_workers(w, 1, "--once", "--lease", "2", env={"RECOVER_FAULT": "sent:0"}))
    assert dying[0][0] == 137
    time.sleep(2.5)
    results = _wait_all(_workers(w, 1, "--once"))
    assert results[0][0] == 0, results
    from recover import api

    assert {api.show_case(cid, db=w.db)["status"] for cid, _ in cases} == {"completed"}
    assert sum(_count(w, "tx_sent").values()) == txs  # the re-sent bytes were recorded once
    for cid, deposit in cases:
        assert w.a.w3.eth.get_transaction_count(deposit) == len(api.show_case(cid, db=w.db)["transactions"])


def test_one_worker_on_sqlite_and_sigterm_finishes_then_stops(world):
    w = world
    cases = _native_cases(w, 2, first=400)
    first = _workers(w, 1)[0]  # runs until stopped
    deadline = time.monotonic() + 60
    from recover import api

    while {api.show_case(cid, db=w.db)["status"] for cid, _ in cases} != {"verified"}:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.3)
    second = run("worker", "--once", "--json", db=w.db)
    assert second.code == 5 and second.error["code"] == "worker_running", second.err
    first.send_signal(signal.SIGTERM)
    code, out, err = _wait_all([first], timeout=30)[0]
    assert code == 0, err
    import json

    assert json.loads(out)["by_kind"] == {"verify": 2}
    # a worker needs a specialist's key (it verifies)
    r = run("worker", "--once", "--json", "--key", key("bob"), db=w.db)
    assert r.code == 7 and r.error["code"] == "role_missing"
