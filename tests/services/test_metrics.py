"""Issue 27: Prometheus metrics of ``recover serve`` (``/metrics``) and ``recover worker --metrics-port``.

Real parts only: a migrated SQLite or PostgreSQL database holding cases in several statuses and jobs
in several states, a real ``recover serve`` / ``recover worker`` process, scraped over HTTP and parsed
with prometheus_client's own parser.  The worker meets a real unreachable node (a closed port).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clihelp import RECOVER

RETURN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil's account 1: not one of ours


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outside_address() -> str:
    """An address of this host that is not loopback (a client connecting from it is not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.250", 9))  # no packet is sent: the route picks the interface
        address = s.getsockname()[0]
    assert not address.startswith("127."), "this host has no address other than loopback"
    return address


def _seed(url: str) -> None:
    """Cases in several statuses on two networks, and jobs in every state."""
    from recover.storage.db import session_scope
    from recover.storage.models import Case, Job, ScanState

    now = datetime.now(timezone.utc)
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    rows = [("anvil", "awaiting_approval", 600), ("anvil", "awaiting_approval", 120), ("anvil", "signed", 3600),
            ("anvil", "completed", 50), ("anvil", "open", 30), ("anvil", "open", 20),
            ("anvil-b", "awaiting_approval", 900), ("anvil-b", "rejected", 10)]
    with session_scope(url) as s:
        ids = []
        for i, (network, status, age) in enumerate(rows):
            case = Case(network=network, chain=f"eip155:{network}", txid=f"0x{i:064x}", claim_scope="*", status=status,
                        opened_by="spec", created_at=ago(age + 5), updated_at=ago(age))
            s.add(case)
            s.flush()
            ids.append(case.id)
        signed, open1, open2 = ids[2], ids[4], ids[5]
        s.add(Job(case_id=signed, kind="broadcast", due_at=ago(100)))  # waiting, due 100 s
        s.add(Job(case_id=open1, kind="verify", due_at=ago(40), leased_by="w1", lease_until=now + timedelta(minutes=5),
                  attempts=1))  # running
        s.add(Job(case_id=open2, kind="verify", due_at=now + timedelta(minutes=2), attempts=2,
                  last_error="node_unreachable: no answer"))  # scheduled, erroring
        s.add(Job(case_id=open2, kind="verify", due_at=ago(300), done_at=ago(250),
                  last_error="not_ours: refused"))  # failed
        s.add(Job(case_id=ids[3], kind="track", due_at=ago(400), done_at=ago(60)))  # done: not counted
        s.add(Job(case_id=ids[3], kind="track", due_at=now + timedelta(minutes=1),
                  last_error="requeued by w2: the broadcast case had no pending job"))  # scheduled, not an error
        s.add(ScanState(network="anvil", last_block=1234, updated_at=ago(70)))


def _scrape(url: str) -> dict:
    """name -> {labels tuple: value} of every sample."""
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.stderr.read()}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def _start(*args: str, db: str, env: dict | None = None) -> subprocess.Popen:
    import team

    full = {**os.environ, **team.env(), "RECOVER_DB_URL": db, **(env or {})}
    return subprocess.Popen([RECOVER, *args], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def L(**labels) -> tuple:  # noqa: N802 - a sample's labels as _scrape keys them
    return tuple(sorted(labels.items()))


def _assert_database_figures(m: dict) -> None:
    assert m["recover_database_up"] == {(): 1.0}
    assert m["recover_cases"] == {
        L(status="awaiting_approval", network="anvil"): 2, L(status="signed", network="anvil"): 1,
        L(status="completed", network="anvil"): 1, L(status="open", network="anvil"): 2,
        L(status="awaiting_approval", network="anvil-b"): 1, L(status="rejected", network="anvil-b"): 1}
    ages = m["recover_case_status_oldest_age_seconds"]
    assert set(ages) == {L(status="awaiting_approval", network="anvil"), L(status="signed", network="anvil"),
                         L(status="open", network="anvil"), L(status="awaiting_approval", network="anvil-b")}
    assert 600 <= ages[L(status="awaiting_approval", network="anvil")] < 700
    assert 3600 <= ages[L(status="signed", network="anvil")] < 3700
    assert 900 <= m["recover_approval_queue_oldest_age_seconds"][()] < 1000  # anvil-b's, the oldest
    assert m["recover_jobs"] == {
        L(kind="broadcast", state="waiting"): 1, L(kind="broadcast", state="running"): 0,
        L(kind="broadcast", state="scheduled"): 0, L(kind="broadcast", state="failed"): 0,
        L(kind="verify", state="waiting"): 0, L(kind="verify", state="running"): 1,
        L(kind="verify", state="scheduled"): 1, L(kind="verify", state="failed"): 1,
        L(kind="track", state="waiting"): 0, L(kind="track", state="running"): 0,
        L(kind="track", state="scheduled"): 1, L(kind="track", state="failed"): 0}
    assert m["recover_jobs_erroring"] == {L(kind="broadcast"): 0, L(kind="verify"): 1, L(kind="track"): 0}
    assert set(m["recover_jobs_oldest_waiting_age_seconds"]) == {L(kind="broadcast")}
    assert 100 <= m["recover_jobs_oldest_waiting_age_seconds"][L(kind="broadcast")] < 200
    assert m["recover_scan_last_block"] == {L(network="anvil"): 1234}
    assert abs(time.time() - 70 - m["recover_scan_last_run_timestamp_seconds"][L(network="anvil")]) < 60


def test_serve_metrics_report_the_database(db_url):
    _seed(db_url)
    port = _free_port()
    proc = _start("serve", "--port", str(port), db=db_url)
    try:
        _wait_http(f"http://127.0.0.1:{port}/metrics", proc)
        m = _scrape(f"http://127.0.0.1:{port}/metrics")
        _assert_database_figures(m)
        assert "recover_node_errors_total" not in m  # a worker's own counter: not the web's
        # read at scrape time: a case that moves shows at the next scrape
        from recover.storage.db import session_scope
        from recover.storage.models import Case
        from sqlmodel import select

        with session_scope(db_url) as s:
            case = s.exec(select(Case).where(Case.status == "signed")).one()
            case.status = "broadcast"
            s.add(case)
        m = _scrape(f"http://127.0.0.1:{port}/metrics")
        assert m["recover_cases"][L(status="broadcast", network="anvil")] == 1
        assert L(status="signed", network="anvil") not in m["recover_cases"]
    finally:
        _stop(proc)


@pytest.mark.parametrize("public", [False, True])
def test_serve_on_a_public_address_keeps_metrics_to_loopback_unless_told(sqlite_db_url, public):
    _seed(sqlite_db_url)
    port, outside = _free_port(), _outside_address()
    proc = _start("serve", "--host", "0.0.0.0", "--port", str(port), *(["--metrics-public"] if public else []),
                  db=sqlite_db_url)
    try:
        _wait_http(f"http://127.0.0.1:{port}/signin", proc)
        assert _scrape(f"http://127.0.0.1:{port}/metrics")["recover_cases"]  # loopback: always
        with urllib.request.urlopen(f"http://{outside}:{port}/signin", timeout=10) as r:
            assert r.status == 200  # the pages answer the outside address
        if public:
            _assert_database_figures(_scrape(f"http://{outside}:{port}/metrics"))
        else:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://{outside}:{port}/metrics", timeout=10)
            assert refused.value.code == 404
            assert b"recover_" not in refused.value.read()
    finally:
        _stop(proc)


def test_worker_metrics_count_node_errors(db_url):
    """A worker with ``--metrics-port`` serves the database's figures and its own node errors: a case
    opened on anvil whose node does not answer (a closed port) fails to verify with exit 8."""
    from recover import api
    from recover.authority.keyfile import load_signing_key
    from team import team

    _seed(db_url)
    dead = f"http://127.0.0.1:{_free_port()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANVIL_URL", dead)
        opened = api.open_case("anvil", "0x" + "ab" * 32, return_address=RETURN, db=db_url,
                               key=load_signing_key(team().keys["spec"])).id
    port = _free_port()
    proc = _start("worker", "--poll", "0.2", "--metrics-port", str(port), "--json", db=db_url,
                  env={"ANVIL_URL": dead})
    try:
        _wait_http(f"http://127.0.0.1:{port}/metrics", proc)
        end = time.time() + 120
        while True:
            m = _scrape(f"http://127.0.0.1:{port}/metrics")
            if m.get("recover_node_errors_total", {}).get(L(network="anvil", job="verify"), 0) >= 1:
                break
            assert time.time() < end, m.get("recover_node_errors_total")
            time.sleep(0.3)
        assert m["recover_worker_jobs_total"][L(kind="verify", outcome="later")] >= 1
        assert m["recover_database_up"] == {(): 1.0}
        assert m["recover_cases"][L(status="open", network="anvil")] == 3  # the two seeded and the one opened
        assert m["recover_cases"][L(status="awaiting_approval", network="anvil-b")] == 1
        # the opened case's verify job backs off after the node error: pending, its last attempt an error
        from recover.storage.db import session_scope
        from recover.storage.models import Job
        from sqlmodel import select

        with session_scope(db_url) as s:
            job = s.exec(select(Job).where(Job.case_id == opened, Job.kind == "verify")).one()
            assert job.done_at is None and "node" in (job.last_error or "")
    finally:
        _stop(proc)
    # the metrics server stops with the worker
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
