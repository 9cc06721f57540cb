"""Issue 21, item 7: one error code, one exit code, whatever the path.

Scripts branch on the JSON error's ``code`` and on the exit status; a code that exits 5 on one path and
7 on another (``approvals_missing`` did, by the case's status) breaks them.  The collector
(``tests/support/error_codes.py``, shared with the docs' coverage test) reads the source and finds
every code with the exit code of what raises it; this asserts that no code has two.
"""

from __future__ import annotations

from error_codes import codes_and_exits


def test_the_scan_sees_the_raise_sites_it_must():
    found = codes_and_exits()
    assert any("recover/casework/signer_check.py" in w for _, w in found["approvals_missing"])
    assert any("recover/casework/execution.py" in w for _, w in found["approvals_missing"])
    assert {e for e, _ in found["not_ours"]} == {6}
    assert len(found) > 150, len(found)


#: Codes allowed more than one exit code (none: an admin's key enrolled as an operator key is
#: ``admin_key_as_operator``, exit 4; a key enrolled twice ``duplicate_key``, exit 5).
KNOWN: set[str] = set()


def test_every_error_code_has_one_exit_code():
    conflicts = {code: sorted(sites) for code, sites in codes_and_exits().items() if len({e for e, _ in sites}) > 1}
    new = {code: sites for code, sites in conflicts.items() if code not in KNOWN}
    assert not new, "codes raised with more than one exit code:\n" + "\n".join(
        f"  {code}: {sites}" for code, sites in sorted(new.items()))


def test_approvals_missing_is_a_policy_refusal_everywhere():
    assert {e for e, _ in codes_and_exits()["approvals_missing"]} == {7}
