"""Signed statements: signing, storing and reading back without trusting a row (no node needed)."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import select

from team import team


def _acting(session, name, roles=()):
    from recover.authority.acting import acting

    return acting(session, team().key(name), roles, doing="test")


def test_a_statement_is_canonical_json_and_its_hash_is_sha256_of_it():
    from nacl.signing import SigningKey

    from recover.authority.statements import Statement, signature_valid

    s = Statement("price", {"usd": "1.5", "asset": "ETH"})
    assert s.payload == '{"body":{"asset":"ETH","usd":"1.5"},"kind":"price"}'
    assert s.hash == hashlib.sha256(s.payload.encode()).hexdigest()
    k = SigningKey.generate()
    signed = s.signed_by(k)
    sig = signed.signatures[0]
    assert signature_valid(sig.public_key, s.payload, sig.signature)
    assert not signature_valid(sig.public_key, s.payload.replace("1.5", "0.5"), sig.signature)
    with pytest.raises(TypeError):
        Statement("price", {"usd": 1.5}).payload  # money is never a float


def _put(s, kind, subject, body, *keys):
    """Any statement, sealed at the head of the log and signed by ``keys``: what someone holding those
    keys could put in the database without the services' checks."""
    from recover.authority.statement_log import sign_and_append
    from recover.authority.trust import load_trust_root

    def sign(st):
        for k in keys:
            st = st.signed_by(k)
        return st

    return sign_and_append(s, deployment=load_trust_root().deployment, kind=kind, subject=subject, body=body,
                           sign=sign)


def test_the_verifier_trusts_signatures_not_rows(sqlite_db_url):
    from recover.authority.acting import Verifier
    from recover.authority.statements import Statement
    from recover.storage.db import session_scope
    from recover.storage.models import StatementRecord

    with session_scope(sqlite_db_url) as s:
        bob = _acting(s, "bob", ("approver",))
        good = bob.attest(s, "decision", "case:1", {"case": 1, "plan_hash": "ab" * 32, "decision": "approve"})
        v = Verifier(s)
        signed, why = v.check(good)
        assert why is None and signed.operator.name == "bob" and signed.person == "bob"
        # a payload edited in the row no longer matches its hash
        edited = StatementRecord(hash=good.hash, kind=good.kind, subject="x",
                                 payload=good.payload.replace("approve", "reject"), signatures=good.signatures)
        assert v.check(edited) == (None, "its payload does not match its hash")
        # "by" names someone else than the key that signed
        from recover.authority.keyfile import load_signing_key

        bob_key = load_signing_key(team().keys["bob"])
        lying = _put(s, "decision", "case:1", {"case": 1, "by": "carol"}, bob_key)
        assert v.check(lying)[1] == "names 'carol' but is signed by bob"
        # a pricer's key cannot make a decision statement count
        pete = _acting(s, "pete", ("pricer",))
        priced = pete.attest(s, "decision", "case:1", {"case": 1, "plan_hash": "ab" * 32, "decision": "approve"})
        assert "has not the role approver or senior" in v.check(priced)[1]
        # an operator statement with two signatures, and a key that was never enrolled
        from nacl.signing import SigningKey

        two = _put(s, "decision", "case:1", {"case": 1, "by": "bob"}, bob_key, SigningKey.generate())
        assert v.check(two)[1] == "an operator statement carries exactly one signature"
        stranger = _put(s, "decision", "case:1", {"case": 1, "by": "x"}, SigningKey.generate())
        assert v.check(stranger)[1] == "signed by a key that no admin quorum enrolled"
        # a statement that names no place in the log (made before it, or by hand) counts for nothing
        bare = Statement("decision", {"case": 1, "by": "bob"}).signed_by(bob_key)
        unplaced = StatementRecord(seq=999, hash=bare.hash, kind="decision", subject="case:1", head="0" * 64,
                                   entry="f" * 64, payload=bare.payload, signatures=[x.to_dict() for x in bare.signatures])
        assert "names no place in the statement log" in v.check(unplaced)[1]
        # an admin statement below the quorum
        from recover.authority.keyfile import load_signing_key as admin_key

        one_admin = _put(s, "policy", "policy", {"policy": {"tiers": []}}, admin_key(team().admin_paths[0]))
        assert "needs signatures by 2 distinct admins" in v.check(one_admin)[1]
        rows = s.exec(select(StatementRecord).where(StatementRecord.subject == "case:1")).all()
        valid, problems = v.statements("case:1")
        assert [x.hash for x in valid] == [good.hash] and len(problems) == len(rows) - 1


def test_a_statement_copied_to_another_case_does_not_count_there(sqlite_db_url):
    from recover.authority.acting import Verifier
    from recover.authority.signed_case import load_signed_case
    from recover.storage.db import session_scope
    from recover.storage.models import StatementRecord

    with session_scope(sqlite_db_url) as s:
        spec = _acting(s, "spec", ("specialist",))
        bob = _acting(s, "bob", ("approver",))
        claim = spec.attest(s, "claim", "case:1", {"case": 1, "claim": {"return_address": "0xabc"}})
        bob.attest(s, "decision", "case:1", {"case": 1, "plan_hash": "cd" * 32, "decision": "approve"})
        v = Verifier(s)
        one = load_signed_case(v, 1, "cd" * 32)
        assert one.claim.hash == claim.hash and [d.operator.name for d in one.decisions] == ["bob"]
        # the same signed bytes filed under case 2 (the subject is a row's column, not signed)
        record = s.exec(select(StatementRecord).where(StatementRecord.kind == "decision")).one()
        record.subject = "case:2"
        s.add(record)
        s.flush()
        two = load_signed_case(Verifier(s), 2, "cd" * 32)
        assert two.decisions == [] and two.claim is None
        assert any("it is about 'case:2', the statement says 'case:1'" in p for p in two.problems), two.problems
        one_again = load_signed_case(Verifier(s), 1, "cd" * 32)  # and it is hidden from case 1 ...
        assert one_again.decisions == []
        from recover.authority.statement_log import chain_rows  # ... which breaks the log, for any host that decides

        assert any("re-labelled" in p for p in chain_rows(s).problems)


def test_moves_that_pay_a_stranger_or_the_wrong_amount_are_refused():
    from chains.base import StepView
    from recover.casework.signer_check import _check_moves
    from recover.errors import PolicyRefused

    class Plan:
        asset, net, fee_total = "0xToken", 900, 100

    def views(*moves):
        return [StepView(seq=1, role="sweep", signer="0xdep", summary="", moves=tuple(moves))]

    key = str.lower
    ok = views({"to": "0xUser", "amount": "900", "asset": "0xtoken"}, {"to": "0xFees", "amount": "100",
                                                                        "asset": "0xToken"},
               {"to": "0xDep", "amount": "5", "asset": "native"}, {"to": "miners", "amount": "7", "asset": "native"})
    _check_moves(1, ok, Plan, key, destination="0xuser", fee_collector="0xfees", ours={"0xdep"}, station=None,
                 folded=False)
    for bad, code in (
        (views({"to": "0xUser", "amount": "800", "asset": "0xToken"}, {"to": "0xThief", "amount": "100",
                                                                        "asset": "0xToken"}), "plan_pays_stranger"),
        (views({"to": "0xUser", "amount": "899", "asset": "0xToken"}, {"to": "0xFees", "amount": "101",
                                                                        "asset": "0xToken"}), "amount_mismatch"),
        (views({"to": "0xUser", "amount": "900", "asset": "0xToken"}), "amount_mismatch"),
    ):
        with pytest.raises(PolicyRefused) as exc:
            _check_moves(1, bad, Plan, key, destination="0xuser", fee_collector="0xfees", ours={"0xdep"},
                         station=None, folded=False)
        assert exc.value.code == code
    # a gas top-up goes to one of our deposit addresses only (in any asset: a native sweep's top-up too)
    topup = [StepView(seq=0, role="gas_topup", signer="0xstation", summary="",
                      moves=({"to": "0xThief", "amount": "5", "asset": "native"},))]
    with pytest.raises(PolicyRefused) as exc:
        _check_moves(1, topup + ok, Plan, key, destination="0xuser", fee_collector="0xfees", ours={"0xdep"},
                     station="0xstation", folded=False)
    assert exc.value.code == "plan_pays_stranger"

    class Native:
        asset, net, fee_total = "native", 900, 100

    native = [StepView(seq=0, role="gas_topup", signer="0xstation", summary="",
                       moves=({"to": "0xDep", "amount": "5", "asset": "native"},)),
              *views({"to": "0xUser", "amount": "900", "asset": "native"},
                     {"to": "0xFees", "amount": "100", "asset": "native"})]
    _check_moves(1, native, Native, key, destination="0xuser", fee_collector="0xfees", ours={"0xdep"},
                 station="0xstation", folded=False)
