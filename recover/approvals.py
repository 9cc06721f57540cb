"""Maker-checker: approvers, their Ed25519 signatures over plan hashes, and the derived status.

An approval is a row holding the signed canonical JSON {case_id, plan_hash, decision, approver,
time} and its signature.  Whether a case has enough approvals is never stored: ``evaluate`` derives
it every time from the rows, checking each signature against the approver's registered key, so a
forged or altered row, a revoked approver, a self-approval or an approval of an older plan simply
does not count.  Private keys stay in the approver's key file (mode 0600), never in the database.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.audit import append_event
from recover.canonical import canonical_json
from recover.errors import DuplicateClaim, IllegalTransition, InvalidInput, NotFound, PolicyRefused
from recover.models import Approval, Approver, Case, CaseCondition, utcnow
from recover.policy import ApprovalPolicy, Tier

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
REVIEWER = "reviewer"


# -- keys ----------------------------------------------------------------------------------------
def _check_name_role(name: str, role: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidInput(f"approver name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    if not _ROLE.match(role or ""):
        raise InvalidInput(f"role {role!r} is not valid (lowercase letters, digits, _ -)", code="invalid_role")


def _public_hex(text: str) -> str:
    from nacl.exceptions import CryptoError
    from nacl.signing import VerifyKey

    h = (text or "").strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{64}", h):
        raise InvalidInput("public key must be 32 bytes in hex (64 hex digits)", code="invalid_public_key")
    try:
        VerifyKey(bytes.fromhex(h))
    except (CryptoError, ValueError):
        raise InvalidInput("public key is not a valid Ed25519 key", code="invalid_public_key") from None
    return h


def write_key_file(path: Path, name: str) -> str:
    """Create an Ed25519 key, write it to ``path`` encrypted with the key-file passphrase (0600, never
    overwriting: :mod:`recover.keyfile`); return the public key."""
    from nacl.signing import SigningKey

    from recover.keyfile import write_encrypted

    key = SigningKey.generate()
    public = key.verify_key.encode().hex()
    write_encrypted(path, bytes(key.encode()), public, name=name)
    return public


def load_key_file(path: Path):
    """The signing key in an approver's key file (refused if others can read it, or the passphrase
    does not open it)."""
    from nacl.signing import SigningKey

    from recover.keyfile import read_encrypted

    private, doc = read_encrypted(Path(path))
    key = SigningKey(private)
    if key.verify_key.encode().hex() != doc.get("public_key"):
        raise InvalidInput(f"{path}: the key does not match the public key the file names", code="bad_key_file")
    return key


def register(session: Session, name: str, public_key: str, role: str, *, actor: str) -> Approver:
    _check_name_role(name, role)
    public = _public_hex(public_key)
    if session.exec(select(Approver).where(Approver.name == name)).first():
        raise DuplicateClaim(f"approver {name} already exists", code="duplicate_approver")
    if session.exec(select(Approver).where(Approver.public_key == public)).first():
        raise DuplicateClaim("this public key is already registered to another approver", code="duplicate_key")
    row = Approver(name=name, public_key=public, role=role, added_by=actor)
    session.add(row)
    session.flush()
    append_event(session, actor=actor, action="approver_added", details={"name": name, "role": role,
                                                                          "public_key": public})
    return row


def revoke(session: Session, name: str, *, actor: str) -> Approver:
    row = session.exec(select(Approver).where(Approver.name == name)).first()
    if row is None:
        raise NotFound(f"no approver {name}", code="approver_not_found")
    if row.revoked_at is not None:
        raise IllegalTransition(f"approver {name} is already revoked", code="already_revoked")
    row.revoked_at = utcnow()
    session.add(row)
    append_event(session, actor=actor, action="approver_revoked", details={"name": name})
    return row


# -- the signed statement ------------------------------------------------------------------------
def statement(case_id: int, plan_hash: str, decision: str, approver: str, time: str) -> str:
    return canonical_json({"case_id": case_id, "plan_hash": plan_hash, "decision": decision,
                           "approver": approver, "time": time})


def sign_statement(key, text: str) -> str:
    return key.sign(text.encode("utf-8")).signature.hex()


def signature_ok(public_hex: str, text: str, signature_hex: str) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(bytes.fromhex(public_hex)).verify(text.encode("utf-8"), bytes.fromhex(signature_hex))
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


# -- derived status (pure) -----------------------------------------------------------------------
@dataclass
class ApprovalState:
    plan_hash: str
    tier: Tier
    counted: list[str] = field(default_factory=list)
    roles_present: set[str] = field(default_factory=set)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (approver, why it does not count)
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
            parts.append(f"{len(self.counted)} of {self.tier.approvers} approvals")
        if self.roles_missing:
            parts.append(f"no approver with role {', '.join(self.roles_missing)}")
        if self.conditions_unmet:
            parts.append(f"conditions unmet: {', '.join(self.conditions_unmet)}")
        if self.rejected_by:
            parts.append(f"rejected by {', '.join(self.rejected_by)}")
        return "; ".join(parts) or "nothing missing"

    def to_dict(self) -> dict:
        return {"plan_hash": self.plan_hash, "needed": self.tier.approvers, "roles_required": list(self.tier.roles),
                "counted": self.counted, "roles_missing": self.roles_missing,
                "ignored": [{"approver": a, "why": w} for a, w in self.ignored], "rejected_by": self.rejected_by,
                "conditions_required": self.conditions_required, "conditions_unmet": self.conditions_unmet,
                "satisfied": self.satisfied, "tier": self.tier.describe()}


def evaluate(*, case_id: int, plan_hash: str, preparer: str | None, tier: Tier, rows: list[tuple[Approval, Approver]],
             conditions_required: list[str], conditions_recorded: list[str]) -> ApprovalState:
    state = ApprovalState(plan_hash=plan_hash, tier=tier, conditions_required=list(conditions_required))
    reviewer_ok = False
    seen: set[int] = set()
    for appr, who in rows:
        why = None
        try:
            signed = json.loads(appr.signed_payload)
        except ValueError:
            signed = {}
        if appr.plan_hash != plan_hash or signed.get("plan_hash") != plan_hash:
            why = "approved an older plan"
        elif signed.get("case_id") != case_id or signed.get("approver") != who.name or \
                signed.get("decision") != appr.decision:
            why = "signed statement does not match the approval"
        elif not signature_ok(who.public_key, statement(case_id, plan_hash, appr.decision, who.name,
                                                         str(signed.get("time"))), appr.signature):
            why = "signature does not verify with the approver's key"
        elif who.revoked_at is not None:
            why = "approver revoked"
        elif preparer is not None and who.name == preparer:
            why = "the preparer cannot approve their own case"
        elif who.id in seen:
            why = "counted once per plan"
        if why:
            state.ignored.append((who.name, why))
            continue
        seen.add(who.id)
        if appr.decision == "reject":
            state.rejected_by.append(who.name)
            continue
        state.counted.append(who.name)
        state.roles_present.add(who.role)
        if who.role == REVIEWER:
            reviewer_ok = True
    met = list(conditions_recorded)
    if "manual_review" in conditions_required and reviewer_ok:
        met.append("manual_review")
    state.conditions_met = met
    return state


# -- service --------------------------------------------------------------------------------------
def value_usd_of(details: dict | None) -> Decimal | None:
    v = (details or {}).get("value_usd")
    return None if v in (None, "") else Decimal(v)


def case_state(session: Session, case: Case, policy: ApprovalPolicy) -> ApprovalState | None:
    from recover.planning import current_plan, current_quote
    from recover.registry import get_network

    plan = current_plan(session, case)
    if plan is None:
        return None
    quote = current_quote(session, case)
    tier = policy.tier_for(value_usd_of(quote.details if quote else None))
    rows = list(session.exec(select(Approval, Approver).join(Approver, Approval.approver_id == Approver.id)
                             .where(Approval.case_id == case.id).order_by(Approval.id)))
    net = get_network(case.network)
    recorded = [c.condition for c in session.exec(select(CaseCondition).where(CaseCondition.case_id == case.id))]
    required = list(net.conditions)
    if case.flags and "manual_review" not in required:  # e.g. a look-alike destination: a reviewer must look
        required.append("manual_review")
    return evaluate(case_id=case.id, plan_hash=plan.plan_hash, preparer=case.prepared_by, tier=tier, rows=rows,
                    conditions_required=required, conditions_recorded=recorded)


def submit(session: Session, case: Case, *, approver: Approver, decision: str, signed_payload: str, signature: str,
           reason: str | None, policy: ApprovalPolicy, actor: str) -> ApprovalState:
    """Record one approver's signed decision on the case's current plan, after checking everything."""
    from recover.planning import current_plan
    from recover.transitions import move

    if case.status not in ("awaiting_approval", "approved"):
        raise IllegalTransition(f"case {case.id} is '{case.status}': nothing awaits approval", code="not_awaiting")
    plan = current_plan(session, case)
    if plan is None:
        raise IllegalTransition(f"case {case.id} has no plan", code="no_plan")
    if approver.revoked_at is not None:
        raise PolicyRefused(f"approver {approver.name} is revoked", code="approver_revoked")
    if approver.name == case.prepared_by:
        raise PolicyRefused(f"{approver.name} prepared case {case.id} and cannot approve it", code="self_approval")
    try:
        signed = json.loads(signed_payload)
    except ValueError:
        raise InvalidInput("the signed statement is not JSON", code="bad_statement") from None
    expected = statement(case.id, signed.get("plan_hash", ""), decision, approver.name, str(signed.get("time")))
    if signed_payload != expected or not signature_ok(approver.public_key, signed_payload, signature):
        raise PolicyRefused(f"the signature is not {approver.name}'s over this statement (forged or wrong key)",
                            code="bad_signature")
    if signed.get("plan_hash") != plan.plan_hash:
        raise PolicyRefused(f"the approval is for plan {str(signed.get('plan_hash'))[:16]}…, but the case's current "
                            f"plan is {plan.plan_hash[:16]}…: approvals of an older plan do not count",
                            code="stale_plan")
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject")
    if decision == "reject" and not (reason or "").strip():
        raise InvalidInput("a rejection needs --reason", code="reason_required")
    if decision == "approve":
        pre = case_state(session, case, policy)
        unmet = [c for c in pre.conditions_unmet if not (c == "manual_review" and approver.role == REVIEWER)]
        if unmet and any(c != "manual_review" for c in unmet):
            raise PolicyRefused(f"case {case.id} cannot be approved yet: conditions unmet: "
                                f"{', '.join(c for c in unmet if c != 'manual_review')}", code="condition_unmet")
    if session.exec(select(Approval).where(Approval.case_id == case.id, Approval.plan_hash == plan.plan_hash,
                                           Approval.approver_id == approver.id)).first():
        raise DuplicateClaim(f"{approver.name} has already decided on this plan", code="duplicate_approval")
    session.add(Approval(case_id=case.id, plan_hash=plan.plan_hash, approver_id=approver.id, decision=decision,
                         reason=reason, signed_payload=signed_payload, signature=signature))
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise DuplicateClaim(f"{approver.name} has already decided on this plan", code="duplicate_approval") from None
    append_event(session, actor=actor, action=f"plan_{decision}d" if decision == "approve" else "plan_rejected",
                 case_id=case.id, details={"approver": approver.name, "role": approver.role,
                                           "plan_hash": plan.plan_hash, "reason": reason, "signature": signature})
    state = case_state(session, case, policy)
    if decision == "reject":
        move(session, case, "rejected", actor=actor, action="rejected",
             details={"by": approver.name, "reason": reason},
             extra={"refusal_code": "rejected", "refusal_reason": f"rejected by {approver.name}: {reason}"})
    elif state.satisfied and case.status == "awaiting_approval":
        move(session, case, "approved", actor=actor, action="approved",
             details={"approvers": state.counted, "plan_hash": plan.plan_hash})
    return state


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
