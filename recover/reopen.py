"""Reopening a case that ended without its money moving: rejected, unrecoverable, or failed.

Nothing final by accident: a rejection can be a mistake, a refusal can rest on facts that changed
(the address imported later), a failed sweep can leave the funds where they were.  Reopening is a
recorded decision with a reason; it never moves money by itself.  A case with proven facts goes back
to ``verified`` (quote, prepare and approve again: every approval was of a plan that no longer
counts), one without to ``open`` (verify again).  A failed case is reopened only if its deposit is
still at the deposit address (checked on chain).
"""

from __future__ import annotations

from sqlmodel import Session, select

from recover.chainio import adapter
from recover.errors import InvalidInput
from recover.models import Case, DepositFact, SweepPlan, utcnow
from recover.registry import get_network
from recover.states import CaseStatus, check_reopen
from recover.transitions import move


def reopen_case(session: Session, case: Case, reason: str, *, root, admin_keys: list) -> Case:
    """Reopen by an admin quorum: the admins' statement re-attests the claim (and the proven facts),
    so what follows rests on it, not on whatever the rows say now."""
    from recover.authority import admin_attest, admin_names, case_subject
    from recover.signed_case import claim_body, facts_body

    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reopening a case needs --reason saying why", code="reason_required")
    current = CaseStatus(case.status)
    has_facts = session.exec(select(DepositFact.id).where(DepositFact.case_id == case.id)).first() is not None
    target = CaseStatus.VERIFIED if has_facts else CaseStatus.OPEN
    check_reopen(current, target)
    if current == CaseStatus.FAILED:
        from recover.execution import deposit_still_there

        deposit_still_there(session, case, adapter(get_network(case.network)), doing="to reopen the case")
    for plan in session.exec(select(SweepPlan).where(SweepPlan.case_id == case.id,
                                                     SweepPlan.superseded_at.is_(None))):
        plan.superseded_at = utcnow()  # its approvals stop counting
        session.add(plan)
    body = {**claim_body(case), "reason": reason, "from": current.value}
    if has_facts:
        facts = list(session.exec(select(DepositFact).where(DepositFact.case_id == case.id)
                                  .order_by(DepositFact.deposit_index)))
        body["facts"] = facts_body(facts)
        body["flags"] = list(case.flags or [])
    record, signers = admin_attest(session, root, "reopen", case_subject(case.id), body, admin_keys)
    actor = admin_names(root, signers)
    return move(session, case, target, actor=actor, action="reopened", reopen=True,
                details={"reason": reason, "from": current.value, "previous_refusal": case.refusal_code,
                         "statement": record.hash},
                extra={"refusal_code": None, "refusal_reason": None, "claim_statement": record.hash})
