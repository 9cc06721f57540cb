"""Issue 21: a signature proves that a statement exists, never that no other statement was withheld.
Each attack of an attacker who can write to the database (and holds no admin key) is done here as
they did it, through the installed CLI on anvil, and held: nothing moves on chain, no credit is
exported, nothing changes in the database, the refusal's exit code is the documented one.

The host running the commands pins the newest head of the statement log it accepted (a file next to
the team's trust root, per database), as a signer host does; a "fresh host" is one with
``RECOVER_LOG_PIN`` pointing at a file that does not exist yet.
"""

from __future__ import annotations

import json
import shutil

import pytest

import forgery
from clihelp import run, snapshot
from evmflow import approve, balances, cli, derive, key, nothing_signed, scalar, sql, token_case, world  # noqa: F401
from team import team

UNITS = 2_500 * 10**6


def fresh_host(w, name="fresh"):
    """A host that never looked at this database: no pinned head."""
    return {"RECOVER_LOG_PIN": str(w.tmp / f"{name}-pin.json")}


def statement_of(w, kind, subject=None, newest=True):
    where = "kind = :k" + (" AND subject = :s" if subject else "")
    rows = sql(w, f"SELECT hash, seq, payload FROM statements WHERE {where} ORDER BY seq", k=kind, s=subject)
    return rows[-1] if newest else rows[0]


def drop_events(w, *actions, case_id=None):
    """Delete audit events of ``actions`` (of one case) and re-hash the audit chain: it is whole again."""
    for action in actions:
        if case_id is None:
            sql(w, "DELETE FROM audit_events WHERE action = :a", a=action)
        else:
            sql(w, "DELETE FROM audit_events WHERE action = :a AND case_id = :c", a=action, c=case_id)
    forgery.rechain_audit(w.db)


def checkpoint(w, name="cp.json"):
    path = w.tmp / name
    cli(w, "audit", "checkpoint", "--out", str(path))
    return path


# -- a revocation deleted ----------------------------------------------------------------------------
def test_a_deleted_revocation_gives_the_approver_nothing_back(world):
    w = world
    cid, token, deposit = token_case(w)
    cli(w, "operators", "revoke", "carol", *team().admin_args)
    assert cli(w, "audit", "verify")["ok"]  # this host accepts the log with the revocation (and pins it)
    cp = checkpoint(w)
    revocation = statement_of(w, "operator_revoke", "carol")
    # the attack: the revocation statement deleted, the row "un-revoked", the audit chain re-hashed
    forgery.delete(w.db, revocation[0])
    sql(w, "UPDATE operators SET revoked_at = NULL, revoked_by = NULL WHERE name = 'carol'")
    drop_events(w, "operator_revoked")
    tampered = snapshot(w.db)
    # carol's approval, bob's, the signature: all refused, nothing written
    for who in ("carol", "bob"):
        err = cli(w, "queue", "approve", str(cid), "--key", key(who), expect=7)
        assert err["code"] == "history_broken" and "withheld" in err["message"], err
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "history_broken"
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [UNITS]
    # a host that never looked before cannot know the newest statement was withheld; the checkpoint
    # taken after the revocation tells it, with the key the trust root pins (no seed on this host)
    report = run("audit", "verify", "--checkpoint", str(cp), "--json", db=w.db,
                 env={**fresh_host(w), "RECOVER_SEED": ""})
    assert report.code == 1
    assert any("statement log was truncated" in p for p in report.json["problems"]), report.json


def test_a_revocation_deleted_from_the_middle_breaks_the_log_for_every_host(world):
    w = world
    cid, token, deposit = token_case(w)
    cli(w, "operators", "revoke", "carol", *team().admin_args)
    cli(w, "prices", "set", "ETH", "3001")  # life goes on: statements after the revocation
    revocation = statement_of(w, "operator_revoke", "carol")
    forgery.delete(w.db, revocation[0])
    sql(w, "UPDATE operators SET revoked_at = NULL, revoked_by = NULL WHERE name = 'carol'")
    tampered = snapshot(w.db)
    for env in ({}, fresh_host(w, "a")):  # this host (pinned), and one that never looked
        err = cli(w, "queue", "approve", str(cid), "--key", key("carol"), expect=7, env=env)
        assert err["code"] == "history_broken" and "missing" in err["message"], err
    # the careful attacker re-numbers the log and re-computes every entry: the statements after the gap
    # still name, signed, the heads they saw, which no longer exist
    forgery.rechain(w.db)
    tampered = snapshot(w.db)
    for env in ({}, fresh_host(w, "b")):
        err = cli(w, "queue", "approve", str(cid), "--key", key("carol"), expect=7, env=env)
        assert err["code"] == "history_broken", err
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [UNITS]


def test_revoke_names_the_enrollment_not_the_row(world):
    """The row's key swapped for a decoy before the admins revoke, restored after: the revocation names
    the enrollment statement and the key it enrolled, so the real key is revoked."""
    w = world
    cid, token, deposit = token_case(w)
    from nacl.signing import SigningKey

    decoy = SigningKey.generate().verify_key.encode().hex()
    real = team().public["carol"]
    sql(w, "UPDATE operators SET public_key = :d WHERE name = 'carol'", d=decoy)
    cli(w, "operators", "revoke", "carol", *team().admin_args)
    sql(w, "UPDATE operators SET public_key = :k, revoked_at = NULL, revoked_by = NULL WHERE name = 'carol'", k=real)
    body = json.loads(statement_of(w, "operator_revoke", "carol")[2])["body"]
    enrollment = statement_of(w, "operator_enroll", "carol")[0]
    assert body["public_key"] == real and body["enrollment"] == enrollment
    before = snapshot(w.db)
    err = cli(w, "queue", "approve", str(cid), "--key", key("carol"), expect=7)
    assert err["code"] == "operator_revoked"
    assert snapshot(w.db) == before


def test_statements_by_a_key_after_its_revocation_count_for_nothing(world):
    """A revoked key that leaked signs a decision and the thief appends it to the log, properly chained."""
    w = world
    cid, token, deposit = token_case(w)
    cli(w, "operators", "revoke", "carol", *team().admin_args)
    from recover.authority.admin_statements import now_text
    from recover.authority.keyfile import load_signing_key

    plan_hash = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    carol_key = load_signing_key(team().keys["carol"])
    forgery.append(w.db, "decision", f"case:{cid}",
                   {"case": cid, "plan_hash": plan_hash, "decision": "approve", "reason": None, "by": "carol",
                    "time": now_text(), "nonce": "00" * 8}, lambda st: st.signed_by(carol_key))
    tampered = snapshot(w.db)
    err = cli(w, "queue", "approve", str(cid), "--key", key("bob"), expect=7)
    assert err["code"] == "history_broken" and "after the admins revoked it" in err["message"]
    assert cli(w, "case", "sign", str(cid), expect=7)["code"] == "history_broken"
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)


# -- a rejection deleted -------------------------------------------------------------------------------
@pytest.mark.parametrize("rechain", [False, True])
def test_a_deleted_rejection_keeps_its_effect(world, rechain):
    w = world
    cid, token, deposit = token_case(w)
    cli(w, "queue", "reject", str(cid), "--key", key("sam"), "--reason", "the claimant is not the sender")
    rejection = statement_of(w, "decision", f"case:{cid}")
    # the attack: statement, approval row and audit events gone, the status reset, the chains re-hashed
    forgery.delete(w.db, rejection[0])
    if rechain:
        forgery.rechain(w.db)
    sql(w, "DELETE FROM approvals WHERE case_id = :c", c=cid)
    sql(w, "UPDATE cases SET status = 'awaiting_approval', refusal_code = NULL, refusal_reason = NULL WHERE id = :c",
        c=cid)
    drop_events(w, "plan_rejected", "rejected", case_id=cid)
    tampered = snapshot(w.db)
    for who in ("bob", "carol"):
        assert cli(w, "queue", "approve", str(cid), "--key", key(who), expect=7)["code"] == "history_broken"
    assert cli(w, "case", "sign", str(cid), expect=7)["code"] == "history_broken"
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [UNITS]


# -- the policy in force -------------------------------------------------------------------------------
STRICT = '[[tiers]]\nbelow_usd = "1000000"\napprovers = 3\nroles = ["senior"]\n\n[[tiers]]\napprovers = 3\n'
LAX = '[[tiers]]\napprovers = 1\n'


def lax_then_strict(w):
    """The admins set a 1-approver policy, then a strict one (3 approvers incl. a senior); a case follows."""
    (w.tmp / "lax.toml").write_text(LAX)
    (w.tmp / "strict.toml").write_text(STRICT)
    cli(w, "policy", "set", str(w.tmp / "lax.toml"))
    cli(w, "policy", "set", str(w.tmp / "strict.toml"))
    return token_case(w)


def test_the_policy_in_force_is_the_newest_by_admin_number_never_by_row(world):
    w = world
    cid, token, deposit = lax_then_strict(w)
    approve(w, cid, "bob")
    # 1. the lax policy's row given the higher id: ids do not order policies, admin numbers do
    lax_id, strict_id = [r[0] for r in sql(w, "SELECT id FROM statements WHERE kind = 'policy' ORDER BY seq")]
    top = scalar(w, "SELECT max(id) FROM statements")
    sql(w, "UPDATE statements SET id = :t WHERE id = :i", t=top + 1, i=lax_id)
    assert cli(w, "policy", "show")["tiers"][0]["approvers"] == 3
    assert next(q for q in cli(w, "queue", "list") if q["id"] == cid)["approvals"]["needed"] == 3
    sql(w, "UPDATE cases SET status = 'approved' WHERE id = :c", c=cid)  # and the status forged
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] in ("row_tampered", "approvals_missing"), err
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    sql(w, "UPDATE cases SET status = 'awaiting_approval' WHERE id = :c", c=cid)
    # 2. the admin numbers of the two rows swapped: the log no longer chains, and the newest number's
    #    statement does not say that number: refused, never an older policy instead
    lax_n, strict_n = [r[0] for r in sql(w, "SELECT admin_seq FROM statements WHERE kind = 'policy' ORDER BY seq")]
    sql(w, "UPDATE statements SET admin_seq = NULL WHERE kind = 'policy'")
    sql(w, "UPDATE statements SET admin_seq = :n WHERE id = :i", n=strict_n, i=top + 1)
    sql(w, "UPDATE statements SET admin_seq = :n WHERE id = :i", n=lax_n, i=strict_id)
    shown = cli(w, "policy", "show", expect=7)
    assert shown["code"] == "policy_invalid"
    before = snapshot(w.db)
    assert cli(w, "queue", "approve", str(cid), "--key", key("carol"), expect=7)["code"] == "history_broken"
    assert cli(w, "case", "sign", str(cid), expect=7)["code"] == "history_broken"
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [UNITS]


def test_a_deleted_strict_policy_is_a_broken_history(world):
    w = world
    cid, token, deposit = lax_then_strict(w)
    forgery.delete(w.db, statement_of(w, "policy")[0])
    forgery.rechain(w.db)  # whole again, re-numbered: only the pinned head and the signed heads tell
    assert cli(w, "policy", "show")["tiers"] == [{"below_usd": None, "approvers": 1, "roles": []}]  # a mere view
    tampered = snapshot(w.db)
    assert cli(w, "queue", "approve", str(cid), "--key", key("bob"), expect=7)["code"] == "history_broken"
    assert cli(w, "queue", "approve", str(cid), "--key", key("bob"), expect=7,
               env=fresh_host(w))["code"] == "history_broken"
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)


# -- rows copied from another case ---------------------------------------------------------------------
def test_copied_transactions_never_complete_a_case_nor_pay_a_credit(world):
    w = world
    honest, token_a, deposit_a = token_case(w, credit="user-1")
    approve(w, honest, "bob", "carol")
    cli(w, "case", "sign", str(honest))
    cli(w, "case", "broadcast", str(honest))
    assert cli(w, "case", "track", str(honest))["status"] == "completed"
    out = w.tmp / "first.csv"
    assert cli(w, "credits", "export", "--out", str(out))["exported"] == 1
    thief, token_b, deposit_b = token_case(w, credit="thief-9", deposit=derive(21), path="m/44'/60'/0'/0/21")
    cli(w, "queue", "reject", str(thief), "--key", key("sam"), "--reason", "not the sender")
    plan_b = cli(w, "case", "show", str(thief))["plan"]["plan_hash"]
    # the attack: the rejected case forged to broadcast (its audit event appended like the code's),
    # the honest case's signed transactions copied into it under its plan, a track job queued
    from recover.storage.audit import append_event
    from recover.storage.db import session_scope

    sql(w, "UPDATE cases SET status = 'broadcast', refusal_code = NULL WHERE id = :c", c=thief)
    with session_scope(w.db) as s:
        append_event(s, actor="wes", action="broadcast", case_id=thief, from_status="signed", to_status="broadcast")
    sql(w, "INSERT INTO signed_txs (case_id, plan_hash, seq, role, raw, txid, status, confirmations, signed_by, "
           "created_at) SELECT :t, :p, seq, role, raw, txid, 'sent', 0, signed_by, created_at FROM signed_txs "
           "WHERE case_id = :h", t=thief, p=plan_b, h=honest)
    sql(w, "INSERT INTO jobs (case_id, kind, due_at, attempts, created_at) VALUES (:t, 'track', "
           "'2026-01-01 00:00:00', 0, '2026-01-01 00:00:00')", t=thief)
    r = run("worker", "--once", "--json", db=w.db)
    assert r.code == 0, r.err
    assert scalar(w, "SELECT status FROM cases WHERE id = :c", c=thief) == "broadcast"
    assert scalar(w, "SELECT count(*) FROM credits WHERE case_id = :c", c=thief) == 0
    err = cli(w, "case", "track", str(thief), expect=7)
    assert err["code"] == "row_tampered" and "wallet team" in err["message"], err
    second = w.tmp / "second.csv"
    assert cli(w, "credits", "export", "--out", str(second))["exported"] == 0
    assert balances(w, token_b, deposit_b) == [UNITS]
    report = run("audit", "verify", "--json", db=w.db)
    assert report.code == 1 and any(f"case {thief}" in p and "wallet team" in p for p in report.json["problems"])
    # a credit row written by hand for the thief is refused by the export, naming the case
    sql(w, "INSERT INTO credits (case_id, account, network, asset, amount, decimals, txids, created_at) "
           "SELECT :t, 'thief-9', network, asset, amount, decimals, txids, created_at FROM credits WHERE case_id = :h",
        t=thief, h=honest)
    before = snapshot(w.db)
    err = cli(w, "credits", "export", "--out", str(w.tmp / "third.csv"), expect=7)
    assert err["code"] == "credit_tampered" and f"case {thief}" in err["message"]
    assert snapshot(w.db) == before and not (w.tmp / "third.csv").exists()


# -- reopen re-attests what was signed ----------------------------------------------------------------
def test_reopen_re_attests_the_signed_claim_never_the_row(world):
    w = world
    cid, token, deposit = token_case(w)
    cli(w, "queue", "reject", str(cid), "--key", key("sam"), "--reason", "wrong claimant")
    thief = derive(44)
    sql(w, "UPDATE cases SET return_address = :a WHERE id = :c", a=thief, c=cid)
    before = snapshot(w.db)
    for extra in (["--preview"], list(team().admin_args)):
        err = cli(w, "case", "reopen", str(cid), "--reason", "second look", *extra, expect=7)
        assert err["code"] == "row_tampered" and "return_address" in err["message"], err
    assert snapshot(w.db) == before
    sql(w, "UPDATE cases SET return_address = :a WHERE id = :c", a=w.ret, c=cid)
    shown = cli(w, "case", "reopen", str(cid), "--reason", "second look", "--preview")
    assert shown["status"] == "verified" and shown["statement"]["claim"]["return_address"] == w.ret
    assert shown["statement"]["facts"][0]["amount"] == str(UNITS)
    text = run("case", "reopen", str(cid), "--reason", "second look", "--preview", db=w.db)
    assert text.code == 0 and w.ret in text.out and "nothing was signed" in text.err
    done = cli(w, "case", "reopen", str(cid), "--reason", "second look", *team().admin_args)
    assert done["status"] == "verified" and done["statement"]["claim"]["return_address"] == w.ret
    body = json.loads(statement_of(w, "reopen", f"case:{cid}")[2])["body"]
    assert body["claim"]["return_address"] == w.ret and body["reopens"] == done["statement"]["reopens"]


# -- statements made elsewhere -------------------------------------------------------------------------
def test_decisions_made_in_a_copy_of_the_database_count_for_nothing(world):
    w = world
    cid, token, deposit = token_case(w)
    path = w.db.split("///", 1)[1]
    copy_path = w.tmp / "copy.db"
    shutil.copy(path, copy_path)
    copy = f"sqlite:///{copy_path}"
    for who in ("bob", "carol"):  # the approvers decide in the copy (a staging host, a restored backup)
        r = run("queue", "approve", str(cid), "--key", key(who), "--json", db=copy,
                env={"RECOVER_LOG_PIN": str(w.tmp / "copy-pin.json")})
        assert r.code == 0, r.err
    cli(w, "prices", "set", "ETH", "3002")  # meanwhile the original goes on
    from sqlmodel import Session, select

    from recover.authority.statements import Statement
    from recover.storage.db import get_engine
    from recover.storage.models import StatementRecord

    with Session(get_engine(copy)) as s:
        copied = [Statement.from_dict({**json.loads(r.payload), "signatures": r.signatures})
                  for r in s.exec(select(StatementRecord).where(StatementRecord.kind == "decision"))]
    assert len(copied) == 2
    for st in copied:  # appended to the original, each at its right place, its entry computed
        forgery.append(w.db, st.kind, f"case:{cid}", {k: v for k, v in st.body.items() if k != "log"},
                       lambda _: st, head=st.body["log"]["head"])
    sql(w, "UPDATE cases SET status = 'approved' WHERE id = :c", c=cid)
    tampered = snapshot(w.db)
    for env in ({}, fresh_host(w)):
        err = cli(w, "case", "sign", str(cid), expect=7, env=env)
        assert err["code"] == "history_broken" and "another copy of the database" in err["message"], err
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [UNITS]


def test_a_statement_of_another_deployment_counts_for_nothing(world):
    """Bob's own, valid signature over a decision made in another deployment (same people, another
    trust root) placed at the right spot of this log: it names the other deployment."""
    w = world
    cid, token, deposit = token_case(w)
    from recover.authority.admin_statements import now_text
    from recover.authority.keyfile import load_signing_key

    plan_hash = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    for who in ("bob", "carol"):
        k = load_signing_key(team().keys[who])
        forgery.append(w.db, "decision", f"case:{cid}",
                       {"case": cid, "plan_hash": plan_hash, "decision": "approve", "reason": None, "by": who,
                        "time": now_text(), "nonce": "11" * 8}, lambda st, k=k: st.signed_by(k),
                       deployment="ab" * 16)
    sql(w, "UPDATE cases SET status = 'approved' WHERE id = :c", c=cid)
    tampered = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "history_broken" and "made for deployment abababab" in err["message"], err
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)


# -- a way out of every state -------------------------------------------------------------------------
def test_close_ends_a_stuck_case_and_keeps_its_effect(world):
    w = world
    cid, token, deposit = token_case(w)
    # a reviewer closes before approval; after it, only an admin quorum
    approve(w, cid, "bob", "carol")
    before = snapshot(w.db)
    err = cli(w, "case", "close", str(cid), "--as", "unrecoverable", "--reason", "funds gone",
              "--key", key("rita"), expect=7)
    assert err["code"] == "admin_quorum_required"
    assert cli(w, "case", "close", str(cid), "--as", "unrecoverable", "--reason", "funds gone", "--key",
               key("bob"), expect=7)["code"] == "role_missing"
    assert cli(w, "case", "close", str(cid), "--as", "gone", "--reason", "x", *team().admin_args,
               expect=4)["code"] == "invalid_close"
    assert cli(w, "case", "close", str(cid), "--as", "rejected", "--reason", " ", *team().admin_args,
               expect=4)["code"] == "reason_required"
    assert snapshot(w.db) == before
    doc = cli(w, "case", "close", str(cid), "--as", "unrecoverable", "--reason", "funds gone",
              *team().admin_args)
    assert doc["status"] == "unrecoverable" and doc["refusal"]["code"] == "closed"
    assert cli(w, "case", "sign", str(cid), expect=5)["code"] == "not_approved"
    # the attacker sets the status back and re-hashes the audit chain: the close still holds
    sql(w, "UPDATE cases SET status = 'approved', refusal_code = NULL, refusal_reason = NULL WHERE id = :c", c=cid)
    sql(w, "UPDATE sweep_plans SET superseded_at = NULL WHERE case_id = :c", c=cid)
    drop_events(w, "closed", "plan_superseded", case_id=cid)
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "case_closed" and "funds gone" in err["message"], err
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [UNITS]


def test_a_reviewer_closes_before_approval_and_admins_reopen(world):
    w = world
    cid, token, deposit = token_case(w)
    doc = cli(w, "case", "close", str(cid), "--as", "rejected", "--reason", "duplicate appeal", "--key", key("rita"))
    assert doc["status"] == "rejected"
    assert cli(w, "case", "close", str(cid), "--as", "rejected", "--reason", "again", "--key", key("rita"),
               expect=5)["code"] == "not_closable"
    body = json.loads(statement_of(w, "close", f"case:{cid}")[2])["body"]
    assert body["as"] == "rejected" and body["from"] == "awaiting_approval" and body["by"] == "rita"
    reopened = cli(w, "case", "reopen", str(cid), "--reason", "not a duplicate after all", *team().admin_args)
    assert reopened["status"] == "verified"
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    approve(w, cid, "bob", "carol")
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert balances(w, token, deposit) == [0]


# -- the same family elsewhere: a price row --------------------------------------------------------------
def test_a_price_row_nobody_signed_quotes_nothing(world):
    """The fee in the asset is computed from the newest price: a row edited (or inserted) in the
    database would turn the user's tokens into fees.  It is refused, never skipped for an older one."""
    w = world
    from evm_devnet import deploy, fund_token, token_transfer
    from evmflow import register

    deposit = derive(20)
    register(w, [("anvil", deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, deposit, UNITS)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret)["id"]
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    sql(w, "UPDATE prices SET usd = '0.0001' WHERE asset = :a", a=f"anvil:{token.address}")
    before = snapshot(w.db)
    err = cli(w, "case", "quote", str(cid), expect=7)
    assert err["code"] == "price_tampered" and "0.0001" in err["message"]
    assert snapshot(w.db) == before
    sql(w, "UPDATE prices SET usd = '1' WHERE asset = :a", a=f"anvil:{token.address}")
    sql(w, "INSERT INTO prices (asset, usd, at, created_by, created_at) VALUES (:a, '0.0001', '2099-01-01 00:00:00', "
           "'pete', '2026-12-07 00:00:00')", a=f"anvil:{token.address}")
    before = snapshot(w.db)
    assert cli(w, "case", "quote", str(cid), expect=7)["code"] == "price_tampered"
    assert snapshot(w.db) == before


def test_audit_names_a_signed_case_no_job_will_move(world):
    """No case is ever left signed or broadcast without a job that will move it: the worker queues one
    again, and `audit verify` names the case meanwhile."""
    w = world
    cid, token, deposit = token_case(w)
    approve(w, cid, "bob", "carol")
    cli(w, "case", "sign", str(cid))
    assert cli(w, "audit", "verify")["ok"]
    sql(w, "DELETE FROM jobs WHERE case_id = :c", c=cid)
    report = run("audit", "verify", "--json", db=w.db)
    assert report.code == 1 and any(f"case {cid} is signed and no job will move it" in p
                                    for p in report.json["problems"]), report.json
    assert run("worker", "--once", "--json", db=w.db).code == 0
    assert cli(w, "case", "show", str(cid))["status"] in ("broadcast", "completed")
    assert cli(w, "audit", "verify")["ok"]


# -- the rows an approver reads are the rows the preparer signed -------------------------------------
def test_plan_rows_edited_in_the_database_are_never_shown_as_the_plan(world):
    """The read path shows a plan's rows without its adapter (issue 22): an attacker who rewrites the
    stored rows to show a harmless destination (or rewrites the stored plan) must not be able to
    make an approver read them as the plan.  ``case show`` (JSON, text) and the web page show no
    rows and say why; nothing changes in the database; signing still refuses a plan that does not
    hash to its hash."""
    w = world
    cid, token, _ = token_case(w)
    shown = cli(w, "case", "show", str(cid))["plan"]
    assert shown["steps"] and shown["steps_problem"] is None  # untouched: the signed rows are shown
    thief = derive(33)
    rows = json.loads(scalar(w, "SELECT steps_view FROM sweep_plans WHERE case_id = :c", c=cid))
    payout = next(m for s in rows for m in s["moves"] if m["to"].lower() == w.ret.lower())
    forged = json.loads(json.dumps(rows).replace(payout["to"], thief))  # ... the rows now name the thief
    assert forged != rows
    sql(w, "UPDATE sweep_plans SET steps_view = :v WHERE case_id = :c", v=json.dumps(forged), c=cid)
    before = snapshot(w.db)
    shown = cli(w, "case", "show", str(cid))["plan"]
    assert shown["steps"] is None and "altered" in shown["steps_problem"]
    text = run("case", "show", str(cid), db=w.db)
    assert text.code == 0 and "its steps are not shown" in text.out and thief not in text.out
    assert snapshot(w.db) == before

    # the stored plan rewritten (its hash kept): the rows are not shown either, and nothing signs it
    sql(w, "UPDATE sweep_plans SET steps_view = :v WHERE case_id = :c", v=json.dumps(rows), c=cid)
    plan_json = scalar(w, "SELECT plan_json FROM sweep_plans WHERE case_id = :c", c=cid)
    sql(w, "UPDATE sweep_plans SET plan_json = :p WHERE case_id = :c", p=plan_json.replace(payout["to"], thief), c=cid)
    shown = cli(w, "case", "show", str(cid))["plan"]
    assert shown["steps"] is None and "does not hash" in shown["steps_problem"]
    for name in ("bob", "carol"):
        run("queue", "approve", str(cid), "--key", key(name), "--json", db=w.db)
    refused = run("case", "sign", str(cid), "--json", db=w.db)
    assert refused.code != 0, refused.out
    assert nothing_signed(w, cid) and balances(w, token, thief) == [0]
