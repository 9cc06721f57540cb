"""The case life of DESIGN.md as one pure table: the moves, and which states each operation accepts.

``check_transition`` is the only judge of whether a move is legal and ``check_operation`` of whether an
operation may start on a case; persisting a move (optimistically, with its audit event) is
``recover.transitions``' job.  Same-state moves (re-quote, re-prepare, re-sign) are moves like any
other: listed here, made by ``move``, audited.
"""

from __future__ import annotations

from enum import Enum

from recover.errors import IllegalTransition


class CaseStatus(str, Enum):
    OPEN = "open"
    VERIFIED = "verified"
    QUOTED = "quoted"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    COMPLETED = "completed"
    REJECTED = "rejected"
    UNRECOVERABLE = "unrecoverable"
    FAILED = "failed"


S = CaseStatus

#: from-status -> statuses it may move to.  Ends have no way out.
#: ``quoted`` is reachable again from later pre-signing states: a re-quote voids plan and approvals.
#: A status listed among its own targets is a same-state move: re-quote (quoted), a replaced plan
#: (awaiting_approval), signing again a plan none of whose transactions reached the chain (signed).
#: ``signed``/``broadcast`` -> ``verified``: a transaction of the plan can no longer succeed (its nonce
#: was taken, it was dropped for good) while the money is still at the deposit: plan again.
#: ``failed`` -> ``completed``: a transaction given up on landed after all.
#: ``signed`` -> ``rejected`` / ``unrecoverable``: ``case close`` by an admin quorum while none of its
#: transactions was sent (``recover.closing``); every state before it can be closed too.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.OPEN: frozenset({S.VERIFIED, S.UNRECOVERABLE, S.REJECTED}),
    S.VERIFIED: frozenset({S.QUOTED, S.UNRECOVERABLE, S.REJECTED}),
    S.QUOTED: frozenset({S.QUOTED, S.AWAITING_APPROVAL, S.UNRECOVERABLE, S.REJECTED}),
    S.AWAITING_APPROVAL: frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.QUOTED, S.UNRECOVERABLE, S.REJECTED}),
    S.APPROVED: frozenset({S.SIGNED, S.AWAITING_APPROVAL, S.QUOTED, S.UNRECOVERABLE, S.REJECTED}),
    S.SIGNED: frozenset({S.SIGNED, S.BROADCAST, S.FAILED, S.VERIFIED, S.UNRECOVERABLE, S.REJECTED}),
    S.BROADCAST: frozenset({S.COMPLETED, S.FAILED, S.VERIFIED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.UNRECOVERABLE: frozenset(),
    S.FAILED: frozenset({S.COMPLETED}),
}

TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

#: The only way out of an end other than ``completed``: ``case reopen`` (an audited decision with a
#: reason).  Back to ``open`` when nothing was proven yet, to ``verified`` when the deposit's facts are
#: on the case (they are re-checked on chain before anything is signed again).
REOPENS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.REJECTED: frozenset({S.OPEN, S.VERIFIED}),
    S.UNRECOVERABLE: frozenset({S.OPEN, S.VERIFIED}),
    S.FAILED: frozenset({S.VERIFIED}),
}


def check_reopen(current: CaseStatus | str, target: CaseStatus | str) -> CaseStatus:
    """Return ``target`` if reopening a case in ``current`` may lead there, else raise."""
    cur, tgt = CaseStatus(current), CaseStatus(target)
    if tgt not in REOPENS.get(cur, frozenset()):
        raise IllegalTransition(f"a case in status '{cur.value}' cannot be reopened"
                                + (f" to '{tgt.value}'" if cur in REOPENS else
                                   " (only rejected, unrecoverable and failed cases can)"),
                                code="not_reopenable", details={"from": cur.value, "to": tgt.value})
    return tgt

#: operation -> the statuses a case may be in for it to start, and the error code when it is not.
OPERATIONS: dict[str, tuple[frozenset[CaseStatus], str, str]] = {
    "verify": (frozenset({S.OPEN}), "not_open", "only open cases are verified"),
    "quote": (frozenset({S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED}), "not_quotable",
              "only verified cases (or quoted ones not yet signed) can be quoted"),
    "prepare": (frozenset({S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED}), "not_preparable",
                "only quoted cases can be prepared"),
    "decide": (frozenset({S.AWAITING_APPROVAL, S.APPROVED}), "not_awaiting", "nothing awaits approval"),
    "condition": (frozenset({S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED}), "not_verified",
                  "conditions are recorded on verified cases"),
    "sign": (frozenset({S.APPROVED, S.SIGNED}), "not_approved", "only approved cases are signed"),
    "export": (frozenset({S.APPROVED}), "not_approved", "only approved plans are exported or imported"),
    "import_signed": (frozenset({S.APPROVED}), "not_approved", "only approved plans are exported or imported"),
    "broadcast": (frozenset({S.SIGNED, S.BROADCAST}), "not_signed", "only signed cases are broadcast"),
    "track": (frozenset({S.BROADCAST, S.FAILED}), "not_broadcast",
              "only broadcast cases (and failed ones, whose transactions may still land) are tracked"),
}


def check_operation(operation: str, case_id: int | None, current: CaseStatus | str) -> CaseStatus:
    """Return the case's status if ``operation`` may start in it, else raise ``IllegalTransition``."""
    accepted, code, why = OPERATIONS[operation]
    try:
        cur = CaseStatus(current)
    except ValueError:
        raise IllegalTransition(f"unknown case status {current!r}") from None
    if cur not in accepted:
        raise IllegalTransition(f"case {case_id} is '{cur.value}': {why}", code=code,
                                details={"status": cur.value, "operation": operation,
                                         "accepted": sorted(s.value for s in accepted)})
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
