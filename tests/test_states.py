"""The transition table is the only judge of legal moves (pure: no database)."""

import itertools

import pytest

from recover.errors import IllegalTransition
from recover.states import TERMINAL, TRANSITIONS, CaseStatus, check_transition

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
    assert TERMINAL == {S.COMPLETED, S.REJECTED, S.UNRECOVERABLE, S.FAILED}


def test_happy_path_reaches_completed():
    path = [S.OPEN, S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED, S.SIGNED, S.BROADCAST, S.COMPLETED]
    for a, b in zip(path, path[1:]):
        check_transition(a, b)


def test_unknown_status_is_refused():
    with pytest.raises(IllegalTransition):
        check_transition("open", "teleported")
