"""What an approval still needs, derived from signed statements only: the one implementation that
the signer (``recover.casework.approvals``, ``recover.casework.execution``), ``queue list``, ``case show`` and the web
queue all run, over the ORM session or over plain rows (a
:class:`recover.authority.statement_checks.StatementChecker` either way).

:func:`evaluate` is pure: it counts distinct *persons* (one person, one approval, whatever aliases
they hold), never the preparer's person, under the tier the value of the case falls in.  The value
comes from a price signed by a pricer who is not the preparer; without one the top tier applies.
Conditions count when a statement by the right role (a reviewer for sign-offs and manual review,
never the preparer's person) records them.  Nothing here imports the database layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from chains.assets import NATIVE
from fees.amounts import to_usd
from recover.authority.policy import ApprovalPolicy, Tier
from recover.authority.signed_case import SignedCase
from recover.authority.statement_checks import Signed, StatementChecker
from recover.life.operations import APPROVING, counts_as_condition
from recover.life.shared_rules import price_key
from recover.text import plural

REVIEWED = "manual_review"


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
        return missing_text(self.to_dict())

    def to_dict(self) -> dict:
        return {"plan_hash": self.plan_hash, "needed": self.tier.approvers, "roles_required": list(self.tier.roles),
                "counted": self.counted, "persons": self.persons, "roles_missing": self.roles_missing,
                "ignored": [{"approver": a, "why": w} for a, w in self.ignored], "rejected_by": self.rejected_by,
                "conditions_required": self.conditions_required, "conditions_unmet": self.conditions_unmet,
                "satisfied": self.satisfied, "tier": self.tier.describe(),
                "value_usd": None if self.value_usd is None else format(self.value_usd, "f"),
                "tier_reason": self.tier_reason, "still_needed": still_needed(self._counts())}

    def _counts(self) -> dict:
        return {"needed": self.tier.approvers, "counted": self.counted, "roles_missing": self.roles_missing,
                "conditions_unmet": self.conditions_unmet, "rejected_by": self.rejected_by}


# -- what an approval still needs, in words: one home for the CLI, the web queue and the signer's messages
def missing_text(a: dict) -> str:
    """The signer's and ``queue approve``'s words (``a``: :meth:`ApprovalState.to_dict`)."""
    parts = []
    if len(a["counted"]) < a["needed"]:
        parts.append(f"{len(a['counted'])} of {plural(a['needed'], 'approval')}")
    if a["roles_missing"]:
        parts.append(f"no approver with role {', '.join(a['roles_missing'])}")
    if a["conditions_unmet"]:
        parts.append(f"conditions unmet: {', '.join(a['conditions_unmet'])}")
    if a["rejected_by"]:
        parts.append(f"rejected by {', '.join(a['rejected_by'])}")
    return "; ".join(parts) or "nothing missing"


def still_needed(a: dict | None) -> list[str]:
    """What an approval still needs, one phrase each: the one wording that ``queue list``, ``case show``
    and the web queue print (``a``: :meth:`ApprovalState.to_dict`, or ``case show``'s approvals part).

    Approvals and roles are said together ("3 more approvals, one with role senior"): a missing role
    is met by one of the approvals still to come, never on top of them, unless enough are in."""
    if not a:
        return ["a plan (prepare the case)"]
    more = max(int(a.get("needed") or 0) - len(a.get("counted") or []), 0)
    roles = list(a.get("roles_missing") or [])
    role_words = f"role {roles[0]}" if len(roles) == 1 else f"roles {', '.join(roles)}"
    parts = []
    if more and roles:
        parts.append(f"{plural(more, 'more approval')}, {'one' if len(roles) == 1 or more == 1 else 'among them'} "
                     f"with {role_words}")
    elif more:
        parts.append(plural(more, "more approval"))
    elif roles:
        parts.append(f"an approval with {role_words}")
    if a.get("conditions_unmet"):
        parts.append("conditions unmet: " + ", ".join(a["conditions_unmet"]))
    if a.get("rejected_by"):
        parts.append("rejected by " + ", ".join(a["rejected_by"]))
    return parts


def still_needs(a: dict | None) -> str:
    """:func:`still_needed` on one line (the web queue's and ``queue list``'s "still needs" column)."""
    return "; ".join(still_needed(a)) or "nothing: ready to sign"


def queue_columns(a: dict | None) -> tuple[str, str]:
    """``queue list``'s "approvals" and "still needs" columns (``a``: :meth:`ApprovalState.to_dict`)."""
    if not a:
        return "", still_needs(a)
    return f"{len(a.get('counted') or [])} of {a.get('needed')}", still_needs(a)


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


def value_tier(verifier: StatementChecker, sc: SignedCase, policy: ApprovalPolicy, net) -> tuple[Tier, Decimal | None, str]:
    """The tier of a case: its value from the quote's gross at a price signed by a pricer who is not
    the preparer; the top tier when there is no such price."""
    top = policy.tier_for(None)
    q, facts = sc.quote_fields, sc.facts
    if not q or not facts:
        return top, None, "no signed quote: top tier"
    expected = price_key(net, facts[0].get("asset") or NATIVE)
    if q.get("asset_key") != expected:
        return top, None, f"the quote prices {q.get('asset_key')!r}, not the deposit's asset {expected!r}: top tier"
    for h in sc.quote.body.get("prices") or []:
        signed = verifier.signed_by_hash(h)[0]
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
    """The conditions a case's approval waits for: its network's, and a review when a flag asks for one.

    A shared-wallet (memo) network's ``shared_address_memo`` is met by verification itself (the ledger's
    memo against the signed memo registry); its ``ownership_proof`` is asked of a *credit* only (a refund
    goes back to the very address that sent the deposit), and a reviewer's ``manual_review`` sign-off
    may stand in for it, as exchanges accept either."""
    required = list(net.conditions)
    if getattr(net, "deposit_model", "per_address") == "shared_memo":
        required = [c for c in required if c not in ("shared_address_memo", "ownership_proof")]
        if sc.claim_fields.get("credit_account") and "ownership_proof" in net.conditions \
                and REVIEWED not in required:
            required.append(REVIEWED if REVIEWED in sc.conditions else "ownership_proof")
    if sc.flags and REVIEWED not in required:  # e.g. a look-alike destination
        required.append(REVIEWED)
    return required


def state_of(verifier: StatementChecker, sc: SignedCase, policy: ApprovalPolicy, net, plan_hash: str) -> ApprovalState:
    tier, value, why = value_tier(verifier, sc, policy, net)
    return evaluate(plan_hash=plan_hash, preparer_person=sc.preparer_person, tier=tier, decisions=sc.decisions,
                    conditions_required=required_conditions(net, sc), conditions=sc.conditions, value_usd=value,
                    tier_reason=why)
