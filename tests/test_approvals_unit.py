"""Approval policy tiers, approver registry and signer backends (no node needed)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from clihelp import run, snapshot
from recover.policy import ApprovalPolicy, Tier, load_policy


def test_bundled_policy_tiers():
    p = load_policy()
    assert p.tier_for(Decimal("999.99")).approvers == 1
    assert p.tier_for(Decimal("1000")).approvers == 2
    assert p.tier_for(Decimal("99999")).approvers == 2
    top = p.tier_for(Decimal("100000"))
    assert top.approvers == 3 and top.roles == ("senior",)
    assert p.tier_for(None) == top  # unpriced assets take the top tier


def test_policy_override_and_errors(tmp_path, monkeypatch):
    f = tmp_path / "p.toml"
    f.write_text('[[tiers]]\nbelow_usd = "50"\napprovers = 1\n[[tiers]]\napprovers = 2\nroles = ["senior"]\n')
    monkeypatch.setenv("RECOVER_APPROVAL_POLICY", str(f))
    assert load_policy().tier_for(Decimal("60")).approvers == 2
    f.write_text("[[tiers]]\nbelow_usd = 50.0\napprovers = 1\n")
    with pytest.raises(Exception) as info:
        load_policy()
    assert info.value.exit_code == 4 and str(f) in str(info.value)
    f.write_text("[[tiers]]\napprovers = 1\nquorum = 3\n")
    with pytest.raises(Exception, match="quorum"):
        load_policy()


def test_evaluate_counts_only_valid_approvals():
    from recover.approvals import evaluate, sign_statement, statement
    from recover.models import Approval, Approver
    from nacl.signing import SigningKey

    keys = {n: SigningKey.generate() for n in ("ann", "bo", "cy")}
    people = {n: Approver(id=i, name=n, public_key=k.verify_key.encode().hex(), role="senior" if n == "cy" else "approver",
                          added_by="x") for i, (n, k) in enumerate(keys.items(), 1)}

    def appr(name, plan="p1", decision="approve", key=None):
        text = statement(7, plan, decision, name, "2026-01-01T00:00:00Z")
        return (Approval(case_id=7, plan_hash=plan, approver_id=people[name].id, decision=decision,
                         signed_payload=text, signature=sign_statement(key or keys[name], text)), people[name])

    tier = Tier(approvers=2, roles=("senior",))
    rows = [appr("ann"), appr("bo", key=keys["ann"]), appr("cy", plan="p0")]
    st = evaluate(case_id=7, plan_hash="p1", preparer="zed", tier=tier, rows=rows, conditions_required=[],
                  conditions_recorded=[])
    assert st.counted == ["ann"] and not st.satisfied
    assert dict(st.ignored) == {"bo": "signature does not verify with the approver's key",
                                "cy": "approved an older plan"}
    st = evaluate(case_id=7, plan_hash="p1", preparer="ann", tier=tier, rows=[appr("ann"), appr("cy")],
                  conditions_required=["manual_review"], conditions_recorded=[])
    assert st.counted == ["cy"] and st.conditions_unmet == ["manual_review"] and not st.satisfied
    st = evaluate(case_id=7, plan_hash="p1", preparer=None, tier=tier, rows=[appr("ann"), appr("cy")],
                  conditions_required=[], conditions_recorded=[])
    assert st.satisfied and not st.roles_missing


def test_approvers_cli(db_url, tmp_path):
    from nacl.signing import SigningKey

    key = tmp_path / "k.key"
    r = run("approvers", "keygen", "ann", "--role", "approver", "--out", str(key), "--json", db=db_url)
    assert r.code == 0 and json.loads(key.read_text())["public_key"] == r.json["public_key"]
    before = snapshot(db_url)
    r = run("approvers", "keygen", "ann2", "--role", "approver", "--out", str(key), "--json", db=db_url)
    assert r.code == 4 and r.error["code"] == "file_exists"
    r = run("approvers", "keygen", "ann", "--role", "approver", "--out", str(tmp_path / "other.key"), "--json",
            db=db_url)
    assert r.code == 5 and not (tmp_path / "other.key").exists()  # no orphan key file
    assert snapshot(db_url) == before
    pub = SigningKey.generate().verify_key.encode().hex()
    assert run("approvers", "add", "bo", "--public-key", pub, "--role", "senior", "--json", db=db_url).code == 0
    assert run("approvers", "add", "cy", "--public-key", pub, "--role", "senior", "--json", db=db_url).code == 5
    assert run("approvers", "add", "cy", "--public-key", "zz" * 32, "--role", "senior", "--json", db=db_url).code == 4
    assert run("approvers", "add", "cy", "--public-key", pub[:-2], "--role", "senior", "--json", db=db_url).code == 4
    assert run("approvers", "revoke", "bo", "--json", db=db_url).json["revoked"] is True
    assert run("approvers", "revoke", "bo", "--json", db=db_url).code == 5
    assert run("approvers", "revoke", "nobody", "--json", db=db_url).code == 3
    listed = run("approvers", "list", "--json", db=db_url).json
    assert [(a["name"], a["revoked"]) for a in listed] == [("ann", False), ("bo", True)]
    assert "private" not in json.dumps(listed)


def _evm_chain():
    """An EVM adapter (constructing one never contacts its node)."""
    from chains.base import adapter_for
    from recover.registry import get_network

    return adapter_for(get_network("anvil").resolved({"ANVIL_URL": "http://127.0.0.1:9"}))


def test_keystore_and_hd_signers(tmp_path):
    from eth_account import Account

    from recover.signing import HDSigner, KeystoreSigner, signer_from_env
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
    with pytest.raises(PolicyRefused) as bad_pass:
        wrong.key_for(chain, "m/0", acct.address)
    assert bad_pass.value.code == "bad_keystore" and "nope" not in str(bad_pass.value)
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
    from recover.errors import InvalidInput
    from recover.signing import HDSigner

    with pytest.raises(InvalidInput) as info:
        HDSigner(words)
    assert info.value.exit_code == 4 and info.value.code == "bad_seed"
    assert "BIP-39" in str(info.value)
    for word in set(words.split()):
        assert word not in str(info.value).lower().replace("bip-39", "")


def test_key_files_hold_the_private_key_encrypted_and_need_the_passphrase(db_url, tmp_path):
    """Issue 12, item 2: a key file never holds its private key in plaintext; it opens only with the
    passphrase (Argon2id + SecretBox), is 0600, and a wrong or missing passphrase is exit 4."""
    import os

    from nacl.signing import SigningKey

    from recover.approvals import load_key_file

    key = tmp_path / "ann.key"
    r = run("approvers", "keygen", "ann", "--role", "approver", "--out", str(key), "--json", db=db_url)
    assert r.code == 0, r.err
    doc = json.loads(key.read_text())
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert doc["kdf"] == "argon2id" and "private_key" not in doc
    private = load_key_file(key).encode()  # with the test passphrase (conftest)
    assert private.hex() not in key.read_text() and private not in key.read_bytes()
    assert SigningKey(private).verify_key.encode().hex() == doc["public_key"] == r.json["public_key"]
    for env, code in (({"RECOVER_KEY_PASSPHRASE": "not the passphrase"}, "bad_passphrase"),
                      ({"RECOVER_KEY_PASSPHRASE": ""}, "passphrase_missing")):
        bad = run("queue", "approve", "1", "--key", str(key), "--json", db=db_url, env=env)
        assert bad.code == 4 and bad.error["code"] == code, bad.err
        assert "not the passphrase" not in bad.err
    plain = tmp_path / "old.key"
    plain.write_text(json.dumps({"approver": "x", "public_key": doc["public_key"], "private_key": "11" * 32}))
    os.chmod(plain, 0o600)
    old = run("queue", "approve", "1", "--key", str(plain), "--json", db=db_url)
    assert old.code == 4 and old.error["code"] == "plaintext_key_file"
