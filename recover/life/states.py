"""The case life of DESIGN.md as pure checks, derived from the operations table.

``TRANSITIONS`` (the moves of the case life) and ``REOPENS`` (the ways out of an end) are the union of
the moves the operations of :mod:`recover.life.operations` may make, so no move exists that no operation
takes.  ``check_transition`` is the only judge of whether a move is legal and ``check_operation`` of
whether an operation may start on a case; persisting a move (optimistically, with its audit event) is
``recover.casework.transitions``' job.  Same-state moves (re-quote, re-prepare, re-sign) are moves like any
other: listed, made by ``move``, audited.
"""

from __future__ import annotations

from recover.errors import IllegalTransition
from recover.life.operations import OPERATIONS, CaseStatus

S = CaseStatus


def _moves(*, reopens: bool) -> dict[CaseStatus, frozenset[CaseStatus]]:
    out: dict[CaseStatus, set[CaseStatus]] = {s: set() for s in CaseStatus}
    for op in OPERATIONS.values():
        if op.reopens == reopens:
            for a, b in op.moves:
                out[a].add(b)
    return {s: frozenset(t) for s, t in out.items() if t or not reopens}


#: from-status -> statuses it may move to.  Ends have no way out (but ``case reopen``, below).
#: ``quoted`` is reachable again from later pre-signing states: a re-quote voids plan and approvals.
#: A status listed among its own targets is a same-state move: re-quote (quoted), a replaced plan
#: (awaiting_approval), signing again a plan none of whose transactions reached the chain (signed).
#: ``signed``/``broadcast`` -> ``verified``: a transaction of the plan can no longer succeed (its nonce
#: was taken, it was dropped for good) while the money is still at the deposit: plan again.
#: ``failed`` -> ``completed``: a transaction given up on landed after all.
#: -> ``rejected`` / ``unrecoverable`` before any transaction is sent: ``case close``.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = _moves(reopens=False)

TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

#: The only way out of an end other than ``completed``: ``case reopen`` (an audited decision with a
#: reason).  Back to ``open`` when nothing was proven yet, to ``verified`` when the deposit's facts are
#: on the case (they are re-checked on chain before anything is signed again).
REOPENS: dict[CaseStatus, frozenset[CaseStatus]] = _moves(reopens=True)


def check_reopen(current: CaseStatus | str, target: CaseStatus | str) -> CaseStatus:
    """Return ``target`` if reopening a case in ``current`` may lead there, else raise."""
    cur, tgt = CaseStatus(current), CaseStatus(target)
    if tgt not in REOPENS.get(cur, frozenset()):
        raise IllegalTransition(f"a case in status '{cur.value}' cannot be reopened"
                                + (f" to '{tgt.value}'" if cur in REOPENS else
                                   " (only rejected, unrecoverable and failed cases can)"),
                                code=OPERATIONS["reopen"].refusal, details={"from": cur.value, "to": tgt.value})
    return tgt


def check_operation(operation: str, case_id: int | None, current: CaseStatus | str) -> CaseStatus:
    """Return the case's status if ``operation`` may start in it (its ``accepts`` in the operations
    table), else raise ``IllegalTransition`` with the operation's refusal code."""
    op = OPERATIONS[operation]
    try:
        cur = CaseStatus(current)
    except ValueError:
        raise IllegalTransition(f"unknown case status {current!r}") from None
    if cur not in op.accepts:
        raise IllegalTransition(f"case {case_id} is '{cur.value}': {op.why}", code=op.refusal,
                                details={"status": cur.value, "operation": operation,
                                         "accepted": sorted(s.value for s in op.accepts)})
    return cur


def check_transition(current: CaseStatus | str, target: CaseStatus | str) -> CaseStatus:
    """Return ``target`` as a status if moving there from ``current`` is legal, else raise."""
    try:
        cur = CaseStatus(current)
        tgt = CaseStatus(target)
    except ValueError as exc:
        raise IllegalTransition(f"unknown case status: {exc}") from None
    if tgt not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or "none (final)"
        raise IllegalTransition(
            f"a case in status '{cur.value}' cannot move to '{tgt.value}' (allowed: {allowed})",
            details={"from": cur.value, "to": tgt.value},
        )
    return tgt


def check_move(operation: str, current: CaseStatus | str, target: CaseStatus | str) -> None:
    """Refuse a move that ``operation`` does not list among its ``moves`` (a legal move of the case
    life made by the wrong operation is a bug, never silently allowed)."""
    op = OPERATIONS[operation]
    if (CaseStatus(current), CaseStatus(target)) not in op.moves:
        raise IllegalTransition(f"{operation} does not move a case from '{CaseStatus(current).value}' to "
                                f"'{CaseStatus(target).value}'", code="illegal_transition",
                                details={"operation": operation, "from": CaseStatus(current).value,
                                         "to": CaseStatus(target).value})
