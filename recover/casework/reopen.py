"""Reopening a case that ended without its money moving: rejected, unrecoverable, or failed.

Nothing final by accident: a rejection can be a mistake, a refusal can rest on facts that changed
(the address imported later), a failed sweep can leave the funds where they were.  Reopening is a
recorded decision with a reason; it never moves money by itself.  A case with proven facts goes back
to ``verified`` (quote, prepare and approve again: every approval was of a plan that no longer
counts), one without to ``open`` (verify again).  A failed case is reopened only if its deposit is
still at the deposit address (checked on chain).

The admins re-attest the claim *as it was signed*: the newest valid signed claim (and the facts of
its signed verification), never the case row.  A row that says otherwise (a return address edited in
the database) is refused, so a reopen cannot launder an edit into a signed claim.  What the admins
sign is shown before (``case reopen --preview``) and after.
"""

from __future__ import annotations

from sqlmodel import Session, select

from recover.authority.acting import Verifier, case_subject
from recover.authority.admin_statements import admin_attest, admin_names
from recover.authority.signed_case import load_signed_case
from recover.casework.execution import deposit_still_there
from recover.casework.quoting import supersede_plan
from recover.casework.signer_check import row_problems
from recover.casework.transitions import move
from recover.errors import InvalidInput, PolicyRefused
from recover.life.states import CaseStatus, check_reopen
from recover.networks.chainio import adapter
from recover.networks.registry import get_network
from recover.storage.models import Case, DepositFact


def check_reason(reason: str) -> str:
    """A reopen says why (checked before the case's status: exit 4 ``reason_required``)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reopening a case needs --reason saying why", code="reason_required")
    return reason


def reopen_body(session: Session, case: Case, reason: str) -> tuple[CaseStatus, dict]:
    """The status a reopen leads to and the body the admins sign: the newest valid signed claim and
    the facts of its signed verification, after checking that the rows say the same."""
    reason = check_reason(reason)
    current = CaseStatus(case.status)
    sc = load_signed_case(Verifier(session), case.id)
    has_facts = session.exec(select(DepositFact.id).where(DepositFact.case_id == case.id)).first() is not None
    target = CaseStatus.VERIFIED if has_facts else CaseStatus.OPEN
    check_reopen(current, target)
    problems = list(sc.problems)
    if sc.claim is None:
        problems.insert(0, "it has no valid signed claim to re-attest")
    else:
        problems += row_problems(session, case, sc)
        if has_facts and sc.verification is None:
            problems.append("its deposit facts have no valid signed verification to re-attest")
    if problems:
        raise PolicyRefused(f"case {case.id}: {'; '.join(problems)}; nothing was reopened (the admins re-attest "
                            "only what was signed)", code="row_tampered", details={"problems": problems})
    body = {"case": case.id, "claim": dict(sc.claim_fields), "reopens": sc.claim.hash, "reason": reason,
            "from": current.value}
    if has_facts:
        body["facts"] = sc.facts
        body["flags"] = sc.flags
    return target, body


def reopen_case(session: Session, case: Case, reason: str, *, root, admin_keys: list) -> tuple[Case, dict]:
    """Reopen by an admin quorum: the admins' statement re-attests the signed claim (and the signed
    facts), so what follows rests on it, not on whatever the rows say now.  Returns the case and the
    body the admins signed."""
    target, body = reopen_body(session, case, reason)
    current = CaseStatus(case.status)
    if current == CaseStatus.FAILED:
        deposit_still_there(session, case, adapter(get_network(case.network)), doing="to reopen the case")
    record, signers = admin_attest(session, root, "reopen", case_subject(case.id), body, admin_keys)
    actor = admin_names(root, signers)
    supersede_plan(session, case, actor=actor, why="reopened")  # its approvals stop counting
    moved = move(session, case, target, op="reopen", actor=actor, action="reopened", reopen=True,
                 details={"reason": body["reason"], "from": current.value, "previous_refusal": case.refusal_code,
                          "statement": record.hash, "claim": body["claim"]},
                 extra={"refusal_code": None, "refusal_reason": None, "claim_statement": record.hash})
    return moved, body
