"""``recover worker``: drive cases forward without anyone typing.

It leases due jobs (:mod:`recover.storage.jobs`) and runs them with the operator key it was started with:
verify an open case, broadcast a signed one, track a broadcast one.  What a job ends in:

- done: the case moved on (its next job was enqueued with the move), or a verification was refused
  for good (the refusal is on the case), or the case is no longer in the state the job was for;
- later: nothing is wrong but it cannot finish yet (exit 9 "waiting": a prerequisite is not
  confirmed; a gas top-up whose station nonce comes after another plan's; a deposit without enough
  confirmations; a broadcast case not yet confirmed), or the node did not answer (exit 8), with
  backoff per job;
- later too: a broadcast or track that was refused (exit 3-7: a token frozen after signing, a case
  moved by someone else meanwhile, a send the node rejected) while the case is still ``signed`` or
  ``broadcast``, with backoff: only a job moves such a case, so its job is never done before it moves.

Every loop also gives a job back to any ``signed`` or ``broadcast`` case that has none
(:func:`recover.storage.jobs.requeue_stranded`: one query when there is nothing to do).

With ``--scan N`` (repeatable) the worker also follows network N between jobs, as ``recover scan
--follow`` does (:mod:`recover.services.scan_follow`), in rounds of at most
:data:`SCAN_BLOCKS_PER_ROUND` blocks; the cases a round opens get their verify jobs like any other.

SIGTERM (or Ctrl-C) finishes the current job (or chunk of blocks) and stops.  On PostgreSQL any
number of workers on any number of machines share the queue; on SQLite one worker runs, and a second
one is refused.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sqlalchemy.engine import make_url

from recover import api
from recover.authority.acting import load_operator_key
from recover.casework.runner import run
from recover.errors import EXIT_NODE, EXIT_UNEXPECTED, EXIT_WAITING, IllegalTransition, ToolkitError
from recover.life.operations import OPERATIONS
from recover.networks.registry import get_network
from recover.services.metrics import count_job, serve_metrics
from recover.services.scan_follow import Follower
from recover.services.stopping import on_signals, restore
from recover.storage.db import get_engine, resolve_db_url, session_scope
from recover.storage.jobs import Lease, backoff, claim, finish, requeue_stranded
from recover.storage.models import Case
from recover.text import plural


SCAN_BLOCKS_PER_ROUND = 2_000  # blocks a worker scans between two looks at the job queue


@dataclass
class JobResult:
    """What one job did, in words people read ("verified", "sent 2 transactions", "completed", "still
    1 of 2 confirmations"): a job whose case had moved on did nothing, and says so."""

    case_id: int
    job: str
    did: str
    again_in: float | None = None  # seconds until the job runs again; None: it is done
    error: str | None = None
    node_error: bool = False  # the node did not answer (exit 8): counted in ``recover_node_errors_total``
    network: str | None = None

    def to_dict(self) -> dict:
        return {"case": self.case_id, "job": self.job, "did": self.did, "again_in": self.again_in,
                "error": self.error}


@dataclass
class WorkerReport:
    worker: str
    jobs: int = 0
    done: int = 0
    later: int = 0
    by_kind: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    requeued: list = field(default_factory=list)  # stranded cases given a job again
    scanned: list = field(default_factory=list)  # rounds of the networks it follows that read blocks
    results: list[JobResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"worker": self.worker, "jobs": self.jobs, "done": self.done, "later": self.later,
                "by_kind": self.by_kind, "errors": self.errors[-20:], "requeued": self.requeued[-100:],
                "scanned": self.scanned[-100:],
                "results": [r.to_dict() for r in self.results[-100:]]}


def _sqlite_lock(url: str):
    """One worker per SQLite database: an exclusive lock on a file next to it (released when the
    process ends, however it ends)."""
    path = make_url(url).database
    if not path or path == ":memory:":
        return None
    fh = open(Path(path).with_name(Path(path).name + ".worker.lock"), "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise IllegalTransition(f"another worker is running on the SQLite database {path}: SQLite runs one "
                                "worker (use PostgreSQL for many)", code="worker_running") from None
    return fh


def run_worker(*, db: str | None = None, key=None, once: bool = False, lease_seconds: int = 300,
               poll_seconds: float = 2.0, stop: threading.Event | None = None, say=None,
               on_job=None, metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
               scan: Sequence[str] = ()) -> WorkerReport:
    """``on_job(JobResult)`` is told what each job did as it ends (the CLI prints it); ``say(text)``
    other news (cases given a job again, scan rounds).  ``metrics_port``: serve Prometheus metrics at
    ``http://metrics_host:metrics_port/metrics`` while the worker runs (:mod:`recover.services.metrics`:
    the database's figures and this worker's node errors, jobs and scan lag); loopback unless told
    otherwise.  ``scan``: networks this worker also follows between jobs
    (:class:`recover.services.scan_follow.Follower`)."""
    url = resolve_db_url(db)
    signing_key = load_operator_key(key)  # opened once: every job signs with it
    # the key must be able to do every job; verifying needs the most (a specialist's role)
    run("verify", db=url, key=signing_key, body=lambda ctx: ctx.actor)
    if scan:
        run("open", db=url, key=signing_key, body=lambda ctx: ctx.actor)  # scans open cases
    followers = [Follower(get_network(n), url, signing_key, poll_seconds, max_blocks=SCAN_BLOCKS_PER_ROUND)
                 for n in dict.fromkeys(scan)]
    lock = _sqlite_lock(url) if get_engine(url).dialect.name == "sqlite" else None
    stop = stop or threading.Event()
    report = WorkerReport(f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    previous = on_signals(stop)
    metrics = None
    try:
        if metrics_port is not None:
            metrics = serve_metrics(metrics_port, metrics_host, url)
            if say:
                say(f"metrics at http://{metrics_host}:{metrics.server_port}/metrics")
        while not stop.is_set():
            requeued = requeue_stranded(lambda: session_scope(url), worker=report.worker)
            report.requeued += requeued
            if say and requeued:
                say(f"cases {', '.join(map(str, requeued))}: no pending job, given one again")
            scanned = [_scan_round(f, stop, say, report) for f in followers if f.due()]
            lease = claim(lambda: session_scope(url), report.worker, lease_seconds)
            if lease is None:
                if once and not any(scanned):
                    break
                if not any(scanned):  # a round that scanned blocks may have more: go on at once
                    stop.wait(poll_seconds)
                continue
            result = _run(url, signing_key, lease, poll_seconds)
            later, error = result.again_in, result.error
            finish(lambda: session_scope(url), lease, report.worker, later_seconds=later, error=error)
            report.jobs += 1
            report.by_kind[lease.kind] = report.by_kind.get(lease.kind, 0) + 1
            if later is None:
                report.done += 1
            else:
                report.later += 1
            if error:
                report.errors.append({"case": lease.case_id, "job": lease.kind, "error": error})
            report.results.append(result)
            count_job(lease.kind, done=later is None, network=result.network, node_error=result.node_error)
            if on_job:
                on_job(result)
    finally:
        restore(previous)
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        if lock is not None:
            lock.close()
    return report


def _scan_round(follower: Follower, stop: threading.Event, say, report: WorkerReport) -> bool:
    """One round of a network the worker follows; True when it read blocks (there may be more)."""
    done = follower.round(stop)
    if done.error:
        report.errors.append({"scan": done.network, "error": done.error})
    elif done.report is not None:
        report.scanned.append(done.to_dict())
    if say and (done.error or done.report is not None):
        r = done.report
        say(f"scan {done.network}: {done.error}; trying again" if done.error else
            f"scan {done.network} blocks {r.from_block}..{r.to_block}: {plural(len(r.opened), 'case')} opened, "
            f"{r.existing} already, {len(r.errors)} refused; {done.lag} behind the newest block")
    return done.report is not None


def _run(url: str, signing_key, lease: Lease, poll: float) -> JobResult:
    """Run one job: what it did, with ``again_in`` None when it is done, else the seconds until it is
    due again.  The job's kind is an operation of the table; :class:`_Jobs` has the step of each."""
    op = OPERATIONS[lease.kind]
    status, network = _case_now(url, lease)
    if status not in _job_statuses(lease):  # the case moved on (or back) meanwhile: nothing left to do
        now = f"the case is {status.replace('_', ' ')} now" if status else "the case is gone"
        return JobResult(lease.case_id, lease.kind, f"nothing to {lease.kind}: {now}", network=network)
    try:
        did, later, error, *node = getattr(_Jobs, op.name)(url, signing_key, lease, poll)
    except ToolkitError as exc:
        result = _classify(exc, lease, poll, _still(url, lease))
    else:
        result = JobResult(lease.case_id, lease.kind, did, later, error, node_error=bool(node and node[0]))
    result.network = network
    return result


def _own_words(exc: ToolkitError, lease: Lease) -> str:
    """The error's message without the "case N: " it starts with (the result names the case)."""
    text = str(exc)
    prefix = f"case {lease.case_id}: "
    return text[len(prefix):] if text.startswith(prefix) else text


class _Jobs:
    """The worker's step of each job: the operation of that name, through the public API (and so the
    runner), and what its outcome means for the job."""

    @staticmethod
    def verify(url, signing_key, lease: Lease, poll: float):
        result = api.verify_cases([lease.case_id], db=url, key=signing_key).results[0]
        why = f"{result.code}: {result.message}"
        if result.outcome == "retry" or result.exit_code == EXIT_NODE:  # stays open: try again, backing off
            return (f"not verified yet ({result.message})", backoff(lease.attempts, base=poll), why,
                    result.exit_code == EXIT_NODE)
        if result.outcome == "verified":
            return "verified" + (f" ({result.classification})" if result.classification else ""), None, None
        return f"verification refused ({why})", None, why

    @staticmethod
    def broadcast(url, signing_key, lease: Lease, poll: float):
        report = api.broadcast_case(lease.case_id, db=url, key=signing_key)
        new = len(report.sent) - len(report.resent)
        again = f" ({plural(len(report.resent), 'transaction')} sent before, sent again)" if report.resent else ""
        return f"broadcast {plural(new, 'transaction')}{again}", None, None

    @staticmethod
    def track(url, signing_key, lease: Lease, poll: float):
        report = api.track_case(lease.case_id, db=url, key=signing_key)
        if report.status not in _job_statuses(lease):
            return _track_end(report), None, None
        waiting = [t for t in report.txs if t["status"] != "confirmed"]
        least = min((t["confirmations"] or 0 for t in waiting), default=0)
        return f"still {least} of {report.confirmations_needed} confirmations", poll, None


def _track_end(report) -> str:
    """Where a tracked case ended: completed, failed, or sent back to be planned again."""
    if report.status == "completed":
        return "completed"
    failed = "; ".join(f"{t['role']} {t['txid']}: {t['error']}" for t in report.txs if t["status"] == "failed")
    if report.status == "failed":
        return f"failed ({failed})"
    return f"now {report.status.replace('_', ' ')}" + (f" ({failed})" if failed else "")


def _job_statuses(lease: Lease) -> set[str]:
    return {st.value for st in OPERATIONS[lease.kind].job_in}


def _case_now(url: str, lease: Lease) -> tuple[str | None, str | None]:
    """The case's status and network now (None, None: no such case)."""
    with session_scope(url) as s:
        case = s.get(Case, lease.case_id)
        return (case.status, case.network) if case is not None else (None, None)


def _still(url: str, lease: Lease) -> bool:
    """Whether the case is still in the state the job is for (read after the job's own transaction)."""
    return _case_now(url, lease)[0] in _job_statuses(lease)


def _classify(exc: ToolkitError, lease: Lease, poll: float, still: bool = False) -> JobResult:
    """The one place the worker maps an error (the toolkit's root) to what becomes of its job, and
    says it: waiting is not an error."""
    text = f"{exc.code}: {exc}"
    words = _own_words(exc, lease)
    if exc.exit_code == EXIT_WAITING:  # nothing is wrong: a prerequisite is not confirmed yet
        return JobResult(lease.case_id, lease.kind, f"waiting: {words}", poll, text)
    refused = JobResult(lease.case_id, lease.kind, f"{lease.kind} not done ({exc.code}): {words}", None, text,
                        node_error=exc.exit_code == EXIT_NODE)
    if exc.exit_code in (EXIT_UNEXPECTED, EXIT_NODE):  # may pass: back off
        refused.again_in = backoff(lease.attempts, base=poll)
    elif still and OPERATIONS[lease.kind].job_holds:
        # refused (3-7) while still signed or broadcast: nothing else moves the case, so its job stays
        # (a frozen token thawed, a concurrent update settled, a send refused and then re-planned)
        refused.again_in = backoff(lease.attempts, base=poll)
    return refused  # again_in None: done: the case moved on, or a verification was refused (the case says why)
