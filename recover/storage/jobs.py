"""The job queue in the case database: due work on cases, leased by workers.

A job is enqueued in the same transaction as the state change that needs it (:func:`enqueue_for`,
called by :func:`recover.casework.transitions.move` and when a case is opened): an open case is to be
verified, a signed one broadcast, a broadcast one tracked.  :func:`claim` leases the oldest due job
with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL: many workers never take the same job; SQLite
serialises whole transactions and runs one worker), so each job runs once at a time; a worker that
dies leaves a lease that expires, and the job is taken again.  The work itself is idempotent (a
case's state moves by compare-and-set; broadcast re-sends the same bytes), so a job run twice after
a crash does its effect once.

A case in ``signed`` or ``broadcast`` always has a pending job: a job is marked done only when its
case left the job's state (a refusal leaves it due again later, see :mod:`recover.services.worker`), and the
worker's every loop gives a job back to any case that lost its own (:func:`requeue_stranded`: a row
deleted by hand, a crash of an older version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.life.operations import HELD_BY_JOB, JOB_FOR
from recover.storage.models import Case, Job, utcnow

#: status -> the kind of job (an operation's name) a case arriving in it needs: the operations table's
KIND_FOR = {status.value: kind for status, kind in JOB_FOR.items()}
#: the statuses whose job stays until the case moves on (an open case can also be verified by hand, and
#: a refused verification ends its job: not stranded)
HELD = {status.value: JOB_FOR[status] for status in HELD_BY_JOB}

_JOBS = Job.__table__
_PENDING = (sa.select(_JOBS.c.id).where(_JOBS.c.case_id == sa.bindparam("case_id"), _JOBS.c.kind == sa.bindparam("kind"),
                                        _JOBS.c.done_at.is_(None)).limit(1))
_INSERT = sa.insert(_JOBS)


def enqueue_for(session: Session, case_id: int, status: str) -> None:
    """The job a case in ``status`` needs (none for most states), due now, in the caller's transaction."""
    kind = KIND_FOR.get(str(status))
    if kind is None:
        return
    session.flush()  # what the caller changed first, as the query's autoflush did
    pending = session.connection().execute(_PENDING, {"case_id": case_id, "kind": kind}).scalar()
    if pending is None:  # a plain INSERT (a new case's job: no ORM object to build and flush, a large
        # ``case import`` enqueues one per line), with the columns' defaults of ``Job``
        now = utcnow()
        session.connection().execute(_INSERT, {"case_id": case_id, "kind": kind, "due_at": now, "attempts": 0,
                                               "created_at": now})
    else:
        job = session.get(Job, pending)
        job.due_at = utcnow()
        session.add(job)
        session.flush()


def enqueue_many(session: Session, cases: list[tuple[int, str]]) -> None:
    """:func:`enqueue_for` of many ``(case id, status)`` at once (the cases a ``case import`` chunk
    opened): one query for their pending jobs, one UPDATE of those (none, for new cases) and one
    multi-row INSERT of the others, not two statements per case."""
    wanted = [(case_id, KIND_FOR[str(status)]) for case_id, status in cases if str(status) in KIND_FOR]
    if not wanted:
        return
    session.flush()  # what the caller changed first, as enqueue_for does
    conn, now = session.connection(), utcnow()
    pending: dict[tuple[int, str], int] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        for job_id, case_id, kind in conn.execute(
                sa.select(_JOBS.c.id, _JOBS.c.case_id, _JOBS.c.kind)
                .where(_JOBS.c.case_id.in_([c for c, _ in part]), _JOBS.c.done_at.is_(None))):
            pending.setdefault((case_id, kind), job_id)
    due = sorted({pending[w] for w in wanted if w in pending})
    if due:
        conn.execute(sa.update(_JOBS).where(_JOBS.c.id.in_(due)).values(due_at=now))
    new = [{"case_id": c, "kind": k, "due_at": now, "attempts": 0, "created_at": now}
           for c, k in dict.fromkeys(wanted) if (c, k) not in pending]
    if new:
        conn.execute(_INSERT, new)


@dataclass(frozen=True)
class Lease:
    job_id: int
    case_id: int
    kind: str
    attempts: int
    claimed_at: datetime | None = None  # when this lease was taken (the job's ``due_at`` was not later)


def stranded_cases(session: Session) -> list[int]:
    """Cases in a state a job must move (``signed``: broadcast, ``broadcast``: track) that have no
    pending job of that kind: nothing would ever move them.  One query; the worker runs it every loop
    (:func:`requeue_stranded`) and ``audit verify`` can report it."""
    pending = sa.exists().where(Job.case_id == Case.id, Job.done_at.is_(None),
                                Job.kind == sa.case(*((Case.status == st, kind) for st, kind in HELD.items())))
    return list(session.exec(select(Case.id).where(Case.status.in_(list(HELD)), ~pending).order_by(Case.id)))


def requeue_stranded(session_factory, *, worker: str) -> list[int]:
    """Give every stranded case its job again, each in its own transaction under the case's row lock
    (taken without waiting: a case someone is moving right now is left to the next loop), checked
    again under the lock.  The job's note says it was requeued (no audit event: nothing about the
    case changed, and the audit lock is never taken under a case's row lock here)."""
    with session_factory() as s:
        found = stranded_cases(s)
    done = []
    for case_id in found:
        try:
            with session_factory() as s:
                case = s.exec(select(Case).where(Case.id == case_id).with_for_update(nowait=True)).first()
                if case is None or case.id not in stranded_cases(s):
                    continue
                enqueue_for(s, case.id, case.status)
                s.execute(sa.update(Job).where(Job.case_id == case.id, Job.done_at.is_(None),
                                               Job.kind == KIND_FOR[case.status])
                          .values(last_error=f"requeued by {worker}: the {case.status} case had no pending job"))
                done.append(case.id)
        except sa.exc.OperationalError:  # the row is locked by a transaction moving the case: not stranded
            continue
    return done


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
        return Lease(job.id, job.case_id, job.kind, job.attempts, now)


def finish(session_factory, lease: Lease, worker: str, *, later_seconds: float | None, error: str | None) -> bool:
    """Mark the job done (``later_seconds`` None) or due again later; False when the lease was lost.

    A job enqueued again while it was leased (:func:`enqueue_for` moved its ``due_at`` past the
    lease: the case came back to the job's state meanwhile) is not marked done: it is left due."""
    with session_factory() as s:
        now = utcnow()
        values: dict = {"leased_by": None, "lease_until": None, "last_error": error}
        mine = (Job.id == lease.job_id, Job.leased_by == worker, Job.done_at.is_(None))
        if later_seconds is None:
            claimed = lease.claimed_at or now
            done = s.execute(sa.update(Job).where(*mine, Job.due_at <= claimed).values(**values, done_at=now))
            if done.rowcount == 1:
                return True
        else:
            values["due_at"] = now + timedelta(seconds=later_seconds)
        done = s.execute(sa.update(Job).where(*mine).values(**values))
        return done.rowcount == 1


def backoff(attempts: int, *, base: float = 2.0, ceiling: float = 300.0) -> float:
    """Seconds until a failed job is due again: doubling per attempt, at most ``ceiling``."""
    return min(ceiling, base * 2 ** max(0, attempts - 1))
