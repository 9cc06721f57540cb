"""The transition table is the only judge of legal moves (pure: no database)."""

import itertools

import pytest

from recover.errors import IllegalTransition
from recover.life.states import OPERATIONS, TERMINAL, TRANSITIONS, CaseStatus, check_operation, check_transition

S = CaseStatus

LEGAL = {
    (S.OPEN, S.VERIFIED), (S.OPEN, S.UNRECOVERABLE), (S.OPEN, S.REJECTED),
    (S.VERIFIED, S.QUOTED), (S.VERIFIED, S.UNRECOVERABLE), (S.VERIFIED, S.REJECTED),
    (S.QUOTED, S.AWAITING_APPROVAL), (S.QUOTED, S.UNRECOVERABLE), (S.QUOTED, S.REJECTED),
    (S.AWAITING_APPROVAL, S.APPROVED), (S.AWAITING_APPROVAL, S.QUOTED),
    (S.AWAITING_APPROVAL, S.UNRECOVERABLE), (S.AWAITING_APPROVAL, S.REJECTED),
    (S.APPROVED, S.SIGNED), (S.APPROVED, S.AWAITING_APPROVAL), (S.APPROVED, S.QUOTED),
    (S.APPROVED, S.UNRECOVERABLE), (S.APPROVED, S.REJECTED),
    (S.SIGNED, S.BROADCAST), (S.SIGNED, S.FAILED),
    (S.BROADCAST, S.COMPLETED), (S.BROADCAST, S.FAILED),
    # same-state moves: re-quote, a replaced plan, signing again a plan that never reached the chain
    (S.QUOTED, S.QUOTED), (S.AWAITING_APPROVAL, S.AWAITING_APPROVAL), (S.SIGNED, S.SIGNED),
    # plan again while the money is still at the deposit; a dropped transaction that landed after all
    (S.SIGNED, S.VERIFIED), (S.BROADCAST, S.VERIFIED), (S.FAILED, S.COMPLETED),
    # `case close` by an admin quorum of a signed case none of whose transactions was sent
    (S.SIGNED, S.REJECTED), (S.SIGNED, S.UNRECOVERABLE),
    # a shared-wallet credit: a plan without transactions, carried out by its signing
    (S.APPROVED, S.COMPLETED),
}


@pytest.mark.parametrize("src,dst", sorted(LEGAL))
def test_every_legal_move_is_allowed(src, dst):
    assert check_transition(src, dst) is dst
    assert check_transition(src.value, dst.value) is dst


@pytest.mark.parametrize("src,dst", [p for p in itertools.product(S, S) if p not in LEGAL])
def test_every_other_move_is_refused(src, dst):
    with pytest.raises(IllegalTransition) as info:
        check_transition(src, dst)
    assert info.value.exit_code == 5
    assert src.value in str(info.value) and dst.value in str(info.value)


def test_table_is_exactly_the_documented_life():
    assert {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts} == LEGAL
    assert TERMINAL == {S.COMPLETED, S.REJECTED, S.UNRECOVERABLE}


def test_happy_path_reaches_completed():
    path = [S.OPEN, S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED, S.SIGNED, S.BROADCAST, S.COMPLETED]
    for a, b in zip(path, path[1:]):
        check_transition(a, b)


def test_unknown_status_is_refused():
    with pytest.raises(IllegalTransition):
        check_transition("open", "teleported")


# The statuses each operation that takes a case accepts, written out independently of the operations
# table (recover/life/operations.py).
ACCEPTS = {
    "verify": {S.OPEN},
    "quote": {S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED},
    "prepare": {S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED},
    "approve": {S.AWAITING_APPROVAL, S.APPROVED},
    "reject": {S.AWAITING_APPROVAL, S.APPROVED},
    "prove": {S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED},
    "signoff": {S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED},
    "sign": {S.APPROVED, S.SIGNED},
    "export": {S.APPROVED},
    "import-signed": {S.APPROVED},
    "broadcast": {S.SIGNED, S.BROADCAST},
    "track": {S.BROADCAST, S.FAILED},
    "close": {S.OPEN, S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL},
    "close-by-admins": {S.OPEN, S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED, S.SIGNED},
    "reopen": {S.REJECTED, S.UNRECOVERABLE, S.FAILED},
}


@pytest.mark.parametrize("operation,status", [(o, s) for o in sorted(ACCEPTS) for s in S])
def test_each_operation_accepts_exactly_its_states(operation, status):
    if status in ACCEPTS[operation]:
        assert check_operation(operation, 7, status) is status
    else:
        with pytest.raises(IllegalTransition) as info:
            check_operation(operation, 7, status)
        assert info.value.exit_code == 5
        assert info.value.code == OPERATIONS[operation].refusal
        assert f"case 7 is '{status.value}'" in str(info.value)


def test_every_operation_is_in_the_table():
    assert {name for name, op in OPERATIONS.items() if op.accepts} == set(ACCEPTS)
