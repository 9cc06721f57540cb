"""The append-only, hash-chained audit log.

Each event's hash covers its content and the previous event's hash, so altering or removing a row
breaks the chain at that row; ``verify_chain`` names the first such event.  Appends are serialised
(SQLite: transactions begin IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so two
writers never chain onto the same predecessor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.storage.canonical import sha256_hex
from recover.storage.models import AuditEvent

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x7265636F  # "reco"
_HEAD = "recover.storage.audit.head"  # session.info key: (seq, hash) of the last event this transaction wrote


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(ev: AuditEvent) -> str:
    return sha256_hex(
        {
            "seq": ev.seq,
            "case_id": ev.case_id,
            "actor": ev.actor,
            "action": ev.action,
            "from_status": ev.from_status,
            "to_status": ev.to_status,
            "details": ev.details or {},
            "created_at": ev.created_at,
            "prev_hash": ev.prev_hash,
        }
    )


def append_event(
    session: Session,
    *,
    actor: str,
    action: str,
    case_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    head = _head(session)
    ev = AuditEvent(
        seq=head[0] + 1,
        case_id=case_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        details=details or {},
        created_at=now_text(),
        prev_hash=head[1],
        hash="",
    )
    ev.hash = event_hash(ev)
    session.add(ev)
    session.flush()
    # The lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock) is held until this
    # transaction ends, so the head stays ours: later appends in it need not read it again.
    session.info[_HEAD] = (ev.seq, ev.hash)
    return ev


_LOCKED = "recover.logs.locked"  # session.info key: this transaction holds the append lock


def lock_logs(session: Session) -> None:
    """Take the append lock of both logs (this audit chain and the statement log) for the rest of the
    transaction: SQLite transactions already begin IMMEDIATE; PostgreSQL takes a transaction-scoped
    advisory lock.  One lock for both, so two appenders never wait on each other in opposite orders."""
    if session.info.get(_LOCKED):
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    session.info[_LOCKED] = True


def _head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the chain's last event, read once per transaction under the append lock."""
    head = session.info.get(_HEAD)
    if head is None:
        lock_logs(session)
        last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
        head = (last.seq, last.hash) if last else (0, GENESIS)
    return head


def append_events(session: Session, events: list[dict]) -> int:
    """Append many events, chained in the given order, as one multi-row INSERT in the caller's
    transaction (``verify --all`` writes a chunk of cases at once).  Each dict takes the keyword
    arguments of :func:`append_event`.  Same lock and head as one append: no writer forks the chain.
    Returns the last seq written."""
    if not events:
        return _head(session)[0]
    seq, prev = _head(session)
    rows = []
    for e in events:
        row = {"seq": seq + 1, "case_id": e.get("case_id"), "actor": str(e["actor"]), "action": e["action"],
               "from_status": e.get("from_status"), "to_status": e.get("to_status"),
               "details": e.get("details") or {}, "created_at": now_text(), "prev_hash": prev}
        row["hash"] = event_hash(SimpleNamespace(**row))
        seq, prev = row["seq"], row["hash"]
        rows.append(row)
    session.connection().execute(sa.insert(AuditEvent.__table__), rows)
    session.info[_HEAD] = (seq, prev)  # the lock is held until the transaction ends, as in append_event
    return seq


def forget_audit_head(session: Session) -> None:
    """After rolling back a savepoint that may have appended events: read the head again next time
    (the lock is kept: it belongs to the transaction, not to the savepoint).  ``recover.authority.statement_log
    .forget_heads`` forgets both logs' heads."""
    session.info.pop(_HEAD, None)


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    events: int
    head_hash: str
    problems: tuple[str, ...]
    first_bad_seq: int | None
    statements: int = 0  # how long the statement log is (``audit verify`` checks it too)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "statements": self.statements,
            "problems": list(self.problems),
        }


def verify_chain(session: Session) -> AuditReport:
    """Recompute the chain; report the first event that was altered or removed (and any later)."""
    problems: list[str] = []
    first_bad: int | None = None
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    head = GENESIS
    for ev in session.exec(select(AuditEvent).order_by(AuditEvent.seq)):
        count += 1
        if ev.seq != expected_seq:
            missing = f"{expected_seq}" if ev.seq == expected_seq + 1 else f"{expected_seq}..{ev.seq - 1}"
            problems.append(f"event {missing} removed (sequence jumps from {expected_seq - 1} to {ev.seq})")
            first_bad = first_bad or expected_seq
        if event_hash(ev) != ev.hash:
            problems.append(f"event {ev.seq} ({ev.action}, case {ev.case_id}) was altered: its hash does not match its content")
            first_bad = first_bad or ev.seq
        elif ev.prev_hash != expected_prev and ev.seq == expected_seq:
            problems.append(f"event {ev.seq} does not chain to event {ev.seq - 1}: the earlier event was altered or replaced")
            first_bad = first_bad or max(ev.seq - 1, 1)
        expected_prev = ev.hash
        expected_seq = ev.seq + 1
        head = ev.hash
    return AuditReport(not problems, count, head, tuple(problems), first_bad)
