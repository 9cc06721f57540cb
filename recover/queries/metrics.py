"""What ``/metrics`` reports from the case database (``recover serve``, ``recover worker
--metrics-port``): a few aggregate queries run at scrape time, in one read transaction, so every
process that serves metrics reports the same truth.

- cases by status and network, and for each status that is not an end, when its oldest case entered
  it (``cases.updated_at`` moves with every change of status and with nothing else once a case has
  left ``open``/``verified``: a refused verification or quote touches it without moving the case);
- the jobs of the queue (``jobs``) by kind and state: ``waiting`` (due, nobody holds it), ``running``
  (leased, lease not expired), ``scheduled`` (due again later: backing off after an error, or a
  broadcast case waiting for confirmations), ``failed`` (ended with an error: a refused verification,
  a case that moved on while its job was refused); how many pending jobs last ended in an error; and
  how long the oldest waiting job has been due (the queue's backlog);
- how far ``recover scan`` has looked on each network (``scan_state``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from recover.life.states import TERMINAL
from recover.queries.db import Db, decode_time, reading

#: the note :func:`recover.storage.jobs.requeue_stranded` leaves on a job: not an error of the job
_REQUEUED = "requeued by %"
JOB_STATES = ("waiting", "running", "scheduled", "failed")
ENDS = frozenset(s.value for s in TERMINAL)


@dataclass
class DbFigures:
    """The database's figures at ``now`` (aware UTC)."""

    now: datetime
    #: (status, network) -> number of cases
    cases: dict = field(default_factory=dict)
    #: (status, network) -> when the oldest case in that status entered it (statuses that are not ends)
    oldest_in_status: dict = field(default_factory=dict)
    #: (kind, state) -> number of jobs, state one of JOB_STATES
    jobs: dict = field(default_factory=dict)
    #: kind -> pending jobs whose last attempt ended in an error
    jobs_erroring: dict = field(default_factory=dict)
    #: kind -> when the oldest waiting job became due
    oldest_waiting_job: dict = field(default_factory=dict)
    #: network -> (last block scanned, when)
    scans: dict = field(default_factory=dict)

    def age(self, when: datetime) -> float:
        return max(0.0, (self.now - when).total_seconds())

    @property
    def approval_queue_oldest(self) -> datetime | None:
        """When the case awaiting approval longest entered the queue (None: the queue is empty)."""
        found = [t for (status, _), t in self.oldest_in_status.items() if status == "awaiting_approval"]
        return min(found) if found else None


def _param(d: Db, when: datetime):
    """A time as the ORM stores it (naive UTC; text on SQLite), to compare with in SQL."""
    naive = when.astimezone(timezone.utc).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds") if d.dialect == "sqlite" else naive


def figures(*, db: str | None = None, now: datetime | None = None) -> DbFigures:
    """The figures of the database of ``db`` (``--db``, else ``RECOVER_DB_URL``)."""
    with reading(db) as d:
        return read_figures(d, now or datetime.now(timezone.utc))


def read_figures(d: Db, now: datetime) -> DbFigures:
    out = DbFigures(now=now)
    for r in d.rows("SELECT status, network, COUNT(*) AS n, MIN(updated_at) AS oldest FROM cases "
                    "GROUP BY status, network"):
        out.cases[(r["status"], r["network"])] = int(r["n"])
        if r["status"] not in ENDS:
            out.oldest_in_status[(r["status"], r["network"])] = decode_time(r["oldest"])
    at = _param(d, now)
    for r in d.rows(
            "SELECT kind, CASE WHEN lease_until IS NOT NULL AND lease_until > ? THEN 'running' "
            "WHEN due_at <= ? THEN 'waiting' ELSE 'scheduled' END AS state, "
            "COUNT(*) AS n, SUM(CASE WHEN last_error IS NOT NULL AND last_error NOT LIKE ? THEN 1 ELSE 0 END) AS erroring, "
            "MIN(due_at) AS oldest FROM jobs WHERE done_at IS NULL GROUP BY 1, 2", (at, at, _REQUEUED)):
        out.jobs[(r["kind"], r["state"])] = int(r["n"])
        out.jobs_erroring[r["kind"]] = out.jobs_erroring.get(r["kind"], 0) + int(r["erroring"] or 0)
        if r["state"] == "waiting":
            out.oldest_waiting_job[r["kind"]] = decode_time(r["oldest"])
    for r in d.rows("SELECT kind, COUNT(*) AS n FROM jobs WHERE done_at IS NOT NULL AND last_error IS NOT NULL "
                    "AND last_error NOT LIKE ? GROUP BY kind", (_REQUEUED,)):
        out.jobs[(r["kind"], "failed")] = int(r["n"])
    for r in d.rows("SELECT network, last_block, updated_at FROM scan_state"):
        out.scans[r["network"]] = (int(r["last_block"]), decode_time(r["updated_at"]))
    return out
