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

SIGTERM (or Ctrl-C) finishes the current job and stops.  On PostgreSQL any number of workers on any
number of machines share the queue; on SQLite one worker runs, and a second one is refused.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from recover import api
from recover.authority.acting import load_operator_key
from recover.casework.runner import run
from recover.errors import EXIT_NODE, EXIT_UNEXPECTED, EXIT_WAITING, IllegalTransition, ToolkitError
from recover.life.operations import OPERATIONS
from recover.storage.db import get_engine, resolve_db_url, session_scope
from recover.storage.jobs import Lease, backoff, claim, finish, requeue_stranded
from recover.storage.models import Case


@dataclass
class WorkerReport:
    worker: str
    jobs: int = 0
    done: int = 0
    later: int = 0
    by_kind: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    requeued: list = field(default_factory=list)  # stranded cases given a job again

    def to_dict(self) -> dict:
        return {"worker": self.worker, "jobs": self.jobs, "done": self.done, "later": self.later,
                "by_kind": self.by_kind, "errors": self.errors[-20:], "requeued": self.requeued[-100:]}


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
               poll_seconds: float = 2.0, stop: threading.Event | None = None, say=None) -> WorkerReport:
    url = resolve_db_url(db)
    signing_key = load_operator_key(key)  # opened once: every job signs with it
    # the key must be able to do every job; verifying needs the most (a specialist's role)
    run("verify", db=url, key=signing_key, body=lambda ctx: ctx.actor)
    lock = _sqlite_lock(url) if get_engine(url).dialect.name == "sqlite" else None
    stop = stop or threading.Event()
    report = WorkerReport(f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    previous = _on_signals(stop)
    try:
        while not stop.is_set():
            requeued = requeue_stranded(lambda: session_scope(url), worker=report.worker)
            report.requeued += requeued
            if say and requeued:
                say(f"cases {', '.join(map(str, requeued))}: no pending job, given one again")
            lease = claim(lambda: session_scope(url), report.worker, lease_seconds)
            if lease is None:
                if once:
                    break
                stop.wait(poll_seconds)
                continue
            later, error = _run(url, signing_key, lease, poll_seconds)
            finish(lambda: session_scope(url), lease, report.worker, later_seconds=later, error=error)
            report.jobs += 1
            report.by_kind[lease.kind] = report.by_kind.get(lease.kind, 0) + 1
            if later is None:
                report.done += 1
            else:
                report.later += 1
            if error:
                report.errors.append({"case": lease.case_id, "job": lease.kind, "error": error})
            if say:
                say(f"case {lease.case_id}: {lease.kind} " + ("done" if later is None else f"again in {later:.0f} s")
                    + (f" ({error})" if error else ""))
    finally:
        _restore(previous)
        if lock is not None:
            lock.close()
    return report


def _run(url: str, signing_key, lease: Lease, poll: float) -> tuple[float | None, str | None]:
    """Run one job: ``(None, error)`` when it is done, ``(seconds, error)`` when it is due again later.
    The job's kind is an operation of the table; :class:`_Jobs` has the step of each."""
    op = OPERATIONS[lease.kind]
    if not _still(url, lease):
        return None, None  # the case moved on (or back) meanwhile: this job has nothing left to do
    try:
        return getattr(_Jobs, op.name)(url, signing_key, lease, poll)
    except ToolkitError as exc:
        return _classify(exc, lease, poll, _still(url, lease))


class _Jobs:
    """The worker's step of each job: the operation of that name, through the public API (and so the
    runner), and what its outcome means for the job."""

    @staticmethod
    def verify(url, signing_key, lease: Lease, poll: float):
        result = api.verify_cases([lease.case_id], db=url, key=signing_key).results[0]
        if result.outcome == "retry" or result.exit_code == EXIT_NODE:  # stays open: try again, backing off
            return backoff(lease.attempts, base=poll), f"{result.code}: {result.message}"
        return None, None if result.outcome == "verified" else f"{result.code}: {result.message}"

    @staticmethod
    def broadcast(url, signing_key, lease: Lease, poll: float):
        api.broadcast_case(lease.case_id, db=url, key=signing_key)
        return None, None

    @staticmethod
    def track(url, signing_key, lease: Lease, poll: float):
        report = api.track_case(lease.case_id, db=url, key=signing_key)
        return (poll, None) if report.status in _job_statuses(lease) else (None, None)


def _job_statuses(lease: Lease) -> set[str]:
    return {st.value for st in OPERATIONS[lease.kind].job_in}


def _still(url: str, lease: Lease) -> bool:
    """Whether the case is still in the state the job is for (read after the job's own transaction)."""
    with session_scope(url) as s:
        case = s.get(Case, lease.case_id)
        return case is not None and case.status in _job_statuses(lease)


def _classify(exc: ToolkitError, lease: Lease, poll: float, still: bool = False) -> tuple[float | None, str | None]:
    """The one place the worker maps an error (the toolkit's root) to what becomes of its job."""
    text = f"{exc.code}: {exc}"
    if exc.exit_code == EXIT_WAITING:  # nothing is wrong: a prerequisite is not confirmed yet
        return poll, text
    if exc.exit_code in (EXIT_UNEXPECTED, EXIT_NODE):  # may pass: back off
        return backoff(lease.attempts, base=poll), text
    if still and OPERATIONS[lease.kind].job_holds:
        # refused (3-7) while still signed or broadcast: nothing else moves the case, so its job stays
        # (a frozen token thawed, a concurrent update settled, a send refused and then re-planned)
        return backoff(lease.attempts, base=poll), text
    return None, text  # done: the case moved on, or a verification was refused (the case says why)


def _on_signals(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return None
    handler = lambda signum, frame: stop.set()  # noqa: E731 - finish the current job, then stop
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous) -> None:
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)
