"""The job queue in the case database: due work on cases, leased by workers.

A job is enqueued in the same transaction as the state change that needs it (:func:`enqueue_for`,
called by :func:`recover.transitions.move` and when a case is opened): an open case is to be
verified, a signed one broadcast, a broadcast one tracked.  :func:`claim` leases the oldest due job
with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL: many workers never take the same job; SQLite
serialises whole transactions and runs one worker), so each job runs once at a time; a worker that
dies leaves a lease that expires, and the job is taken again.  The work itself is idempotent (a
case's state moves by compare-and-set; broadcast re-sends the same bytes), so a job run twice after
a crash does its effect once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.models import Job, utcnow

KIND_FOR = {"open": "verify", "signed": "broadcast", "broadcast": "track"}
STATUS_FOR = {v: k for k, v in KIND_FOR.items()}


def enqueue_for(session: Session, case_id: int, status: str) -> None:
    """The job a case in ``status`` needs (none for most states), due now, in the caller's transaction."""
    kind = KIND_FOR.get(str(status))
    if kind is None:
        return
    pending = session.exec(select(Job).where(Job.case_id == case_id, Job.kind == kind, Job.done_at.is_(None))).first()
    if pending is None:
        session.add(Job(case_id=case_id, kind=kind))
    else:
        pending.due_at = utcnow()
        session.add(pending)
    session.flush()


@dataclass(frozen=True)
class Lease:
    job_id: int
    case_id: int
    kind: str
    attempts: int


def claim(session_factory, worker: str, lease_seconds: int) -> Lease | None:
    """Lease the oldest due job nobody holds (committed before the work starts)."""
    with session_factory() as s:
        now = utcnow()
        job = s.exec(select(Job).where(Job.done_at.is_(None), Job.due_at <= now,
                                       sa.or_(Job.lease_until.is_(None), Job.lease_until < now))
                     .order_by(Job.due_at, Job.id).limit(1).with_for_update(skip_locked=True)).first()
        if job is None:
            return None
        job.leased_by, job.lease_until, job.attempts = worker, now + timedelta(seconds=lease_seconds), job.attempts + 1
        s.add(job)
        return Lease(job.id, job.case_id, job.kind, job.attempts)


def finish(session_factory, lease: Lease, worker: str, *, later_seconds: float | None, error: str | None) -> bool:
    """Mark the job done (``later_seconds`` None) or due again later; False when the lease was lost."""
    with session_factory() as s:
        now = utcnow()
        values: dict = {"leased_by": None, "lease_until": None, "last_error": error}
        if later_seconds is None:
            values["done_at"] = now
        else:
            values["due_at"] = now + timedelta(seconds=later_seconds)
        done = s.execute(sa.update(Job).where(Job.id == lease.job_id, Job.leased_by == worker,
                                              Job.done_at.is_(None)).values(**values))
        return done.rowcount == 1


def backoff(attempts: int, *, base: float = 2.0, ceiling: float = 300.0) -> float:
    """Seconds until a failed job is due again: doubling per attempt, at most ``ceiling``."""
    return min(ceiling, base * 2 ** max(0, attempts - 1))
