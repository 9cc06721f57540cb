"""Conditions of conditional networks, satisfied and recorded before the queue can approve.

- ``ownership_proof``: the sending address signs (EIP-191) a message naming the case and where
  the money goes; ``prove`` checks it recovers to the deposit's sender.
- ``manual_review``: a sign-off by an operator with the role ``reviewer`` (not the preparer).
- every other condition: a recorded sign-off naming who and why.

The operations ``prove`` and ``signoff`` run through ``recover.casework.runner.run``: :func:`check_proof` and
:func:`check_signoff` are their argument checks (named before the case's status is), then the runner
checks the status the operations table accepts, then :func:`prove_ownership` / :func:`sign_off` record.
"""

from __future__ import annotations

from sqlmodel import Session, select

from chains.base import Capability
from chains.errors import ChainError
from recover.authority.acting import attest, case_subject
from recover.authority.signed_case import newest_statement
from recover.casework.approvals import case_state
from recover.casework.destinations import CONTRACT_ALLOWED
from recover.casework.sweeps import case_facts
from recover.casework.transitions import move
from recover.errors import DuplicateClaim, InvalidInput, PolicyRefused
from recover.life.condition_names import SIGNED_OFF
from recover.life.shared_rules import ownership_message  # noqa: F401 - one rule, the read path's too
from recover.networks.chainio import adapter
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.models import Case, CaseCondition


def _record(session: Session, case: Case, condition: str, *, actor: str, reason: str, evidence: dict) -> CaseCondition:
    if session.exec(select(CaseCondition).where(CaseCondition.case_id == case.id,
                                                CaseCondition.condition == condition)).first():
        raise DuplicateClaim(f"condition {condition} of case {case.id} is already recorded", code="duplicate_condition")
    record = attest(actor, session, "condition", case_subject(case.id),
                    {"case": case.id, "claim": newest_statement(session, case.id, ("claim", "reopen")),
                     "condition": condition, "reason": reason, "evidence": evidence})
    row = CaseCondition(case_id=case.id, condition=condition, satisfied_by=actor, reason=reason, evidence=evidence,
                        statement=record.hash)
    session.add(row)
    session.flush()
    append_event(session, actor=actor, action="condition_met", case_id=case.id,
                 details={"condition": condition, "reason": reason, "evidence": evidence, "statement": record.hash})
    if case.status == "awaiting_approval":  # approvals may come before the manual review: the last one approves
        state = case_state(session, case)
        if state is not None and state.satisfied:
            move(session, case, "approved", op=_operation(condition), actor=actor, action="approved",
                 details={"approvers": state.counted, "plan_hash": state.plan_hash})
    return row


def _operation(condition: str) -> str:
    return "prove" if condition == "ownership_proof" else "signoff"


def _requires(case: Case, condition: str) -> None:
    net = get_network(case.network)
    if condition not in net.conditions:
        raise InvalidInput(f"{net.key} does not require {condition} (its conditions: "
                           f"{', '.join(net.conditions) or 'none'})", code="condition_not_required")


def check_proof(case: Case) -> None:
    """Before ``prove``'s status check: the case's network requires an ownership proof."""
    _requires(case, "ownership_proof")


def prove_ownership(session: Session, case: Case, signature: str, *, actor: str) -> CaseCondition:
    """The sender signs ``ownership_message(case)``: EIP-191 on EVM, Bitcoin ``signmessage`` on UTXO
    networks (by the address of the deposit's first input), ed25519 on Solana."""
    net = get_network(case.network)
    sender = case_facts(session, case)[0].sender
    message = ownership_message(case)
    signature = signature.strip()
    if sender is None:
        raise PolicyRefused("the deposit's sender is not known, so ownership cannot be proven by signature",
                            code="ownership_not_proven")
    chain = adapter(net)
    if not chain.can(Capability.OWNERSHIP_PROOF):
        raise PolicyRefused(f"{net.key} has no signed-message format to prove ownership with",
                            code="ownership_not_proven")
    try:
        check = chain.verify_ownership(message, signature, sender)
    except ChainError as exc:
        raise InvalidInput(str(exc), code="bad_signature") from None
    ok, scheme, signer = check.ok, check.scheme, check.signer or sender
    if not ok:
        raise PolicyRefused(f"the signature is not a {scheme} signature of the case's message by the sending "
                            f"address {sender}", code="ownership_not_proven")
    return _record(session, case, "ownership_proof", actor=actor, reason=f"{scheme} signature by the sender",
                   evidence={"message": message, "signature": signature, "signer": signer, "scheme": scheme})


def check_signoff(case: Case, condition: str) -> None:
    """Before ``signoff``'s status check: a condition a sign-off satisfies, and one this case needs."""
    if condition not in SIGNED_OFF:
        how = {"ownership_proof": "`recover case prove ID --signature SIG`"}.get(condition)
        raise InvalidInput(f"{condition} is satisfied by {how}, not by a sign-off" if how
                           else f"unknown condition {condition!r}: a sign-off is for one of {', '.join(SIGNED_OFF)}",
                           code="invalid_condition")
    # allowed on any network: for this case's destination only, or because a flag asks for a review
    # a shared-wallet credit takes a reviewer's sign-off instead of the sender's proof
    memo_credit = (condition == "manual_review" and case.credit_account is not None
                   and get_network(case.network).deposit_model == "shared_memo")
    if not (condition == CONTRACT_ALLOWED or (condition == "manual_review" and case.flags) or memo_credit):
        _requires(case, condition)


def sign_off(session: Session, case: Case, condition: str, reason: str, *, actor: str) -> CaseCondition:
    """Record a reviewer's sign-off (after :func:`check_signoff` and the runner's status check)."""
    if not (reason or "").strip():
        raise InvalidInput("a sign-off needs --reason saying why", code="reason_required")
    return _record(session, case, condition, actor=actor, reason=reason.strip(), evidence={})
