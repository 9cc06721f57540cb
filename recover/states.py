"""The case life of DESIGN.md as one pure transition table.

``check_transition`` is the only judge of whether a move is legal; persisting it (optimistically,
with its audit event) is ``recover.transitions``' job.
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
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.OPEN: frozenset({S.VERIFIED, S.UNRECOVERABLE, S.REJECTED}),
    S.VERIFIED: frozenset({S.QUOTED, S.UNRECOVERABLE, S.REJECTED}),
    S.QUOTED: frozenset({S.AWAITING_APPROVAL, S.UNRECOVERABLE, S.REJECTED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.QUOTED, S.UNRECOVERABLE, S.REJECTED}),
    S.APPROVED: frozenset({S.SIGNED, S.AWAITING_APPROVAL, S.QUOTED, S.UNRECOVERABLE, S.REJECTED}),
    S.SIGNED: frozenset({S.BROADCAST, S.FAILED}),
    S.BROADCAST: frozenset({S.COMPLETED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.UNRECOVERABLE: frozenset(),
    S.FAILED: frozenset(),
}

TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)


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
