"""Maker-checker: enrolled approvers sign decisions on a plan hash; what counts is derived every time.

A decision is a ``decision`` statement (``{case, plan, plan_hash, decision, reason}``) signed by an
operator with the role ``approver`` or ``senior``; the ``approvals`` row is only a view of it.
:func:`evaluate` is pure: it counts distinct *persons* (one person, one approval, whatever aliases
they hold), never the preparer's person, under the tier the value of the case falls in.  The value
comes from a price signed by a pricer who is not the preparer; without one the top tier applies.
Conditions count when a statement by the right role (a reviewer for sign-offs and manual review,
never the preparer's person) records them.  Those rules live in :mod:`recover.authority.approval_state` (light,
shared with the read path); this module submits decisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.authority.acting import Signed, Verifier, attest, case_subject  # noqa: F401
from recover.authority.approval_state import (  # noqa: F401 - re-exported
    APPROVING,
    REVIEWED,
    ApprovalState,
    evaluate,
    required_conditions,
    state_of,
    value_tier,
)
from recover.authority.keyfile import load_signing_key
from recover.authority.policy import ApprovalPolicy, Tier, policy_in_force  # noqa: F401
from recover.authority.signed_case import SignedCase, load_signed_case  # noqa: F401
from recover.casework.planning import current_plan
from recover.casework.transitions import move
from recover.errors import DuplicateClaim, IllegalTransition, InvalidInput, PolicyRefused
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.models import Approval, Case


def load_key_file(path):
    """The signing key of an operator's or admin's key file (see :func:`recover.authority.keyfile.load_signing_key`)."""
    return load_signing_key(path)


def case_state(session: Session, case: Case, policy: ApprovalPolicy | None = None,
               verifier: Verifier | None = None) -> ApprovalState | None:
    """The approval state of the case's current plan, from its signed statements only."""
    plan = current_plan(session, case)
    if plan is None:
        return None
    verifier = verifier or Verifier(session)
    policy = policy or policy_in_force(verifier)
    sc = load_signed_case(verifier, case.id, plan.plan_hash)
    return state_of(verifier, sc, policy, get_network(case.network), plan.plan_hash)


# -- service --------------------------------------------------------------------------------------
def submit(session: Session, case: Case, *, actor, decision: str, reason: str | None,
           policy: ApprovalPolicy | None = None) -> ApprovalState:
    """Sign (with the acting approver's key) and record a decision on the case's current plan.

    ``decision`` is the operation (``approve`` or ``reject``) that ``recover.casework.runner.run`` checked the
    approver's role, the history and the case's status for."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject")
    plan = current_plan(session, case)
    if plan is None:
        raise IllegalTransition(f"case {case.id} has no plan", code="no_plan")
    if decision == "reject" and not (reason or "").strip():
        raise InvalidInput("a rejection needs --reason", code="reason_required")
    verifier = Verifier(session)
    policy = policy or policy_in_force(verifier)
    sc = load_signed_case(verifier, case.id, plan.plan_hash)
    if sc.plan is None and decision == "approve":  # a rejection needs none: e.g. a case from before 0005
        raise PolicyRefused(f"case {case.id}'s plan {plan.plan_hash[:16]}… has no valid signed plan statement: "
                            "nothing to approve", code="no_signed_plan")
    if sc.plan is not None and actor.person == sc.preparer_person:
        raise PolicyRefused(f"{actor.name} (person {actor.person}) prepared case {case.id} and cannot decide on it",
                            code="self_approval")
    net = get_network(case.network)
    if decision == "approve":
        pre = state_of(verifier, sc, policy, net, plan.plan_hash)
        unmet = [c for c in pre.conditions_unmet if c != REVIEWED]
        if unmet:
            raise PolicyRefused(f"case {case.id} cannot be approved yet: conditions unmet: {', '.join(unmet)}",
                                code="condition_unmet")
    if session.exec(select(Approval).where(Approval.case_id == case.id, Approval.plan_hash == plan.plan_hash,
                                           Approval.person == actor.person)).first():
        raise DuplicateClaim(f"person {actor.person} has already decided on this plan", code="duplicate_approval")
    record = attest(actor, session, "decision", case_subject(case.id),
                    {"case": case.id, "plan": sc.plan.hash if sc.plan else None, "plan_hash": plan.plan_hash,
                     "decision": decision,
                     "reason": (reason or "").strip() or None})
    session.add(Approval(case_id=case.id, plan_hash=plan.plan_hash, operator=actor.name, person=actor.person,
                         decision=decision, reason=reason, statement=record.hash))
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise DuplicateClaim(f"person {actor.person} has already decided on this plan",
                             code="duplicate_approval") from None
    append_event(session, actor=actor, action="plan_approved" if decision == "approve" else "plan_rejected",
                 case_id=case.id, details={"approver": actor.name, "person": actor.person,
                                           "roles": sorted(actor.roles & APPROVING), "plan_hash": plan.plan_hash,
                                           "reason": reason, "statement": record.hash})
    state = state_of(verifier, load_signed_case(verifier, case.id, plan.plan_hash), policy, net, plan.plan_hash)
    if decision == "reject":
        move(session, case, "rejected", op=decision, actor=actor, action="rejected",
             details={"by": actor.name, "reason": reason},
             extra={"refusal_code": "rejected", "refusal_reason": f"rejected by {actor.name}: {reason}"})
    elif state.satisfied and case.status == "awaiting_approval":
        move(session, case, "approved", op=decision, actor=actor, action="approved",
             details={"approvers": state.counted, "plan_hash": plan.plan_hash})
    return state
