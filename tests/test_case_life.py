"""Issue 5: the whole case life through the installed ``recover`` command on anvil: approvals
(maker-checker), signing, broadcast, tracking, credits, conditions, crash safety and the audit."""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

from clihelp import run, snapshot
from evm_devnet import ANVIL_MNEMONIC, deploy, fund_token, token_transfer
from evmflow import FEE_COLLECTOR, HOT_WALLET, _override_config, cli, derive, open_case, register  # noqa: F401
from evmflow import world, world_both  # noqa: F401

STATION_PATH = "m/44'/60'/1'/0/0"


def prepared_token_case(w, *, amount=2_500 * 10**6, credit=None, env=None, deposit_index=20, contract="StandardToken"):
    """A verified, quoted, prepared unlisted-token case (prepared by alice)."""
    deposit = derive(deposit_index)
    register(w, [("anvil", deposit, f"m/44'/60'/0'/0/{deposit_index}", "active")])
    token = deploy(w.a.w3, contract, "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    r = token_transfer(w.a.w3, token, w.user, deposit, amount)
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", r["transactionHash"].to_0x_hex(), "--actor", "alice",
              *(["--credit-account", credit] if credit else ["--return-address", w.ret]), env=env)["id"]
    cli(w, "case", "verify", str(cid), "--actor", "alice", env=env)
    cli(w, "prices", "set", f"anvil:{token.address}", "1", env=env)
    cli(w, "prices", "set", "ETH", "3000", env=env)
    quote = cli(w, "case", "quote", str(cid), "--actor", "alice", env=env)
    cli(w, "case", "prepare", str(cid), "--actor", "alice", env=env)
    return cid, token, deposit, quote


def keygen(w, name, role="approver"):
    path = w.tmp / f"{name}.key"
    cli(w, "approvers", "keygen", name, "--role", role, "--out", str(path), "--actor", "admin")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    return path


def nonce(node, address):
    return node.w3.eth.get_transaction_count(address)


def test_full_life_to_completed(world_both):
    w = world_both
    cid, token, deposit, quote = prepared_token_case(w)
    bob, carol = keygen(w, "bob"), keygen(w, "carol", "senior")
    queue = cli(w, "queue", "list")
    assert [q["id"] for q in queue] == [cid]
    assert queue[0]["approvals"]["needed"] == 2 and queue[0]["value_usd"] == "2500"  # 1,000 <= value < 100,000
    first = cli(w, "queue", "approve", str(cid), "--key", str(bob))
    assert first["status"] == "awaiting_approval" and first["approvals"]["counted"] == ["bob"]
    second = cli(w, "queue", "approve", str(cid), "--key", str(carol))
    assert second["status"] == "approved"
    signed = cli(w, "case", "sign", str(cid), "--actor", "walt")
    assert [t["role"] for t in signed["transactions"]] == ["gas_topup", "sweep_net", "sweep_fee"]
    sent = cli(w, "case", "broadcast", str(cid), "--actor", "walt")
    assert sent["status"] == "broadcast" and len(sent["sent"]) == 3
    tracked = cli(w, "case", "track", str(cid), "--actor", "walt")
    assert tracked["status"] == "completed"
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])
    assert token.functions.balanceOf(FEE_COLLECTOR).call() == int(quote["fee"]) + int(quote["network_cost_in_asset"])
    assert token.functions.balanceOf(deposit).call() == 0
    show = cli(w, "case", "show", str(cid))
    actions = [e["action"] for e in show["audit"]]
    for a in ("case_opened", "verified", "quoted", "prepared", "plan_approved", "approved", "signed", "tx_sent",
              "broadcast", "completed"):
        assert a in actions
    assert {e["actor"] for e in show["audit"]} >= {"alice", "bob", "carol", "walt"}
    assert cli(w, "audit", "verify")["ok"]


def test_credit_case_records_one_credit_exported_once(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w, amount=500 * 10**6, credit="acct-42")
    bob = keygen(w, "bob")
    assert cli(w, "queue", "approve", str(cid), "--key", str(bob))["status"] == "approved"  # < 1,000 USD: one
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert token.functions.balanceOf(HOT_WALLET).call() == int(quote["net"])
    out = w.tmp / "credits.csv"
    assert cli(w, "credits", "export", "--out", str(out))["exported"] == 1
    lines = out.read_text().splitlines()
    assert lines[0].startswith("case_id,account") and f"{cid},acct-42,anvil,anvil:{token.address},{quote['net']},6" \
        in lines[1]
    again = w.tmp / "credits2.csv"
    assert cli(w, "credits", "export", "--out", str(again))["exported"] == 0
    assert cli(w, "credits", "export", "--out", str(out), expect=4)["code"] == "file_exists"


def refusal(w, args, code, err_code=None, env=None):
    before = snapshot(w.db)
    err = cli(w, *args, expect=code, env=env)
    if err_code:
        assert err["code"] == err_code, err
    assert snapshot(w.db) == before, f"{args} changed the database"
    return err


def test_approval_refusals_change_nothing(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    alice = keygen(w, "alice")  # the preparer also holds a key
    bob, carol, dave = keygen(w, "bob"), keygen(w, "carol"), keygen(w, "dave")
    refusal(w, ["queue", "approve", str(cid), "--key", str(alice)], 7, "self_approval")
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    refusal(w, ["queue", "approve", str(cid), "--key", str(bob)], 5, "duplicate_approval")
    # an unregistered key
    from recover.approvals import write_key_file

    stranger = w.tmp / "stranger.key"
    write_key_file(stranger, "stranger")
    refusal(w, ["queue", "approve", str(cid), "--key", str(stranger)], 7, "unregistered_approver")
    # a revoked approver
    cli(w, "approvers", "revoke", "dave")
    refusal(w, ["queue", "approve", str(cid), "--key", str(dave)], 7, "approver_revoked")
    # signing below the threshold (1 of 2): said before any signer is asked for, with no seed at all
    refusal(w, ["case", "sign", str(cid)], 5, "approvals_missing")
    err = cli(w, "case", "sign", str(cid), env={"RECOVER_SEED": ""}, expect=5)
    assert err["code"] == "approvals_missing" and "1 of 2 approvals" in err["message"]
    # broadcasting an unsigned case
    refusal(w, ["case", "broadcast", str(cid)], 5, "not_signed")
    # a forged signature: carol's statement signed with bob's key
    import recover
    from recover.approvals import load_key_file, now_text, sign_statement, statement

    plan_hash = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    text = statement(cid, plan_hash, "approve", "carol", now_text())
    forged = sign_statement(load_key_file(bob), text)
    before = snapshot(w.db)
    with pytest.raises(Exception) as info:
        recover.submit_decision(cid, "carol", "approve", text, forged, db=w.db)
    assert info.value.exit_code == 7 and info.value.code == "bad_signature"
    # an approval of an older plan hash
    stale = statement(cid, "ab" * 32, "approve", "carol", now_text())
    with pytest.raises(Exception) as info:
        recover.submit_decision(cid, "carol", "approve", stale, sign_statement(load_key_file(carol), stale), db=w.db)
    assert info.value.exit_code == 7 and info.value.code == "stale_plan"
    assert snapshot(w.db) == before


def test_new_plan_voids_approvals_and_revocation_stops_counting(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    bob, carol = keygen(w, "bob"), keygen(w, "carol")
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    old_hash = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    cli(w, "case", "prepare", str(cid), "--actor", "alice")  # the same plan again: same hash, approvals stand
    assert cli(w, "case", "show", str(cid))["approvals"]["counted"] == ["bob"]
    cli(w, "prices", "set", f"anvil:{token.address}", "1.10")
    assert cli(w, "case", "quote", str(cid), "--actor", "alice")["economical"]  # re-quote voids the plan
    cli(w, "case", "prepare", str(cid), "--actor", "alice")
    doc = cli(w, "case", "show", str(cid))
    assert doc["plan"]["plan_hash"] != old_hash
    assert doc["approvals"]["counted"] == []
    assert {"approver": "bob", "why": "approved an older plan"} in doc["approvals"]["ignored"]
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    assert cli(w, "queue", "approve", str(cid), "--key", str(carol))["status"] == "approved"
    cli(w, "approvers", "revoke", "carol")
    refusal(w, ["case", "sign", str(cid)], 7, "approvals_missing")


def test_plan_altered_after_approval_is_refused(world):
    w = world
    cid, *_ = prepared_token_case(w)
    bob, carol = keygen(w, "bob"), keygen(w, "carol")
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    cli(w, "queue", "approve", str(cid), "--key", str(carol))
    engine = sa.create_engine(w.db)
    with engine.begin() as conn:
        plan_json = conn.execute(sa.text("SELECT plan_json FROM sweep_plans WHERE case_id = :c"), {"c": cid}).scalar()
        tampered = plan_json.replace(w.ret[2:].lower(), derive(66)[2:].lower()).replace(w.ret, derive(66))
        assert tampered != plan_json
        conn.execute(sa.text("UPDATE sweep_plans SET plan_json = :p WHERE case_id = :c"), {"p": tampered, "c": cid})
    engine.dispose()
    refusal(w, ["case", "sign", str(cid)], 7, "plan_altered")


def test_deposit_reorganised_away_before_signing(world):
    w = world
    before_deposit = w.a.snapshot()
    cid, *_ = prepared_token_case(w, amount=500 * 10**6)
    bob = keygen(w, "bob")
    assert cli(w, "queue", "approve", str(cid), "--key", str(bob))["status"] == "approved"
    w.a.revert(before_deposit)   # the chain forgets the deposit...
    w.a.mine(12)                 # ...and grows past its block with other blocks
    err = refusal(w, ["case", "sign", str(cid)], 6, "deposit_gone")
    assert "no longer" in err["message"] or "reorganised" in err["message"]


def test_conditional_network_needs_proof_and_reviewer(world):
    w = world
    env = _override_config(w, conditions=["ownership_proof", "manual_review"])
    cid, token, deposit, quote = prepared_token_case(w, amount=500 * 10**6, env=env)
    bob, rita = keygen(w, "bob"), keygen(w, "rita", "reviewer")
    refusal(w, ["queue", "approve", str(cid), "--key", str(bob)], 7, "condition_unmet", env=env)
    message = cli(w, "case", "show", str(cid), env=env)["conditions"]["ownership_message"]
    assert f"case {cid}" in message and w.ret in message
    from eth_account import Account
    from eth_account.messages import encode_defunct

    Account.enable_unaudited_hdwallet_features()
    user = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/1")
    assert user.address == w.user
    stranger = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/5")
    bad = stranger.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    refusal(w, ["case", "prove", str(cid), "--signature", bad], 7, "ownership_not_proven", env=env)
    good = user.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    cli(w, "case", "prove", str(cid), "--signature", good, env=env)
    assert cli(w, "queue", "approve", str(cid), "--key", str(bob), env=env)["status"] == "awaiting_approval"
    doc = cli(w, "case", "show", str(cid), env=env)
    assert doc["approvals"]["conditions_unmet"] == ["manual_review"]
    assert cli(w, "queue", "approve", str(cid), "--key", str(rita), env=env)["status"] == "approved"


@pytest.mark.parametrize("fault", ["sent:0", "sent:1"])
def test_crash_between_transactions_resends_same_bytes(world, fault):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    bob, carol = keygen(w, "bob"), keygen(w, "carol")
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    cli(w, "queue", "approve", str(cid), "--key", str(carol))
    from evm_devnet import default_account  # noqa: F401
    from chains.evm.keys import derive_evm_account

    station = derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address
    station_nonce, deposit_nonce = nonce(w.a, station), nonce(w.a, deposit)
    signed = cli(w, "case", "sign", str(cid))  # a crash right after signing: nothing was sent yet
    crashed = run("case", "broadcast", str(cid), "--json", db=w.db, env={"RECOVER_FAULT": fault})
    assert crashed.code == 137, crashed.err
    assert cli(w, "case", "show", str(cid))["status"] == "signed"
    rerun = cli(w, "case", "broadcast", str(cid))
    assert rerun["sent"] == [t["txid"] for t in signed["transactions"]]
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert nonce(w.a, station) == station_nonce + 1      # one top-up, never two
    assert nonce(w.a, deposit) == deposit_nonce + 2      # net and fee, once each
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])
    again = cli(w, "case", "broadcast", str(cid), expect=5)
    assert again["code"] == "not_signed"


def test_audit_verify_names_altered_and_removed_events(world_both):
    w = world_both
    cid = open_case(w, "anvil", "0x" + "3c" * 32)
    cli(w, "prices", "set", "ETH", "3000")
    cli(w, "prices", "set", "BTC", "90000")
    cli(w, "prices", "set", "SOL", "150")
    report = cli(w, "audit", "verify")
    assert report["ok"] and report["events"] >= 4
    url = w.db if not w.db.startswith("postgresql://") else w.db.replace("postgresql://", "postgresql+psycopg://")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    r = run("audit", "verify", "--json", db=w.db)
    assert r.code == 1 and r.json["first_bad_seq"] == 3 and "event 3" in r.json["problems"][0]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = (SELECT actor FROM audit_events WHERE seq = 2) "
                             "WHERE seq = 3"))
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 2"))
    engine.dispose()
    r = run("audit", "verify", "--json", db=w.db)
    assert r.code == 1 and r.json["first_bad_seq"] == 2 and "removed" in r.json["problems"][0]


def test_a_token_that_reverts_after_signing_is_not_broadcast(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w, amount=500 * 10**6)
    bob = keygen(w, "bob")
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    cli(w, "case", "sign", str(cid))
    from chains.evm.keys import derive_evm_account

    station = derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address
    nonces = (nonce(w.a, station), nonce(w.a, deposit))
    # After signing, the token starts reverting every call (as a token frozen by its owner would): the
    # re-check before the first send finds the deposit gone, and nothing (no gas top-up) is sent.
    w.a.set_code(token.address, "0x60006000fd")
    err = cli(w, "case", "broadcast", str(cid), expect=6)
    assert err["code"] == "deposit_gone" and "balanceOf" in err["message"]
    assert (nonce(w.a, station), nonce(w.a, deposit)) == nonces
    doc = cli(w, "case", "show", str(cid))
    assert doc["status"] == "signed" and all(t["status"] == "signed" for t in doc["transactions"])


def test_other_conditions_need_a_recorded_signoff(world):
    w = world
    env = _override_config(w, conditions=["gas_topup", "min_value"])
    cid, *_ = prepared_token_case(w, amount=500 * 10**6, env=env)
    bob = keygen(w, "bob")
    err = refusal(w, ["queue", "approve", str(cid), "--key", str(bob)], 7, "condition_unmet", env=env)
    assert "gas_topup" in err["message"] and "min_value" in err["message"]
    refusal(w, ["case", "signoff", str(cid), "--condition", "ownership_proof", "--reason", "x"], 4,
            "invalid_condition", env=env)
    refusal(w, ["case", "signoff", str(cid), "--condition", "fork_signing", "--reason", "x"], 4,
            "condition_not_required", env=env)
    cli(w, "case", "signoff", str(cid), "--condition", "gas_topup", "--reason", "station funded by ops",
        "--actor", "olga", env=env)
    refusal(w, ["case", "signoff", str(cid), "--condition", "gas_topup", "--reason", "again"], 5,
            "duplicate_condition", env=env)
    cli(w, "case", "signoff", str(cid), "--condition", "min_value", "--reason", "500 USD is over our floor",
        env=env)
    assert cli(w, "queue", "approve", str(cid), "--key", str(bob), env=env)["status"] == "approved"
    recorded = cli(w, "case", "show", str(cid), env=env)["conditions"]["recorded"]
    assert {(c["condition"], c["by"]) for c in recorded} == {("gas_topup", "olga"), ("min_value", "tester")}


OFFLINE_SIGNER = r"""
import json, sys
from eth_account import Account
Account.enable_unaudited_hdwallet_features()
mnemonic, src, dst, tamper = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
doc = json.load(open(src))
signed = []
for t in doc["transactions"]:
    acct = Account.from_mnemonic(mnemonic, account_path=t["signer_path"])
    tx = {k: (int(v) if k not in ("to", "data", "type") else v) for k, v in t["tx"].items()}
    if tamper and t["role"] == "sweep_net":
        tx["to"] = "0x000000000000000000000000000000000000dEaD"
    signed.append("0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex())
json.dump({"case_id": doc["case_id"], "plan_hash": doc["plan_hash"], "signed": signed}, open(dst, "w"))
"""


def _offline_sign(w, export_path, out_path, tamper=False):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", OFFLINE_SIGNER, ANVIL_MNEMONIC, str(export_path), str(out_path),
                           "1" if tamper else "0"], capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr


def test_offline_signing_round_trip_and_tampered_import(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w, amount=500 * 10**6)
    bob = keygen(w, "bob")
    cli(w, "queue", "approve", str(cid), "--key", str(bob))
    export = w.tmp / "plan.json"
    doc = cli(w, "case", "export", str(cid), "--out", str(export))
    assert doc["format"] == "evm-unsigned-json"
    assert cli(w, "case", "export", str(cid), "--out", str(export), expect=4)["code"] == "file_exists"
    bad = w.tmp / "tampered.json"
    _offline_sign(w, export, bad, tamper=True)
    err = refusal(w, ["case", "import-signed", str(cid), str(bad)], 7, "signed_differs")
    assert "to is" in err["message"]
    good = w.tmp / "signed.json"
    _offline_sign(w, export, good)
    signed = cli(w, "case", "import-signed", str(cid), str(good))
    assert signed["status"] == "signed" and len(signed["transactions"]) == 3
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])
