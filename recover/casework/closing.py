"""A way out of every state that is not final: ``case close ID --as rejected|unrecoverable``.

A case can get stuck where no operation moves it (its funds gone from the deposit address, a plan
that cannot be signed, a claim nobody will pursue).  Closing ends it with a reason, as a signed,
audited decision, and can itself be undone by ``case reopen`` if the money comes back:

- before approval (``open``, ``verified``, ``quoted``, ``awaiting_approval``) a reviewer closes it with
  their key (a ``close`` statement), or an admin quorum does;
- after approval (``approved``, ``signed``) only an admin quorum (a ``close_by_admins`` statement),
  and a ``signed`` case only while none of its transactions is known to the node: once one is sent,
  the way on is ``track`` (completed, re-planned, or failed), never a close that the chain could
  contradict.

The close names the case's newest valid signed claim (or none, for a case without one: closing moves
no money, so it is the way out of a case whose statements do not check out too) and, like a rejection,
keeps its effect: the signer refuses a case whose current claim was closed, whatever its row says.
The plan is voided (its approvals stop counting).
"""

from __future__ import annotations

from sqlmodel import Session

from recover.authority.acting import Verifier, attest, case_subject
from recover.authority.admin_statements import admin_attest, admin_names
from recover.authority.signed_case import load_signed_case
from recover.casework.execution import signed_rows
from recover.casework.quoting import supersede_plan
from recover.casework.transitions import move
from recover.errors import IllegalTransition, InvalidInput, PolicyRefused
from recover.life.operations import OPERATIONS
from recover.life.states import TERMINAL, CaseStatus
from recover.networks.chainio import adapter
from recover.networks.registry import get_network
from recover.storage.models import Case

BY_REVIEWER = OPERATIONS["close"].accepts
BY_ADMINS = OPERATIONS["close-by-admins"].accepts
#: what a close ends a case as: where the operations table lets ``close`` move a case
AS = tuple(sorted({to.value for _, to in OPERATIONS["close"].moves}))


def check_close(case: Case, as_status: str, reason: str, *, by_admins: bool) -> None:
    """Before the runner's status check: ``--as`` and ``--reason``, and a refusal that says why this
    case cannot be closed (final, sent, or after approval by a reviewer: exit 7 ``admin_quorum_required``)."""
    if as_status not in AS:
        raise InvalidInput(f"--as must be rejected or unrecoverable, not {as_status!r}", code="invalid_close")
    if not (reason or "").strip():
        raise InvalidInput("closing a case needs --reason saying why", code="reason_required")
    current = CaseStatus(case.status)
    if current not in BY_ADMINS:
        why = ("it is final" if current in TERMINAL
               else "its transactions were sent: track it (`recover case track`) to its end")
        raise IllegalTransition(f"case {case.id} is '{current.value}' and cannot be closed: {why}",
                                code="not_closable", details={"status": current.value})
    if not by_admins and current not in BY_REVIEWER:
        raise PolicyRefused(f"case {case.id} is '{current.value}': after approval a case is closed by a quorum of "
                            "the admins (--admin-key), not by a reviewer", code="admin_quorum_required")


def close_case(session: Session, case: Case, as_status: str, reason: str, *, actor=None, root=None,
               admin_keys: list | None = None) -> Case:
    """Close ``case`` as ``rejected`` or ``unrecoverable`` with ``reason``: by ``actor`` (a reviewer)
    before approval, or by ``admin_keys`` (a quorum of ``root``) at any state in :data:`BY_ADMINS`
    (after :func:`check_close` and the runner's checks)."""
    reason = reason.strip()
    current = CaseStatus(case.status)
    by_admins = bool(admin_keys)
    sc = load_signed_case(Verifier(session, root) if root is not None else Verifier(session), case.id)
    if current == CaseStatus.SIGNED:
        _nothing_sent(session, case)
    # a close moves no money: it is the way out even of a case whose claim does not check out (opened
    # before the statement log, or tampered with); it names the claim it ends when there is one
    body = {"case": case.id, "claim": sc.claim.hash if sc.claim else None, "as": as_status, "reason": reason,
            "from": current.value, "problems": sc.problems[:5]}
    if by_admins:
        record, signers = admin_attest(session, root, "close_by_admins", case_subject(case.id), body, admin_keys)
        who = admin_names(root, signers)
    else:
        record, who = attest(actor, session, "close", case_subject(case.id), body), actor
    supersede_plan(session, case, actor=who, why=f"closed as {as_status}")
    return move(session, case, as_status, op="close-by-admins" if by_admins else "close", actor=who, action="closed",
                details={"as": as_status, "reason": reason, "from": current.value, "statement": record.hash},
                extra={"refusal_code": "closed", "refusal_reason": f"closed as {as_status}: {reason}"})


def _nothing_sent(session: Session, case: Case) -> None:
    """A signed case is closed only while the node knows none of its transactions."""
    chain = adapter(get_network(case.network))
    for row in signed_rows(session, case.id):
        if row.status != "signed" or chain.tx_status(row.txid).found:
            raise IllegalTransition(f"case {case.id}: transaction {row.txid} was sent; the case cannot be closed: "
                                    "track it (`recover case track`) to its end", code="not_closable")
