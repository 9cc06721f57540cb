"""Persisting state changes: optimistic, audited, in the caller's transaction, one case or many.

``UPDATE cases SET status = :to WHERE id = :id AND status = :expected`` either moves exactly one
row or none; none means another actor moved the case first, and the caller gets
``ConcurrentUpdate`` instead of silently overwriting their work.  Every move writes its audit event,
enqueues the job the new status needs (``recover.storage.jobs``) and, when no plan is live any more,
releases what the case held in the gas book, all in the same transaction.

:func:`move_many` does that for many cases at once (``verify --all`` writes a chunk of hundreds: one
multi-row UPDATE per kind of move, one multi-row INSERT of audit events); :func:`move` is the same
code for one case.  ``op`` names the operation that moves (``recover.life.operations``): a move it does
not list is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from recover.casework.gasbook import release_cases
from recover.errors import ConcurrentUpdate
from recover.life.operations import PLAN_LIVE
from recover.life.states import CaseStatus, check_move, check_reopen, check_transition
from recover.storage.audit import append_events
from recover.storage.jobs import enqueue_for
from recover.storage.models import Case, utcnow


@dataclass
class Move:
    """One case's move: where to, the audit event's action and details, more columns to set."""
    case: Case
    to: CaseStatus | str
    action: str
    details: dict | None = None
    extra: dict = field(default_factory=dict)


def move(
    session: Session,
    case: Case,
    to: CaseStatus | str,
    *,
    actor: str,
    action: str,
    details: dict | None = None,
    extra: dict | None = None,
    reopen: bool = False,
    op: str | None = None,
) -> Case:
    """Move ``case`` from its current status to ``to``; ``extra`` sets more columns in the same UPDATE.
    ``reopen``: the move leaves an end by ``case reopen`` (``recover.life.states.REOPENS``)."""
    move_many(session, [Move(case, to, action, details, dict(extra or {}))], actor=actor, reopen=reopen, op=op)
    return case


def move_many(session: Session, moves: list[Move], *, actor: str, op: str | None = None,
              reopen: bool = False) -> None:
    """Move every case of ``moves`` (each from the status its object says), or none: one compare-and-set
    UPDATE per group of like moves, then the audit events in order, the follow-up jobs and the gas-book
    releases.  A case moved by someone else meanwhile raises ``ConcurrentUpdate`` naming it."""
    if not moves:
        return
    session.flush()  # what the caller changed is written first, as an ORM UPDATE would (autoflush)
    now = utcnow()
    planned = []
    for m in moves:
        expected = CaseStatus(m.case.status)
        target = check_reopen(expected, m.to) if reopen else check_transition(expected, m.to)
        if op is not None:
            check_move(op, expected, target)
        planned.append((m, expected, target))
    groups: dict[tuple, list] = {}
    for m, expected, target in planned:
        groups.setdefault((expected, target, tuple(sorted(m.extra))), []).append(m)
    for (expected, target, names), group in groups.items():
        _update(session, group, expected, target, names, now)
    append_events(session, [dict(actor=actor, action=m.action, case_id=m.case.id, from_status=expected.value,
                                 to_status=target.value, details=m.details) for m, expected, target in planned])
    for m, _expected, target in planned:
        enqueue_for(session, m.case.id, target.value)  # the worker's next job, in this same transaction
    ended = [(m.case.id, target.value) for m, _expected, target in planned if target not in PLAN_LIVE]
    release_cases(session, ended)  # no live plan any more: what one held in the gas book is released
    for m, _expected, target in planned:
        # Bring the caller's object up to date without reading the row back (and without marking it
        # dirty): it now says what the UPDATE wrote.
        for name, value in {"status": target.value, "updated_at": now, **m.extra,
                            "version": (m.case.version or 0) + 1}.items():
            set_committed_value(m.case, name, value)


def _update(session: Session, group: list[Move], expected: CaseStatus, target: CaseStatus, names: tuple,
            now) -> None:
    table = Case.__table__
    statement = (sa.update(table).where(table.c.id == sa.bindparam("_id"), table.c.status == expected.value)
                 .values(status=target.value, updated_at=now, version=table.c.version + 1,
                         **{n: sa.bindparam(f"_x_{n}", type_=table.c[n].type) for n in names}))
    rows = [{"_id": m.case.id, **{f"_x_{n}": m.extra[n] for n in names}} for m in group]
    conn = session.connection()
    if len(rows) == 1 or not conn.dialect.supports_sane_multi_rowcount:
        moved = sum(conn.execute(statement, row).rowcount for row in rows)
    else:
        moved = conn.execute(statement, rows).rowcount
    if moved != len(rows):
        ids = [m.case.id for m in group]
        now_status = dict(session.execute(sa.select(Case.id, Case.status).where(Case.id.in_(ids))).all())
        case_id = next((i for i in ids if now_status.get(i) != expected.value), ids[0])
        raise ConcurrentUpdate(
            f"case {case_id} was moved by someone else: expected status '{expected.value}', "
            f"it is now '{now_status.get(case_id)}'; reload it and try again",
            details={"case_id": case_id, "expected": expected.value, "actual": now_status.get(case_id)},
        )
