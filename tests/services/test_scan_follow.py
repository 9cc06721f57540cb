"""Issue 27: `recover scan --follow` and `recover worker --scan` on a real anvil, through the installed CLI.

A follower scans new blocks as they are confirmed, records each chunk once its cases are open, and
resumes after the last block recorded: killed between a chunk's cases and its record, it scans the
chunk again and opens nothing twice; restarted, it opens each later deposit once.  Its lag (the node's
newest block minus the last block scanned) is a Prometheus gauge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import sqlalchemy as sa
import team
from clihelp import RECOVER
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import _override_config, cli, derive, register, world_both, world_pg  # noqa: F401
from nodeproc import free_port
from prometheus_client.parser import text_string_to_metric_families


def _follow(w, env, *args, fault: str | None = None) -> subprocess.Popen:
    full = {**os.environ, **team.env(), **env, "RECOVER_DB_URL": w.db}
    full.pop("RECOVER_FAULT", None)
    if fault:
        full["RECOVER_FAULT"] = fault
    return subprocess.Popen([RECOVER, "scan", "--network", "anvil", "--follow", "--poll", "0.2", "--json", *args,
                             "--key", team.team().key("spec")], env=full, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=str(w.tmp))


def _sql(w, text: str):
    from recover.storage.db import get_engine

    with get_engine(w.db).connect() as conn:
        return conn.execute(sa.text(text)).all()


def _cases(w) -> dict[str, int]:
    """txid -> how many cases claim it."""
    return {tx: n for tx, n in _sql(w, "SELECT txid, count(*) FROM cases GROUP BY txid")}


def _until(what, proc: subprocess.Popen, timeout: float = 60):
    end = time.time() + timeout
    while time.time() < end:
        if what():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the follower exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.1)
    raise AssertionError("timed out")


def _stop(proc: subprocess.Popen) -> tuple[int, list[dict]]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, [json.loads(line) for line in out.splitlines() if line.strip()]


def _one_address_and_a_token(w):
    """Our active deposit address (registered) and an unlisted token the user holds: every transfer of
    it to the address is a stranded deposit."""
    active = derive(20)
    register(w, [("anvil", active, "m/44'/60'/0'/0/20", "active")])
    unlisted = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, unlisted, w.user, 10**12)
    return active, unlisted


def test_follow_opens_each_case_once_across_a_kill_and_a_restart(world_both):
    w = world_both
    env = _override_config(w)
    active, retired = derive(20), derive(21)
    register(w, [("anvil", active, "m/44'/60'/0'/0/20", "active"), ("anvil", retired, "m/44'/60'/0'/0/21", "retired")])
    unlisted = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, unlisted, w.user, 10**12)
    start = w.a.w3.eth.block_number + 1
    first = {token_transfer(w.a.w3, unlisted, w.user, active, 10**6)["transactionHash"].to_0x_hex(),
             w.a.w3.eth.send_transaction({"from": w.user, "to": retired, "value": 10**16}).to_0x_hex()}
    token_transfer(w.a.w3, unlisted, w.user, derive(40), 10**6)  # not ours
    # killed after opening the chunk's cases, before recording the chunk as scanned
    killed = _follow(w, env, "--from-block", str(start), fault="scan_chunk_opened")
    assert killed.wait(timeout=60) == 137, killed.stderr.read()
    assert _cases(w) == {t: 1 for t in first}
    assert _sql(w, "SELECT last_block FROM scan_state") == []
    # restarted the same way: the chunk again (nothing twice), then blocks as they come
    proc = _follow(w, env, "--from-block", str(start))
    _until(lambda: _sql(w, "SELECT last_block FROM scan_state"), proc)
    second = token_transfer(w.a.w3, unlisted, w.user, active, 2 * 10**6)["transactionHash"].to_0x_hex()
    _until(lambda: second in _cases(w), proc)
    code, lines = _stop(proc)
    assert code == 0, lines
    rounds, summary = lines[:-1], lines[-1]["stopped"]
    assert rounds[0]["from_block"] == start and rounds[0]["already_cases"] == 2 and rounds[0]["opened"] == []
    assert summary["already_cases"] == 2 and len(summary["opened"]) == 1
    assert all(r["lag"] == 0 for r in rounds)  # confirmations = 1: the newest block is scanned
    last = _sql(w, "SELECT last_block FROM scan_state")[0][0]
    assert last == summary["last_block"] and last >= w.a.w3.eth.get_transaction_receipt(second)["blockNumber"]
    # restarted without --from-block: after the last block recorded, and only what is new
    third = token_transfer(w.a.w3, unlisted, w.user, active, 3 * 10**6)["transactionHash"].to_0x_hex()
    proc = _follow(w, env)
    _until(lambda: third in _cases(w), proc)
    code, lines = _stop(proc)
    assert code == 0 and lines[0]["from_block"] == last + 1 and len(lines[0]["opened"]) == 1, lines
    assert _cases(w) == {t: 1 for t in first | {second, third}}
    assert {s for (s,) in _sql(w, "SELECT status FROM cases")} == {"open"}


def test_follow_reports_its_lag_as_a_metric(world_both):
    w = world_both
    env = _override_config(w, confirmations=3)
    register(w, [("anvil", derive(20), "m/44'/60'/0'/0/20", "active")])
    w.a.rpc("anvil_mine", [hex(5)])
    port = free_port()
    proc = _follow(w, env, "--from-block", str(w.a.w3.eth.block_number - 4), "--metrics-port", str(port))
    try:
        _until(lambda: _sql(w, "SELECT last_block FROM scan_state"), proc)
        w.a.rpc("anvil_mine", [hex(1)])
        head = w.a.w3.eth.block_number
        _until(lambda: _sql(w, "SELECT last_block FROM scan_state")[0][0] == head - 2, proc)

        def lag():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                for family in text_string_to_metric_families(r.read().decode()):
                    for sample in family.samples:
                        if sample.name == "recover_scan_lag_blocks" and sample.labels == {"network": "anvil"}:
                            return sample.value
        _until(lambda: lag() == 2, proc)  # three confirmations: the newest two blocks wait
    finally:
        code, lines = _stop(proc)
    assert code == 0 and lines[-1]["stopped"]["lag"] == 2, lines


def test_worker_follows_a_network_between_jobs_and_verifies_what_it_opens(world_both):
    w = world_both
    env = _override_config(w)
    active, unlisted = _one_address_and_a_token(w)
    # a worker cannot follow a network never scanned: it says where to start
    assert cli(w, "worker", "--once", "--scan", "anvil", env=env, expect=4)["code"] == "no_scan_state"
    cli(w, "scan", "--network", "anvil", "--from-block", str(w.a.w3.eth.block_number), env=env)
    tx = token_transfer(w.a.w3, unlisted, w.user, active, 10**6)["transactionHash"].to_0x_hex()
    report = cli(w, "worker", "--once", "--scan", "anvil", env=env)
    assert [len(r["opened"]) for r in report["scanned"]] == [1], report
    case = cli(w, "case", "show", str(report["scanned"][0]["opened"][0]), env=env)
    assert case["txid"] == tx and case["status"] == "verified"
    again = cli(w, "worker", "--once", "--scan", "anvil", env=env)
    assert again["scanned"] == [] and _cases(w) == {tx: 1}


def test_follow_refusals_change_nothing(world_both):
    w = world_both
    env = _override_config(w)
    register(w, [("anvil", derive(20), "m/44'/60'/0'/0/20", "active")])
    before = _sql(w, "SELECT count(*) FROM cases"), _sql(w, "SELECT count(*) FROM audit_events")
    assert cli(w, "scan", "--network", "anvil", "--follow", env=env, expect=4)["code"] == "no_scan_state"
    assert cli(w, "scan", "--network", "anvil", "--follow", "--from-block", "0", "--to-block", "3", env=env,
               expect=2)["code"] == "usage"
    assert cli(w, "scan", "--network", "anvil", "--metrics-port", "0", "--from-block", "0", env=env,
               expect=2)["code"] == "usage"
    assert cli(w, "scan", "--network", "bitcoin", "--follow", "--from-block", "0", env=env,
               expect=4)["code"] == "follow_unsupported"
    from clihelp import run

    bob = run("scan", "--network", "anvil", "--follow", "--from-block", "0", "--json", "--key", team.team().key("bob"),
              db=w.db, env=env)
    assert bob.code == 7 and bob.error["code"] == "role_missing"
    assert (_sql(w, "SELECT count(*) FROM cases"), _sql(w, "SELECT count(*) FROM audit_events")) == before
    assert _sql(w, "SELECT count(*) FROM scan_state") == [(0,)]


def test_follow_from_a_block_not_yet_made_waits_for_it(world_both):
    """``--from-block`` ahead of the chain on a network never scanned: the follower waits (it does not
    forget where to start after its first empty round) and scans from there once the block exists."""
    w = world_both
    env = _override_config(w)
    active, unlisted = _one_address_and_a_token(w)
    early = token_transfer(w.a.w3, unlisted, w.user, active, 10**6)["transactionHash"].to_0x_hex()  # before the start
    start = w.a.w3.eth.block_number + 3
    proc = _follow(w, env, "--from-block", str(start))
    try:
        time.sleep(1.5)  # several empty rounds (--poll 0.2)
        assert proc.poll() is None, proc.stderr.read()
        w.a.rpc("anvil_mine", [hex(2)])
        late = token_transfer(w.a.w3, unlisted, w.user, active, 2 * 10**6)
        assert late["blockNumber"] == start
        _until(lambda: late["transactionHash"].to_0x_hex() in _cases(w), proc)
    finally:
        code, lines = _stop(proc)
    assert code == 0 and lines[0]["from_block"] == start, lines
    assert early not in _cases(w)


def test_a_network_another_follower_holds_is_skipped_on_postgresql(world_pg):
    """One follower per network at a time: while another process holds the network's advisory lock, a
    worker's round is skipped (nothing read, nothing opened); once it is free, the round scans."""
    from recover.services.scan_follow import scan_lock_id
    from recover.storage.db import get_engine

    w = world_pg
    env = _override_config(w)
    active, unlisted = _one_address_and_a_token(w)
    cli(w, "scan", "--network", "anvil", "--from-block", str(w.a.w3.eth.block_number), env=env)
    tx = token_transfer(w.a.w3, unlisted, w.user, active, 10**6)["transactionHash"].to_0x_hex()
    with get_engine(w.db).connect() as other:
        assert other.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (scan_lock_id("anvil"),)).scalar()
        held = cli(w, "worker", "--once", "--scan", "anvil", env=env)
        assert held["scanned"] == [] and _cases(w) == {}
        other.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (scan_lock_id("anvil"),))
    free = cli(w, "worker", "--once", "--scan", "anvil", env=env)
    assert [len(r["opened"]) for r in free["scanned"]] == [1] and _cases(w) == {tx: 1}


def test_a_node_that_does_not_answer_is_retried_not_fatal(world_both):
    """A follower whose node does not answer (exit 8) reports the round's error, backs off and keeps
    running; stopped, it says how many node errors it met and has recorded nothing."""
    w = world_both
    env = _override_config(w)
    _one_address_and_a_token(w)
    dead = {**env, "ANVIL_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    proc = _follow(w, dead, "--from-block", "1")
    try:
        lines: list[dict] = []
        end = time.time() + 120
        while not lines and time.time() < end:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(json.loads(line))
        assert lines and lines[0]["error"].startswith("node_unreachable"), (lines, proc.stderr.read())
        assert proc.poll() is None  # still running: the round is tried again after a backoff
    finally:
        code, rest = _stop(proc)
    assert code == 0 and rest[-1]["stopped"]["node_errors"] >= 1, rest
    assert _sql(w, "SELECT count(*) FROM scan_state") == [(0,)] and _cases(w) == {}
