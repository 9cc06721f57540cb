"""Maker-checker: enrolled approvers sign decisions on a plan hash; what counts is derived every time.

A decision is a ``decision`` statement (``{case, plan, plan_hash, decision, reason}``) signed by an
operator with the role ``approver`` or ``senior``; the ``approvals`` row is only a view of it.
:func:`evaluate` is pure: it counts distinct *persons* (one person, one approval, whatever aliases
they hold), never the preparer's person, under the tier the value of the case falls in.  The value
comes from a price signed by a pricer who is not the preparer; without one the top tier applies.
Conditions count when a statement by the right role (a reviewer for sign-offs and manual review,
never the preparer's person) records them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.authority import Signed, Verifier, attest, case_subject
from recover.errors import DuplicateClaim, IllegalTransition, InvalidInput, PolicyRefused
from recover.models import Approval, Case, StatementRecord
from recover.operations import APPROVING, counts_as_condition
from recover.policy import ApprovalPolicy, Tier
from recover.signed_case import SignedCase, load_signed_case
from recover.text import plural

REVIEWED = "manual_review"


def load_key_file(path):
    """The signing key of an operator's or admin's key file (see :func:`recover.keyfile.load_signing_key`)."""
    from recover.keyfile import load_signing_key

    return load_signing_key(path)


# -- derived status (pure) -----------------------------------------------------------------------
@dataclass
class ApprovalState:
    plan_hash: str
    tier: Tier
    value_usd: Decimal | None = None
    tier_reason: str = ""
    counted: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    roles_present: set[str] = field(default_factory=set)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (operator, why it does not count)
    rejected_by: list[str] = field(default_factory=list)
    conditions_required: list[str] = field(default_factory=list)
    conditions_met: list[str] = field(default_factory=list)

    @property
    def roles_missing(self) -> list[str]:
        return [r for r in self.tier.roles if r not in self.roles_present]

    @property
    def conditions_unmet(self) -> list[str]:
        return [c for c in self.conditions_required if c not in self.conditions_met]

    @property
    def satisfied(self) -> bool:
        return (not self.rejected_by and len(self.counted) >= self.tier.approvers and not self.roles_missing
                and not self.conditions_unmet)

    def missing_text(self) -> str:
        parts = []
        if len(self.counted) < self.tier.approvers:
            parts.append(f"{len(self.counted)} of {plural(self.tier.approvers, 'approval')}")
        if self.roles_missing:
            parts.append(f"no approver with role {', '.join(self.roles_missing)}")
        if self.conditions_unmet:
            parts.append(f"conditions unmet: {', '.join(self.conditions_unmet)}")
        if self.rejected_by:
            parts.append(f"rejected by {', '.join(self.rejected_by)}")
        return "; ".join(parts) or "nothing missing"

    def to_dict(self) -> dict:
        return {"plan_hash": self.plan_hash, "needed": self.tier.approvers, "roles_required": list(self.tier.roles),
                "counted": self.counted, "persons": self.persons, "roles_missing": self.roles_missing,
                "ignored": [{"approver": a, "why": w} for a, w in self.ignored], "rejected_by": self.rejected_by,
                "conditions_required": self.conditions_required, "conditions_unmet": self.conditions_unmet,
                "satisfied": self.satisfied, "tier": self.tier.describe(),
                "value_usd": None if self.value_usd is None else format(self.value_usd, "f"),
                "tier_reason": self.tier_reason}


def evaluate(*, plan_hash: str, preparer_person: str | None, tier: Tier, decisions: list[Signed],
             conditions_required: list[str], conditions: dict[str, Signed], value_usd: Decimal | None = None,
             tier_reason: str = "") -> ApprovalState:
    state = ApprovalState(plan_hash=plan_hash, tier=tier, value_usd=value_usd, tier_reason=tier_reason,
                          conditions_required=list(conditions_required))
    for d in decisions:
        name = d.operator.name if d.operator else "?"
        if d.body.get("plan_hash") != plan_hash:
            state.ignored.append((name, "decided on another plan"))
        elif preparer_person is None or d.person == preparer_person:
            state.ignored.append((name, "the preparer cannot approve their own case"))
        elif d.person in state.persons:
            state.ignored.append((name, f"person {d.person} is counted once"))
        elif d.body.get("decision") == "reject":  # a rejection keeps its effect, even once its author is revoked
            state.rejected_by.append(name)
            state.persons.append(d.person)
        elif d.body.get("decision") == "approve" and d.revoked:
            state.ignored.append((name, "the admins revoked this approver since"))
        elif d.body.get("decision") == "approve":
            state.counted.append(name)
            state.persons.append(d.person)
            state.roles_present |= d.roles & APPROVING
        else:
            state.ignored.append((name, "not an approve or reject decision"))
    state.conditions_met = [c for c in conditions_required if _condition_counts(c, conditions.get(c), preparer_person)]
    return state


def _condition_counts(condition: str, signed: Signed | None, preparer_person: str | None) -> bool:
    if signed is None or not counts_as_condition(condition, signed.roles):
        return False
    # a proof is a cryptographic one by the sender, recorded by the case's staff; a sign-off never counts
    # from the preparer's person
    return condition == "ownership_proof" or signed.person != preparer_person


def value_tier(verifier: Verifier, sc: SignedCase, policy: ApprovalPolicy, net) -> tuple[Tier, Decimal | None, str]:
    """The tier of a case: its value from the quote's gross at a price signed by a pricer who is not
    the preparer; the top tier when there is no such price."""
    from chains.base import NATIVE
    from fees.amounts import to_usd
    from recover.quoting import price_key

    top = policy.tier_for(None)
    q, facts = sc.quote_fields, sc.facts
    if not q or not facts:
        return top, None, "no signed quote: top tier"
    expected = price_key(net, facts[0].get("asset") or NATIVE)
    if q.get("asset_key") != expected:
        return top, None, f"the quote prices {q.get('asset_key')!r}, not the deposit's asset {expected!r}: top tier"
    for h in sc.quote.body.get("prices") or []:
        record = verifier.session.exec(select(StatementRecord).where(StatementRecord.hash == h)).first()
        signed = verifier.check(record)[0] if record is not None else None
        if signed is None or signed.kind != "price" or signed.body.get("asset") != expected or signed.revoked:
            continue
        if sc.preparer_person is not None and signed.person == sc.preparer_person:
            return top, None, "the price was set by the preparer: top tier"
        try:
            value = to_usd(int(q["gross"]), int(q["decimals"]), Decimal(str(signed.body["usd"])))
        except (KeyError, ValueError, ArithmeticError):
            continue
        return policy.tier_for(value), value, f"price {signed.body['usd']} USD signed by {signed.operator.name}"
    return top, None, "no price signed by a pricer: top tier"


def required_conditions(net, sc: SignedCase) -> list[str]:
    required = list(net.conditions)
    if sc.flags and REVIEWED not in required:  # e.g. a look-alike destination
        required.append(REVIEWED)
    return required


def case_state(session: Session, case: Case, policy: ApprovalPolicy | None = None,
               verifier: Verifier | None = None) -> ApprovalState | None:
    """The approval state of the case's current plan, from its signed statements only."""
    from recover.planning import current_plan
    from recover.policy import policy_in_force
    from recover.registry import get_network

    plan = current_plan(session, case)
    if plan is None:
        return None
    verifier = verifier or Verifier(session)
    policy = policy or policy_in_force(verifier)
    sc = load_signed_case(verifier, case.id, plan.plan_hash)
    return state_of(verifier, sc, policy, get_network(case.network), plan.plan_hash)


def state_of(verifier: Verifier, sc: SignedCase, policy: ApprovalPolicy, net, plan_hash: str) -> ApprovalState:
    tier, value, why = value_tier(verifier, sc, policy, net)
    return evaluate(plan_hash=plan_hash, preparer_person=sc.preparer_person, tier=tier, decisions=sc.decisions,
                    conditions_required=required_conditions(net, sc), conditions=sc.conditions, value_usd=value,
                    tier_reason=why)


# -- service --------------------------------------------------------------------------------------
def submit(session: Session, case: Case, *, actor, decision: str, reason: str | None,
           policy: ApprovalPolicy | None = None) -> ApprovalState:
    """Sign (with the acting approver's key) and record a decision on the case's current plan.

    ``decision`` is the operation (``approve`` or ``reject``) that ``recover.runner.run`` checked the
    approver's role, the history and the case's status for."""
    from recover.planning import current_plan
    from recover.policy import policy_in_force
    from recover.registry import get_network
    from recover.transitions import move

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
    from recover.audit import append_event

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
