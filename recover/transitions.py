"""Persisting a state change: optimistic, audited, in the caller's transaction.

``UPDATE cases SET status = :to WHERE id = :id AND status = :expected`` either moves exactly one
row or none; none means another actor moved the case first, and the caller gets
``ConcurrentUpdate`` instead of silently overwriting their work.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from recover.audit import append_event
from recover.errors import ConcurrentUpdate
from recover.models import Case, utcnow
from recover.states import CaseStatus, check_reopen, check_transition


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
) -> Case:
    """Move ``case`` from its current status to ``to``; ``extra`` sets more columns in the same UPDATE.
    ``reopen``: the move leaves an end by ``case reopen`` (``recover.states.REOPENS``)."""
    expected = CaseStatus(case.status)
    target = check_reopen(expected, to) if reopen else check_transition(expected, to)
    now = utcnow()
    values = {"status": target.value, "updated_at": now, "version": Case.version + 1}
    values.update(extra or {})
    result = session.execute(
        sa.update(Case).where(Case.id == case.id, Case.status == expected.value).values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        now_status = session.execute(sa.select(Case.status).where(Case.id == case.id)).scalar()
        raise ConcurrentUpdate(
            f"case {case.id} was moved by someone else: expected status '{expected.value}', "
            f"it is now '{now_status}'; reload it and try again",
            details={"case_id": case.id, "expected": expected.value, "actual": now_status},
        )
    append_event(
        session,
        actor=actor,
        action=action,
        case_id=case.id,
        from_status=expected.value,
        to_status=target.value,
        details=details,
    )
    from recover.jobs import enqueue_for

    enqueue_for(session, case.id, target.value)  # the worker's next job, in this same transaction
    from recover.gasbook import LIVE, release

    if target.value not in LIVE:  # no live plan any more: what one held in the gas book is released
        release(session, case.id, outcome=target.value)
    # Bring the caller's object up to date without reading the row back (and without marking it
    # dirty): it now says what the UPDATE wrote.
    for name, value in {**values, "version": (case.version or 0) + 1}.items():
        set_committed_value(case, name, value)
    return case
