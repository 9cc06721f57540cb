"""Issue 5: the whole case life through the installed ``recover`` command on anvil: approvals
(maker-checker), signing, broadcast, tracking, credits, conditions, crash safety and the audit."""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

from clihelp import run, snapshot
from evm_devnet import ANVIL_MNEMONIC
from evmflow import (  # noqa: F401  # noqa: F401
    FEE_COLLECTOR,
    HOT_WALLET,
    _override_config,
    cli,
    derive,
    key,
    open_case,
    prepared_token_case,
    register,
    world,
    world_both,
)
from team import team

STATION_PATH = "m/44'/60'/1'/0/0"


def keygen(w, name):
    """A new operator key (``operators keygen``), not enrolled: (path, public key)."""
    path = w.tmp / f"{name}.key"
    public = cli(w, "operators", "keygen", name, "--out", str(path))["public_key"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    return path, public


def enroll(w, name, roles, person):
    """Enroll a new operator key with ``roles`` for ``person`` (an admin quorum): its key path."""
    path, public = keygen(w, name)
    doc = cli(w, "operators", "enroll", name, "--public-key", public, "--roles", roles, "--person", person,
              *team().admin_args)
    assert doc["active"] and doc["person"] == person
    return path


def enroll_directly(w, name, roles, person):
    """A new operator key enrolled by an admin-quorum statement stored straight into the database,
    without the checks of ``operators enroll`` (such as one approving key per person): its key path."""
    from recover.authority.operators import enrollment_statement
    from recover.authority.statement_log import append
    from recover.authority.trust import admin_keys_from_files, load_trust_root
    from recover.storage.db import session_scope
    from recover.storage.models import Operator

    path, public = keygen(w, name)
    refusal(w, ["operators", "enroll", name, "--public-key", public, "--roles", roles, "--person", person,
                *team().admin_args], 7, "person_has_approving_key")
    from recover.authority.statement_log import log_head

    root = load_trust_root(team().root_path)
    roles = ",".join(sorted(roles.split(",")))
    with session_scope(w.db) as s:
        stmt = enrollment_statement(root, name, public, tuple(roles.split(",")), person,
                                    admin_keys_from_files(team().admin_paths, root), head=log_head(s))
        record = append(s, stmt, deployment=root.deployment)
        s.add(Operator(name=name, public_key=public, roles=roles, person=person, enrolled_by=record.hash))
    return path


def revoke(w, name):
    """Revoke a team operator in this test's database (an admin quorum)."""
    assert cli(w, "operators", "revoke", name, *team().admin_args)["active"] is False


def nonce(node, address):
    return node.w3.eth.get_transaction_count(address)


def test_full_life_to_completed(world_both):
    w = world_both
    cid, token, deposit, quote = prepared_token_case(w)
    bob, sam = key("bob"), key("sam")  # sam: approver and senior
    queue = cli(w, "queue", "list")
    assert [q["id"] for q in queue] == [cid]
    assert queue[0]["approvals"]["needed"] == 2 and queue[0]["value_usd"] == "2500"  # 1,000 <= value < 100,000
    first = cli(w, "queue", "approve", str(cid), "--key", bob)
    assert first["status"] == "awaiting_approval" and first["approvals"]["counted"] == ["bob"]
    second = cli(w, "queue", "approve", str(cid), "--key", sam)
    assert second["status"] == "approved"
    wes = key("wes")  # the wallet team's signer
    signed = cli(w, "case", "sign", str(cid), "--key", wes)
    assert [t["role"] for t in signed["transactions"]] == ["gas_topup", "sweep_net", "sweep_fee"]
    sent = cli(w, "case", "broadcast", str(cid), "--key", wes)
    assert sent["status"] == "broadcast" and len(sent["sent"]) == 3
    tracked = cli(w, "case", "track", str(cid), "--key", wes)
    assert tracked["status"] == "completed"
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])
    assert token.functions.balanceOf(FEE_COLLECTOR).call() == int(quote["fee"]) + int(quote["network_cost_in_asset"])
    assert token.functions.balanceOf(deposit).call() == 0
    show = cli(w, "case", "show", str(cid))
    actions = [e["action"] for e in show["audit"]]
    for a in ("case_opened", "verified", "quoted", "prepared", "plan_approved", "approved", "signed", "tx_sent",
              "broadcast", "completed"):
        assert a in actions
    assert {e["actor"] for e in show["audit"]} >= {"alice", "bob", "sam", "wes"}
    assert [(a["approver"], a["person"], a["decision"]) for a in show["approvals"]["so_far"]] == \
        [("bob", "bob", "approve"), ("sam", "sam", "approve")]
    assert all(len(a["statement"]) == 64 for a in show["approvals"]["so_far"])
    assert cli(w, "audit", "verify")["ok"]


def test_credit_case_records_one_credit_exported_once(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w, amount=500 * 10**6, credit="acct-42")
    bob = key("bob")
    assert cli(w, "queue", "approve", str(cid), "--key", bob)["status"] == "approved"  # < 1,000 USD: one
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


def forge(w, cid, *, by, signing_key, public_key=None, plan_hash=None, person=None):
    """What someone who can write to the database could add without an enrolled key of their own: a
    ``decision`` statement approving the case's current plan (or ``plan_hash``), naming ``by`` and
    signed with ``signing_key`` (its signature filed under ``public_key`` when given), appended to the
    statement log as the code would (``tests/support/forgery.py``); with ``person``, also the ``approvals``
    row that would view it."""
    import secrets

    from sqlmodel import Session, select

    import forgery
    from recover.authority.admin_statements import now_text
    from recover.authority.statements import Signature, Statement
    from recover.storage.db import get_engine
    from recover.storage.models import Approval, StatementRecord

    shown = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    with Session(get_engine(w.db)) as s:
        plan = s.exec(select(StatementRecord).where(StatementRecord.subject == f"case:{cid}",
                                                    StatementRecord.kind == "plan")
                      .order_by(StatementRecord.seq.desc())).first()
    current = json.loads(plan.payload)["body"]["plan_hash"]
    assert current == shown
    body = {"case": cid, "plan": plan.hash, "plan_hash": plan_hash or current, "decision": "approve",
            "reason": None, "by": by, "time": now_text(), "nonce": secrets.token_hex(8)}

    def sign(stmt):
        sig = stmt.signed_by(signing_key).signatures[0]
        return Statement(stmt.kind, stmt.body, (Signature(public_key or sig.public_key, sig.signature),))

    digest = forgery.append(w.db, "decision", f"case:{cid}", body, sign)
    if person:
        with Session(get_engine(w.db)) as s:
            s.add(Approval(case_id=cid, plan_hash=body["plan_hash"], operator=by, person=person, decision="approve",
                           statement=digest))
            s.commit()
    return digest


def test_approval_refusals_change_nothing(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)  # prepared by alice (specialist and approver)
    alice, bob, carol, sam = key("alice"), key("bob"), key("carol"), key("sam")
    # nobody approves what they prepared: not with the key they prepared with, nor with another key of
    # theirs (which `operators enroll` refuses to give them; admins who enroll one anyway change nothing)
    refusal(w, ["queue", "approve", str(cid), "--key", alice], 7, "self_approval")
    alice_approver = enroll_directly(w, "alice-approver", "approver", "alice")
    refusal(w, ["queue", "approve", str(cid), "--key", str(alice_approver)], 7, "self_approval")
    # keys without an approving role, and no key at all
    refusal(w, ["queue", "approve", str(cid), "--key", key("spec")], 7, "role_missing")
    refusal(w, ["queue", "approve", str(cid), "--key", key("rita")], 7, "role_missing")
    before = snapshot(w.db)
    r = run("queue", "approve", str(cid), "--json", db=w.db, env={"RECOVER_OPERATOR_KEY": ""}, default_keys=False)
    assert r.code == 7 and r.error["code"] == "operator_key_required", r.err
    assert snapshot(w.db) == before
    cli(w, "queue", "approve", str(cid), "--key", bob)
    refusal(w, ["queue", "approve", str(cid), "--key", bob], 5, "duplicate_approval")
    # one person counts once: a second approving key of bob's decides nothing more
    bob_laptop = enroll_directly(w, "bob-laptop", "approver", "bob")
    refusal(w, ["queue", "approve", str(cid), "--key", str(bob_laptop)], 5, "duplicate_approval")
    # a key nobody enrolled, and an admin's key (no operator key)
    stranger, _ = keygen(w, "stranger")
    refusal(w, ["queue", "approve", str(cid), "--key", str(stranger)], 7, "unknown_operator")
    refusal(w, ["queue", "approve", str(cid), "--key", str(team().admin_paths[0])], 7, "unknown_operator")
    # a revoked approver
    revoke(w, "sam")
    refusal(w, ["queue", "approve", str(cid), "--key", sam], 7, "operator_revoked")
    # signing below the threshold (1 of 2): said before any signer is asked for, with no seed at all
    refusal(w, ["case", "sign", str(cid)], 7, "approvals_missing")
    err = cli(w, "case", "sign", str(cid), env={"RECOVER_SEED": ""}, expect=7)
    assert err["code"] == "approvals_missing" and "1 of 2 approvals" in err["message"]
    # broadcasting an unsigned case
    refusal(w, ["case", "broadcast", str(cid)], 5, "not_signed")

    # Forged approvals written straight into the database: none of them counts.
    from recover.casework.approvals import load_key_file

    forged = {
        # carol's decision signed with bob's key, filed under carol's public key: a bogus signature
        "bogus": forge(w, cid, by="carol", person="carol", signing_key=load_key_file(bob),
                       public_key=team().public["carol"]),
        # signed by a key nobody enrolled
        "stranger": forge(w, cid, by="stranger", person="stranger", signing_key=load_key_file(stranger)),
        # signed by sam's own key, revoked
        "revoked": forge(w, cid, by="sam", person="sam", signing_key=load_key_file(sam)),
        # carol's own valid signature, but on an older plan hash
        "stale": forge(w, cid, by="carol", person="carol", signing_key=load_key_file(carol), plan_hash="ab" * 32),
        # a valid decision by bob's second key: bob is already counted
        "alias": forge(w, cid, by="bob-laptop", signing_key=load_key_file(bob_laptop)),
    }
    queued = cli(w, "queue", "list")
    assert [q["id"] for q in queued] == [cid]
    shown = cli(w, "case", "show", str(cid))["approvals"]
    for doc in (queued[0]["approvals"], shown):
        assert doc["counted"] == ["bob"] and doc["needed"] == 2 and not doc["satisfied"], doc
        assert {"approver": "bob-laptop", "why": "person bob is counted once"} in doc["ignored"]
        assert {"approver": "carol", "why": "decided on another plan"} in doc["ignored"]  # the stale one
        assert {i["approver"] for i in doc["ignored"]} == {"bob-laptop", "carol"}  # the others are not even valid
    assert queued[0]["approvals"]["persons"] == ["bob"]
    # The forger also moves the case to approved, with a well-chained audit event: the signer never
    # skips a statement that does not check out: the log it would rest on is refused, nothing is signed.
    from recover.casework.transitions import move
    from recover.storage.db import session_scope
    from recover.storage.models import Case

    with session_scope(w.db) as s:
        move(s, s.get(Case, cid), "approved", actor="carol", action="approved",
             details={"approvers": ["bob", "carol"], "plan_hash": shown["plan_hash"]})
    assert cli(w, "queue", "list")[0]["status"] == "approved"
    err = refusal(w, ["case", "sign", str(cid)], 7, "history_broken")
    assert "nothing was signed" in err["message"] or "refusing to sign" in err["message"]
    doc = cli(w, "case", "show", str(cid))
    assert doc["status"] == "approved" and not doc["transactions"]
    # and the audit names every forged statement that does not verify
    r = run("audit", "verify", "--json", db=w.db)
    assert r.code == 1
    problems = r.json["problems"]
    for name in ("bogus", "stranger", "revoked"):
        assert any(f"({'decision'} about case:{cid})" in p for p in problems), (name, problems)
    assert any("the signature does not verify" in p for p in problems)
    assert any("signed by a key that no admin quorum enrolled" in p for p in problems)
    assert any("signed by sam's key after the admins revoked it" in p for p in problems)


def test_new_plan_voids_approvals_and_revocation_stops_counting(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    alice, bob, carol = key("alice"), key("bob"), key("carol")
    cli(w, "queue", "approve", str(cid), "--key", bob)
    old_hash = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    cli(w, "case", "prepare", str(cid), "--key", alice)  # the same plan again: same hash, approvals stand
    assert cli(w, "case", "show", str(cid))["approvals"]["counted"] == ["bob"]
    cli(w, "prices", "set", f"anvil:{token.address}", "1.10")
    assert cli(w, "case", "quote", str(cid), "--key", alice)["economical"]  # re-quote voids the plan
    cli(w, "case", "prepare", str(cid), "--key", alice)
    doc = cli(w, "case", "show", str(cid))
    assert doc["plan"]["plan_hash"] != old_hash
    assert doc["approvals"]["counted"] == [] and doc["approvals"]["so_far"] == []
    assert {"approver": "bob", "why": "decided on another plan"} in doc["approvals"]["ignored"]
    cli(w, "queue", "approve", str(cid), "--key", bob)
    assert cli(w, "queue", "approve", str(cid), "--key", carol)["status"] == "approved"
    revoke(w, "carol")
    doc = cli(w, "case", "show", str(cid))["approvals"]
    assert doc["counted"] == ["bob"] and not doc["satisfied"]
    err = refusal(w, ["case", "sign", str(cid)], 7, "approvals_missing")
    assert "1 of 2 approvals" in err["message"]


def test_plan_altered_after_approval_is_refused(world):
    w = world
    cid, *_ = prepared_token_case(w)
    bob, carol = key("bob"), key("carol")
    cli(w, "queue", "approve", str(cid), "--key", bob)
    cli(w, "queue", "approve", str(cid), "--key", carol)
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
    bob = key("bob")
    assert cli(w, "queue", "approve", str(cid), "--key", bob)["status"] == "approved"
    w.a.revert(before_deposit)   # the chain forgets the deposit...
    w.a.mine(12)                 # ...and grows past its block with other blocks
    err = refusal(w, ["case", "sign", str(cid)], 6, "deposit_gone")
    assert "no longer" in err["message"] or "reorganised" in err["message"]


def test_conditional_network_needs_proof_and_review(world):
    w = world
    env = _override_config(w, conditions=["ownership_proof", "manual_review"])
    cid, token, deposit, quote = prepared_token_case(w, amount=500 * 10**6, env=env)
    bob = key("bob")
    refusal(w, ["queue", "approve", str(cid), "--key", bob], 7, "condition_unmet", env=env)
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
    assert cli(w, "queue", "approve", str(cid), "--key", bob, env=env)["status"] == "awaiting_approval"
    doc = cli(w, "case", "show", str(cid), env=env)
    assert doc["approvals"]["conditions_unmet"] == ["manual_review"] and not doc["approvals"]["satisfied"]
    refusal(w, ["case", "sign", str(cid)], 7, "approvals_missing", env=env)
    # the manual review is a reviewer's sign-off: not the preparer's, nor an approver's
    for who in ("alice", "bob", "spec"):
        refusal(w, ["case", "signoff", str(cid), "--condition", "manual_review", "--reason", "fine",
                    "--key", key(who)], 7, "role_missing", env=env)
    cli(w, "case", "signoff", str(cid), "--condition", "manual_review", "--reason", "destination checked with the "
        "customer", env=env)  # rita, the reviewer
    doc = cli(w, "case", "show", str(cid), env=env)
    assert doc["status"] == "approved" and doc["approvals"]["satisfied"]
    assert doc["approvals"]["conditions_unmet"] == [] and doc["approvals"]["counted"] == ["bob"]
    assert {(c["condition"], c["by"]) for c in doc["conditions"]["recorded"]} == {("ownership_proof", "spec"),
                                                                                   ("manual_review", "rita")}


@pytest.mark.parametrize("fault", ["sent:0", "sent:1"])
def test_crash_between_transactions_resends_same_bytes(world, fault):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    bob, carol = key("bob"), key("carol")
    cli(w, "queue", "approve", str(cid), "--key", bob)
    cli(w, "queue", "approve", str(cid), "--key", carol)
    from chains.evm.keys import derive_evm_account
    from evm_devnet import default_account  # noqa: F401

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
    bob = key("bob")
    cli(w, "queue", "approve", str(cid), "--key", bob)
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
    bob = key("bob")
    olga = enroll(w, "olga", "reviewer", "olga")  # a second reviewer
    err = refusal(w, ["queue", "approve", str(cid), "--key", bob], 7, "condition_unmet", env=env)
    assert "gas_topup" in err["message"] and "min_value" in err["message"]
    refusal(w, ["case", "signoff", str(cid), "--condition", "ownership_proof", "--reason", "x"], 4,
            "invalid_condition", env=env)
    refusal(w, ["case", "signoff", str(cid), "--condition", "fork_signing", "--reason", "x"], 4,
            "condition_not_required", env=env)
    # a sign-off is a reviewer's: not the preparer's, an approver's or another specialist's
    for who in ("alice", "bob", "spec"):
        refusal(w, ["case", "signoff", str(cid), "--condition", "gas_topup", "--reason", "x", "--key", key(who)], 7,
                "role_missing", env=env)
    cli(w, "case", "signoff", str(cid), "--condition", "gas_topup", "--reason", "station funded by ops",
        "--key", str(olga), env=env)
    refusal(w, ["case", "signoff", str(cid), "--condition", "gas_topup", "--reason", "again"], 5,
            "duplicate_condition", env=env)
    cli(w, "case", "signoff", str(cid), "--condition", "min_value", "--reason", "500 USD is over our floor",
        env=env)  # rita
    assert cli(w, "case", "show", str(cid), env=env)["status"] == "awaiting_approval"  # signed off, not approved
    assert cli(w, "queue", "approve", str(cid), "--key", bob, env=env)["status"] == "approved"
    recorded = cli(w, "case", "show", str(cid), env=env)["conditions"]["recorded"]
    assert {(c["condition"], c["by"]) for c in recorded} == {("gas_topup", "olga"), ("min_value", "rita")}


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
    bob = key("bob")
    cli(w, "queue", "approve", str(cid), "--key", bob)
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
