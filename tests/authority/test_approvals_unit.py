"""Approval policy tiers, the pure count of signed decisions, operator key files and signer backends
(no node needed)."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest
import sqlalchemy as sa

from clihelp import run, snapshot
from recover.authority.policy import Tier, bundled_policy, load_policy, parse_policy, policy_doc, policy_from_dict
from team import team

BUNDLED = "chain_configs/policies/approvals.toml"
LENIENT = '[[tiers]]\nbelow_usd = "50"\napprovers = 1\n[[tiers]]\napprovers = 2\nroles = ["senior"]\n'


def test_bundled_policy_tiers():
    p = bundled_policy()
    assert p == load_policy() and p.source == BUNDLED
    assert p.tier_for(Decimal("999.99")).approvers == 1
    assert p.tier_for(Decimal("1000")).approvers == 2
    assert p.tier_for(Decimal("99999")).approvers == 2
    top = p.tier_for(Decimal("100000"))
    assert top.approvers == 3 and top.roles == ("senior",)
    assert p.tier_for(None) == top  # unpriced assets take the top tier
    assert policy_doc(p) == {"tiers": [{"below_usd": "1000", "approvers": 1, "roles": []},
                                       {"below_usd": "100000", "approvers": 2, "roles": []},
                                       {"below_usd": None, "approvers": 3, "roles": ["senior"]}]}


def test_parse_policy_and_its_errors():
    p = parse_policy(LENIENT, "p.toml")
    assert p.source == "p.toml"
    assert p.tier_for(Decimal("49.99")).approvers == 1 and p.tier_for(Decimal("49.99")).roles == ()
    assert p.tier_for(Decimal("60")).approvers == 2 and p.tier_for(Decimal("60")).roles == ("senior",)
    assert p.tier_for(None).approvers == 2
    for text, words in (("[[tiers]]\nbelow_usd = 50.0\napprovers = 1\n", "strings"),  # money is never a float
                        ("[[tiers]]\napprovers = 1\nquorum = 3\n", "quorum"),  # unknown keys are refused
                        ("[[tiers]]\napprovers = true\n", "approvers"),
                        ("[[tiers]]\napprovers = 0\n", "approvers"),
                        ('[[tiers]]\nbelow_usd = "-5"\napprovers = 1\n', "positive"),
                        ('[[tiers]]\nbelow_usd = "abc"\napprovers = 1\n', "not a number"),
                        ("tiers = []\n", "tiers"),
                        ("[[tiers]\napprovers = 1\n", "not valid TOML"),
                        ('[[tiers]]\nbelow_usd = "5"\napprovers = 1\n[[tiers]]\nbelow_usd = "5"\napprovers = 2\n',
                         "overlap"),
                        ("[[tiers]]\napprovers = 1\n[[tiers]]\napprovers = 2\n", "overlap")):
        with pytest.raises(Exception) as info:
            parse_policy(text, "/etc/p.toml")
        assert info.value.exit_code == 4, text
        assert "/etc/p.toml" in str(info.value) and words in str(info.value), (text, str(info.value))


def test_policy_doc_round_trips_through_policy_from_dict():
    p = parse_policy(LENIENT, "p.toml")
    doc = policy_doc(p)
    assert doc == {"tiers": [{"below_usd": "50", "approvers": 1, "roles": []},
                             {"below_usd": None, "approvers": 2, "roles": ["senior"]}]}
    json.dumps(doc)  # what an admin statement signs is plain JSON (no Decimal, no float)
    again = policy_from_dict(doc, "statement")
    assert again.tiers == p.tiers and again.source == "statement"
    assert policy_from_dict(policy_doc(bundled_policy()), "x").tiers == bundled_policy().tiers
    with pytest.raises(Exception) as info:
        policy_from_dict({"tiers": [{"approvers": 1, "extra": 1}]}, "policy statement ab…")
    assert info.value.exit_code == 4 and "policy statement ab…" in str(info.value) and "extra" in str(info.value)
    with pytest.raises(Exception) as info:
        policy_from_dict({"tiers": [{"below_usd": 5.0, "approvers": 1}]}, "s")
    assert info.value.exit_code == 4


def test_policy_set_needs_an_admin_quorum_and_show_tells_what_is_in_force(db_url, tmp_path):
    t = team()
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(LENIENT)
    shown = run("policy", "show", "--json", db=db_url)
    assert shown.code == 0, shown.err
    assert shown.json == {"source": BUNDLED, "statement": None, **policy_doc(bundled_policy())}
    # neither the old variable nor a policies folder of the config dir sets the policy any more
    folder = tmp_path / "conf"
    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / "approvals.toml").write_text(LENIENT)
    ignored = run("policy", "show", "--json", db=db_url,
                  env={"RECOVER_APPROVAL_POLICY": str(lenient), "RECOVER_CONFIG_DIR": str(folder)})
    assert ignored.code == 0 and ignored.json == shown.json
    before = snapshot(db_url)
    one = run("policy", "set", str(lenient), "--admin-key", str(t.admin_paths[0]), "--json", db=db_url)
    assert one.code == 7 and one.error["code"] == "admin_quorum_missing"
    twice = run("policy", "set", str(lenient), "--admin-key", str(t.admin_paths[0]), "--admin-key",
                str(t.admin_paths[0]), "--json", db=db_url)  # the same admin twice is one admin
    assert twice.code == 7 and twice.error["code"] == "admin_quorum_missing"
    operator = run("policy", "set", str(lenient), "--admin-key", str(t.admin_paths[0]), "--admin-key", t.key("sam"),
                   "--json", db=db_url)  # an operator's key is no admin's key
    assert operator.code == 7 and operator.error["code"] == "not_an_admin"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[tiers]]\nbelow_usd = 50.0\napprovers = 1\n")
    refused = run("policy", "set", str(bad), "--json", db=db_url)
    assert refused.code == 4 and str(bad) in refused.error["message"]
    missing = run("policy", "set", str(tmp_path / "nope.toml"), "--json", db=db_url)
    assert missing.code == 4 and missing.error["code"] == "bad_file"
    assert snapshot(db_url) == before
    assert run("policy", "show", "--json", db=db_url).json == shown.json
    ok = run("policy", "set", str(lenient), "--json", db=db_url)  # both admins (clihelp)
    assert ok.code == 0, ok.err
    assert ok.json == {"statement": ok.json["statement"], **policy_doc(parse_policy(LENIENT, "x"))}
    now = run("policy", "show", "--json", db=db_url).json
    assert now == {"source": f"policy statement {ok.json['statement'][:16]}…", "statement": ok.json["statement"],
                   **policy_doc(parse_policy(LENIENT, "x"))}
    text = run("policy", "show", db=db_url)
    assert text.code == 0 and "1 approver below 50 USD" in text.out and "2 approvers incl. senior (top tier)" \
        in text.out
    from sqlmodel import select

    from recover.authority.acting import Verifier
    from recover.authority.policy import policy_in_force
    from recover.storage.db import session_scope
    from recover.storage.models import AuditEvent

    with session_scope(db_url) as s:
        in_force = policy_in_force(Verifier(s))
        assert in_force.tiers == parse_policy(LENIENT, "x").tiers and in_force.source == now["source"]
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "policy_set")).one()
        assert event.details["statement"] == ok.json["statement"] and event.actor == "admin-1+admin-2"
    # a policy statement edited in the database no longer counts, and nothing falls back to an older
    # policy (or the bundled one) in its place: every decision that needs the policy is refused
    with session_scope(db_url) as s:
        payload = s.execute(sa.text("SELECT payload FROM statements WHERE kind = 'policy'")).scalar_one()
        assert '"approvers":2' in payload
        edited = s.execute(sa.text("UPDATE statements SET payload = REPLACE(payload, :a, :b) WHERE kind = 'policy'"),
                           {"a": '"approvers":2', "b": '"approvers":1'})
        assert edited.rowcount == 1
    refused = run("policy", "show", "--json", db=db_url)
    assert refused.code == 7 and refused.error["code"] == "policy_invalid", refused.err


def _operator(name, roles, person, key):
    from recover.storage.models import Operator

    return Operator(name=name, public_key=key.verify_key.encode().hex(), roles=roles, person=person,
                    enrolled_by="00" * 32)


def _signed(kind, body, op, key):
    """A statement really signed by ``key``, as the verifier hands it over once its signature checked out."""
    from recover.authority.acting import Signed
    from recover.authority.statements import Statement, signature_valid

    stmt = Statement(kind, {**body, "by": op.name, "time": "2026-12-01T00:00:00.000000Z"}).signed_by(key)
    sig = stmt.signatures[0]
    assert sig.public_key == op.public_key and signature_valid(op.public_key, stmt.payload, sig.signature)
    return Signed(stmt.hash, stmt.kind, stmt.body, operator=op)


@pytest.fixture
def people():
    from nacl.signing import SigningKey

    cast = {"ann": ("approver", "ann"), "ann2": ("approver,senior", "ann"),  # one person, two keys
            "bo": ("approver", "bo"), "cy": ("approver,senior", "cy"), "rita": ("reviewer", "rita"),
            "spec": ("specialist", "spec"), "zed": ("reviewer,specialist", "zed")}
    keys = {n: SigningKey.generate() for n in cast}
    ops = {n: _operator(n, roles, person, keys[n]) for n, (roles, person) in cast.items()}

    def decision(name, plan="p1", decision="approve"):
        return _signed("decision", {"case": 7, "plan": "s" * 64, "plan_hash": plan, "decision": decision,
                                    "reason": None}, ops[name], keys[name])

    def condition(name, what="manual_review"):
        return _signed("condition", {"case": 7, "condition": what, "reason": "checked"}, ops[name], keys[name])

    return type("People", (), {"decision": staticmethod(decision), "condition": staticmethod(condition)})


def test_evaluate_counts_distinct_persons_on_the_current_plan(people):
    from recover.casework.approvals import evaluate

    d = people.decision
    tier = Tier(approvers=2, roles=("senior",))

    def ev(decisions, preparer="zed", required=(), conditions=None):
        return evaluate(plan_hash="p1", preparer_person=preparer, tier=tier, decisions=decisions,
                        conditions_required=list(required), conditions=conditions or {})

    st = ev([d("ann"), d("cy", plan="p0")])
    assert st.counted == ["ann"] and st.persons == ["ann"] and not st.satisfied
    assert st.ignored == [("cy", "decided on another plan")]
    assert st.roles_missing == ["senior"] and st.missing_text() == "1 of 2 approvals; no approver with role senior"
    assert st.to_dict()["still_needed"] == ["1 more approval, one with role senior"]
    # one person counts once, whatever keys they hold (ann2 is ann's senior alias)
    st = ev([d("ann"), d("ann2")])
    assert st.counted == ["ann"] and st.ignored == [("ann2", "person ann is counted once")] and not st.satisfied
    assert st.roles_missing == ["senior"]
    # the preparer's person cannot approve, under any of their keys
    st = ev([d("ann"), d("ann2"), d("cy")], preparer="ann", required=["manual_review"])
    assert st.counted == ["cy"] and st.persons == ["cy"]
    assert st.ignored == [("ann", "the preparer cannot approve their own case"),
                          ("ann2", "the preparer cannot approve their own case")]
    assert st.conditions_unmet == ["manual_review"] and not st.satisfied
    assert st.to_dict()["still_needed"] == ["1 more approval", "conditions unmet: manual_review"]
    # without a known preparer nothing counts (never "nobody prepared it, so anyone may approve")
    st = ev([d("ann"), d("cy")], preparer=None)
    assert st.counted == [] and not st.satisfied and {w for _, w in st.ignored} == \
        {"the preparer cannot approve their own case"}
    st = ev([d("ann"), d("cy")])
    assert st.satisfied and not st.roles_missing and st.counted == ["ann", "cy"] and st.persons == ["ann", "cy"]
    assert st.missing_text() == "nothing missing"
    assert st.to_dict() == {"plan_hash": "p1", "needed": 2, "roles_required": ["senior"], "counted": ["ann", "cy"],
                            "persons": ["ann", "cy"], "roles_missing": [], "ignored": [], "rejected_by": [],
                            "conditions_required": [], "conditions_unmet": [], "satisfied": True,
                            "tier": "2 approvers incl. senior (top tier)", "value_usd": None, "tier_reason": "",
                            "still_needed": []}
    # a rejection blocks, and the rejecting person is not counted again
    st = ev([d("ann"), d("bo", decision="reject"), d("cy")])
    assert st.rejected_by == ["bo"] and st.counted == ["ann", "cy"] and not st.satisfied
    assert st.missing_text() == "rejected by bo"
    st = ev([d("ann"), d("cy", decision="maybe")])
    assert st.counted == ["ann"] and st.ignored == [("cy", "not an approve or reject decision")]
    # the senior role is counted only from a counted decision
    st = ev([d("bo"), d("ann")])
    assert len(st.counted) == 2 and st.roles_missing == ["senior"] and not st.satisfied
    assert st.to_dict()["still_needed"] == ["an approval with role senior"]  # enough approvals, none a senior


def test_evaluate_conditions_need_the_right_role_and_not_the_preparer(people):
    from recover.casework.approvals import evaluate

    d, c = people.decision, people.condition
    tier = Tier(approvers=1)

    def ev(conditions, required=("manual_review",), preparer="spec"):
        return evaluate(plan_hash="p1", preparer_person=preparer, tier=tier, decisions=[d("bo")],
                        conditions_required=list(required), conditions=conditions, value_usd=Decimal("12.5"),
                        tier_reason="price 1 USD signed by pete")

    st = ev({})
    assert st.conditions_unmet == ["manual_review"] and not st.satisfied
    assert st.to_dict()["still_needed"] == ["conditions unmet: manual_review"]
    assert st.missing_text() == "conditions unmet: manual_review"
    st = ev({"manual_review": c("rita")})
    assert st.satisfied and st.conditions_met == ["manual_review"]
    assert st.to_dict()["value_usd"] == "12.5" and st.to_dict()["tier_reason"] == "price 1 USD signed by pete"
    assert not ev({"manual_review": c("spec")}).satisfied  # a specialist is no reviewer
    assert not ev({"manual_review": c("zed")}, preparer="zed").satisfied  # the preparer reviews nothing of theirs
    assert ev({"manual_review": c("zed")}).satisfied
    assert not ev({"manual_review": c("bo")}).satisfied  # nor is an approver a reviewer
    # an ownership proof is recorded by the case's staff (specialist or reviewer)
    assert ev({"ownership_proof": c("spec", "ownership_proof")}, required=["ownership_proof"]).satisfied
    assert ev({"ownership_proof": c("rita", "ownership_proof")}, required=["ownership_proof"]).satisfied
    assert not ev({"ownership_proof": c("bo", "ownership_proof")}, required=["ownership_proof"]).satisfied
    both = ev({"ownership_proof": c("spec", "ownership_proof")}, required=["ownership_proof", "manual_review"])
    assert both.conditions_unmet == ["manual_review"] and not both.satisfied


def test_operator_key_files_and_enrollment_cli(db_url, tmp_path):
    from nacl.signing import SigningKey

    admins = team().admin_args
    key = tmp_path / "k.key"
    r = run("operators", "keygen", "ann", "--out", str(key), "--json")
    assert r.code == 0 and json.loads(key.read_text())["public_key"] == r.json["public_key"]
    assert r.json["name"] == "ann" and r.json["file"] == str(key)
    text = key.read_text()
    again = run("operators", "keygen", "ann2", "--out", str(key), "--json")
    assert again.code == 4 and again.error["code"] == "file_exists" and key.read_text() == text
    bad = run("operators", "keygen", "no spaces", "--out", str(tmp_path / "other.key"), "--json")
    assert bad.code == 4 and bad.error["code"] == "invalid_name" and not (tmp_path / "other.key").exists()
    before = snapshot(db_url)
    # a key that is not enrolled does nothing
    stranger = run("queue", "approve", "1", "--key", str(key), "--json", db=db_url)
    assert stranger.code == 7 and stranger.error["code"] == "unknown_operator"
    assert snapshot(db_url) == before
    pub = r.json["public_key"]
    ok = run("operators", "enroll", "ann", "--public-key", pub, "--roles", "approver", "--person", "p-ann", *admins,
             "--json", db=db_url)
    assert ok.code == 0, ok.err
    assert ok.json["roles"] == ["approver"] and ok.json["active"] is True and ok.json["public_key"] == pub
    assert run("operators", "enroll", "ann", "--public-key", SigningKey.generate().verify_key.encode().hex(),
               "--roles", "approver", "--person", "p-x", *admins, "--json", db=db_url).error["code"] == \
        "duplicate_operator"
    enrolled = snapshot(db_url)
    for public, code, exit_code in ((pub, "duplicate_key", 5), ("zz" * 32, "invalid_public_key", 4),
                                    (pub[:-2], "invalid_public_key", 4)):
        r = run("operators", "enroll", "cy", "--public-key", public, "--roles", "senior", "--person", "p-cy", *admins,
                "--json", db=db_url)
        assert (r.code, r.error["code"]) == (exit_code, code), r.err
    assert snapshot(db_url) == enrolled
    assert run("queue", "approve", "1", "--key", str(key), "--json", db=db_url).error["code"] == "case_not_found"
    assert run("operators", "revoke", "ann", *admins, "--json", db=db_url).json["active"] is False
    again = run("operators", "revoke", "ann", *admins, "--json", db=db_url)
    assert again.code == 5 and again.error["code"] == "already_revoked"
    nobody = run("operators", "revoke", "nobody", *admins, "--json", db=db_url)
    assert nobody.code == 3 and nobody.error["code"] == "operator_not_found"
    revoked = run("queue", "approve", "1", "--key", str(key), "--json", db=db_url)
    assert revoked.code == 7 and revoked.error["code"] == "operator_revoked"
    listed = run("operators", "list", "--json", db=db_url).json
    assert [(a["name"], a["active"]) for a in listed if a["name"] == "ann"] == [("ann", False)]
    assert sorted(a["name"] for a in listed) == sorted(["ann", *team().keys])
    assert all(a["active"] for a in listed if a["name"] != "ann")
    assert "private" not in json.dumps(listed) and "sealed" not in json.dumps(listed)


def _evm_chain():
    """An EVM adapter (constructing one never contacts its node)."""
    from chains.base import adapter_for
    from recover.networks.registry import get_network

    return adapter_for(get_network("anvil").resolved({"ANVIL_URL": "http://127.0.0.1:9"}))


def test_keystore_and_hd_signers(tmp_path):
    from eth_account import Account

    from recover.casework.signing import HDSigner, KeystoreSigner, signer_from_env
    from recover.errors import InvalidInput, PolicyRefused

    chain = _evm_chain()
    acct = Account.create()
    (tmp_path / "k1.json").write_text(json.dumps(Account.encrypt(acct.key, "s3cret", kdf="scrypt", iterations=2**10)))
    signer = signer_from_env({"RECOVER_KEYSTORE_DIR": str(tmp_path), "RECOVER_KEYSTORE_PASSPHRASE": "s3cret"})
    assert isinstance(signer, KeystoreSigner)
    assert signer.key_for(chain, "m/44'/60'/0'/0/0", acct.address).address == acct.address
    with pytest.raises(PolicyRefused) as missing:
        signer.key_for(chain, "m/0", Account.create().address)
    assert missing.value.code == "signer_missing_key"
    wrong = signer_from_env({"RECOVER_KEYSTORE_DIR": str(tmp_path), "RECOVER_KEYSTORE_PASSPHRASE": "nope"})
    with pytest.raises(InvalidInput) as bad_pass:  # configuration: exit 4, as documented
        wrong.key_for(chain, "m/0", acct.address)
    assert bad_pass.value.code == "bad_keystore" and "nope" not in str(bad_pass.value)
    assert bad_pass.value.exit_code == 4
    with pytest.raises(InvalidInput):
        signer_from_env({"RECOVER_KEYSTORE_DIR": str(tmp_path)})
    with pytest.raises(InvalidInput):
        signer_from_env({})
    hd = HDSigner("test test test test test test test test test test test junk")
    assert "junk" not in repr(hd)
    a0 = hd.address_for(chain, "m/44'/60'/0'/0/0")
    assert a0 == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    with pytest.raises(PolicyRefused, match="refusing to sign") as mismatch:
        hd.key_for(chain, "m/44'/60'/0'/0/1", a0)
    assert mismatch.value.code == "signer_mismatch"


@pytest.mark.parametrize("words", [
    "test test test test test test test test test test test test",   # checksum wrong
    "test test test test test test test test test test test jink",   # a word not in the list
    "abandon",                                                         # too short
])
def test_a_mistyped_seed_is_refused_without_echoing_it(words):
    from recover.casework.signing import HDSigner
    from recover.errors import InvalidInput

    with pytest.raises(InvalidInput) as info:
        HDSigner(words)
    assert info.value.exit_code == 4 and info.value.code == "bad_seed"
    assert "BIP-39" in str(info.value)
    for word in set(words.split()):
        assert word not in str(info.value).lower().replace("bip-39", "")


def test_key_files_hold_the_private_key_encrypted_and_need_the_passphrase(db_url, tmp_path):
    """Issue 12, item 2: a key file never holds its private key in plaintext; it opens only with the
    passphrase (Argon2id + SecretBox), is 0600, and a wrong or missing passphrase is exit 4."""
    from nacl.signing import SigningKey

    from recover.casework.approvals import load_key_file

    key = tmp_path / "ann.key"
    r = run("operators", "keygen", "ann", "--out", str(key), "--json")
    assert r.code == 0, r.err
    doc = json.loads(key.read_text())
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert doc["kdf"] == "argon2id" and "private_key" not in doc and doc["name"] == "ann"
    private = load_key_file(key).encode()  # with the test passphrase (conftest)
    assert private.hex() not in key.read_text() and private not in key.read_bytes()
    assert SigningKey(private).verify_key.encode().hex() == doc["public_key"] == r.json["public_key"]
    # the team's own key of an approver, so that only the key file stands in the way
    bob = tmp_path / "bob.key"
    bob.write_bytes(open(team().key("bob"), "rb").read())
    os.chmod(bob, 0o600)
    before = snapshot(db_url)
    for path in (key, bob):
        for env, code in (({"RECOVER_KEY_PASSPHRASE": "not the passphrase"}, "bad_passphrase"),
                          ({"RECOVER_KEY_PASSPHRASE": ""}, "passphrase_missing")):
            bad = run("queue", "approve", "1", "--key", str(path), "--json", db=db_url, env=env)
            assert bad.code == 4 and bad.error["code"] == code, bad.err
            assert "not the passphrase" not in bad.err
    os.chmod(bob, 0o644)
    shared = run("queue", "approve", "1", "--key", str(bob), "--json", db=db_url)
    assert shared.code == 4 and shared.error["code"] == "bad_key_file" and "chmod 600" in shared.error["message"]
    plain = tmp_path / "old.key"
    plain.write_text(json.dumps({"approver": "x", "public_key": doc["public_key"], "private_key": "11" * 32}))
    os.chmod(plain, 0o600)
    old = run("queue", "approve", "1", "--key", str(plain), "--json", db=db_url)
    assert old.code == 4 and old.error["code"] == "plaintext_key_file"
    os.chmod(bob, 0o600)
    assert run("queue", "approve", "1", "--key", str(bob), "--json", db=db_url).error["code"] == "case_not_found"
    assert snapshot(db_url) == before
