"""Issue 12: the attacks a single operator (or anyone who can write to the database) tried, through the
installed CLI on anvil, each refused with nothing moved on chain and nothing changed in the database.

The team (tests/support/team.py): spec prepares; bob and carol approve; pete prices; wes signs.
"""

from __future__ import annotations

from clihelp import run, snapshot
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import (  # noqa: F401
    FEE_COLLECTOR,
    HOT_WALLET,
    approve,
    balances,
    cli,
    derive,
    enroll_extra,
    key,
    nothing_signed,
    register,
    scalar,
    sql,
    token_case,
    world,
    world_both,
)
from paths import REPO

STATION_PATH = "m/44'/60'/1'/0/0"


# -- 1. approvers under other names ---------------------------------------------------------------
def test_a_preparer_cannot_enroll_aliases_or_approve_with_forged_operators(world_both):
    w = world_both
    cid, token, deposit = token_case(w)
    mallory = w.tmp / "mallory.key"
    public = cli(w, "operators", "keygen", "mallory", "--out", str(mallory))["public_key"]
    before = snapshot(w.db)
    # enrolling needs an admin quorum: the preparer's own key is no admin key
    err = cli(w, "operators", "enroll", "mallory", "--public-key", public, "--roles", "senior", "--person", "m",
              "--admin-key", key("spec"), expect=7)
    assert err["code"] == "not_an_admin"
    # a key nobody enrolled approves nothing, rejects nothing
    assert cli(w, "queue", "approve", str(cid), "--key", str(mallory), expect=7)["code"] == "unknown_operator"
    assert cli(w, "queue", "reject", str(cid), "--key", str(mallory), "--reason", "x", expect=7)["code"] == \
        "unknown_operator"
    # the preparer (a specialist) cannot reject either: rejecting is an approver's decision
    err = cli(w, "queue", "reject", str(cid), "--key", key("spec"), "--reason", "spite", expect=7)
    assert err["code"] == "role_missing" and "approver or senior" in err["message"]
    assert snapshot(w.db) == before
    # an operator row and a self-signed "enrollment" written straight into the database
    from nacl.signing import SigningKey

    import forgery

    digest = forgery.append(w.db, "operator_enroll", "mallory",
                            {"name": "mallory", "public_key": public, "roles": ["senior"], "person": "m",
                             "time": "2026-12-01T00:00:00.000000Z"},
                            lambda st: st.signed_by(SigningKey.generate()))
    sql(w, "INSERT INTO operators (name, public_key, roles, person, enrolled_by, created_at) VALUES "
           "('mallory', :k, 'senior', 'm', :h, '2026-12-01 00:00:00')", k=public, h=digest)
    tampered = snapshot(w.db)
    err = cli(w, "queue", "approve", str(cid), "--key", str(mallory), expect=7)
    assert err["code"] == "operator_not_enrolled"
    assert snapshot(w.db) == tampered
    # the forged enrollment sits in the statement log: every decision is refused until it is dealt with
    # (never skipped as if it were not there)
    assert cli(w, "queue", "approve", str(cid), "--key", key("bob"), expect=7)["code"] == "history_broken"
    assert cli(w, "case", "sign", str(cid), expect=7)["code"] == "history_broken"
    assert snapshot(w.db) == tampered and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [2_500 * 10**6]
    report = run("audit", "verify", "--json", db=w.db)
    assert report.code != 0 and any("operator mallory" in p for p in report.json["problems"])


# -- 2. the tier -----------------------------------------------------------------------------------
def test_the_preparer_cannot_lower_the_approval_tier(world):
    w = world
    lenient = w.tmp / "lenient.toml"
    lenient.write_text('[[tiers]]\napprovers = 1\n')
    env = {"RECOVER_APPROVAL_POLICY": str(lenient)}  # a machine's variable no longer sets the policy
    pam, _ = enroll_extra(w, "pam", "pricer,specialist", "pam")
    cid, token, deposit = token_case(w, env=env, preparer=pam, prices_by_preparer=True)
    # pam priced pam's own case: the value does not count, the top tier applies (3, incl. a senior)
    queued = next(q for q in cli(w, "queue", "list", env=env) if q["id"] == cid)
    assert queued["approvals"]["needed"] == 3 and queued["approvals"]["roles_required"] == ["senior"]
    assert queued["approvals"]["tier_reason"] == "the price was set by the preparer: top tier"
    assert cli(w, "prices", "set", "ETH", "1", "--key", key("spec"), expect=7)["code"] == "role_missing"
    assert approve(w, cid, "bob", env=env)["status"] == "awaiting_approval"
    assert approve(w, cid, "carol", env=env)["status"] == "awaiting_approval"
    assert cli(w, "case", "sign", str(cid), env=env, expect=7)["code"] == "approvals_missing"
    # a policy is set by an admin quorum only
    from team import team

    before = snapshot(w.db)
    err = cli(w, "policy", "set", str(lenient), "--admin-key", str(team().admin_paths[0]), expect=7)
    assert err["code"] == "admin_quorum_missing"
    assert cli(w, "policy", "set", str(lenient), "--admin-key", pam, expect=7)["code"] == "not_an_admin"
    assert snapshot(w.db) == before
    assert cli(w, "policy", "show")["source"] == "chain_configs/policies/approvals.toml"
    assert nothing_signed(w, cid) and balances(w, token, deposit) == [2_500 * 10**6]


# -- 3. a "deposit address" at another wallet's path -----------------------------------------------
def test_an_address_outside_the_deposit_subtree_is_never_registered_nor_swept(world):
    w = world
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC

    station = derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address
    before = snapshot(w.db)
    for address, path in ((station, STATION_PATH), (derive(5), "m/44'/60'/0'/1/5"), (derive(5), "m/44'/60'/0'/0")):
        csv = w.tmp / "bad.csv"
        csv.write_text(f"network,address,derivation_path,account\nanvil,{address},{path},acct\n")
        r = run("addresses", "import", str(csv), "--json", db=w.db)
        assert r.code == 4 and r.error["code"] == "path_outside_deposit_prefix", r.err
    assert snapshot(w.db) == before
    # the hot wallet's key is inside the subtree (m/44'/60'/0'/0/9) but no admin registered it: a row
    # written straight into the table lets the case be prepared, never signed
    sql(w, "INSERT INTO deposit_addresses (network, address, address_key, derivation_path, account, status, "
           "created_at) VALUES ('anvil', :a, :k, :p, 'thief', 'active', '2026-12-01 00:00:00')",
        a=HOT_WALLET, k=HOT_WALLET.lower(), p="m/44'/60'/0'/0/9")
    cid, token, _ = token_case(w, deposit=HOT_WALLET, register_it=False)
    approve(w, cid, "bob", "carol")
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "deposit_not_registered" and "m/44'/60'/0'/0/9" in err["message"]
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, HOT_WALLET) == [2_500 * 10**6]


def test_the_gas_station_key_never_sweeps(world):
    """A deposit row for the gas station's own address at its own path (written into the table): the
    plan would sweep the gas station; the signer signs with that key for gas only."""
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC

    w = world
    station = derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address
    sql(w, "INSERT INTO deposit_addresses (network, address, address_key, derivation_path, account, status, "
           "created_at) VALUES ('anvil', :a, :k, :p, 'thief', 'active', '2026-12-01 00:00:00')",
        a=station, k=station.lower(), p=STATION_PATH)
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, station, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret)["id"]
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))  # the plan can be built: the signer is where it stops
    approve(w, cid, "bob", "carol")
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "deposit_not_registered" and STATION_PATH in err["message"], err
    assert snapshot(w.db) == before
    assert nothing_signed(w, cid)
    assert balances(w, token, station) == [2_500 * 10**6]


# -- 4. the preparer's configuration ----------------------------------------------------------------
def test_the_preparers_configuration_cannot_choose_the_wallets(world):

    w = world
    thief_hot, thief_fees = derive(31), derive(32)
    folder = w.tmp / "evil"
    folder.mkdir()
    text = (REPO / "chain_configs" / "anvil.toml").read_text()
    assert HOT_WALLET in text and FEE_COLLECTOR in text
    (folder / "anvil.toml").write_text(text.replace(HOT_WALLET, thief_hot).replace(FEE_COLLECTOR, thief_fees))
    evil = {"RECOVER_CONFIG_DIR": str(folder)}
    cid, token, deposit = token_case(w, credit="user-42", env=evil)
    plan = cli(w, "case", "show", str(cid))["plan"]["plan"]
    assert plan["destination"] == thief_hot and plan["fee_collector"] == thief_fees
    approve(w, cid, "bob", "carol")  # the approvers approve the hash they are shown
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)  # the signer's own configuration
    assert err["code"] == "destination_mismatch" and HOT_WALLET in err["message"]
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, deposit, thief_hot, thief_fees) == [2_500 * 10**6, 0, 0]


# -- 5. rows edited after approval -------------------------------------------------------------------
def test_rows_edited_in_the_database_are_refused_by_sign_and_named_by_audit(world_both):
    w = world_both
    cid, token, deposit = token_case(w)
    approve(w, cid, "bob")  # one of two
    quote_id = scalar(w, "SELECT max(id) FROM quotes WHERE case_id = :c", c=cid)
    sql(w, "UPDATE quotes SET value_usd = '1' WHERE id = :q", q=quote_id)  # "worth 1 USD: one approval"
    assert next(q for q in cli(w, "queue", "list") if q["id"] == cid)["approvals"]["needed"] == 2
    sql(w, "UPDATE cases SET status = 'approved' WHERE id = :c", c=cid)
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "row_tampered" and "audit log last moved it to 'awaiting_approval'" in err["message"]
    assert snapshot(w.db) == before
    sql(w, "UPDATE cases SET status = 'awaiting_approval' WHERE id = :c", c=cid)
    approve(w, cid, "carol")
    sql(w, "UPDATE cases SET return_address = :a WHERE id = :c", a=derive(33), c=cid)
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "row_tampered" and "return_address" in err["message"]
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, deposit, derive(33)) == [2_500 * 10**6, 0]
    report = run("audit", "verify", "--json", db=w.db)
    assert report.code != 0
    problems = report.json["problems"]
    assert any(f"quote {quote_id}: value_usd is '1'" in p for p in problems), problems
    assert any("return_address" in p and f"case {cid}" in p for p in problems), problems


def test_a_credit_edited_after_completion_is_not_exported(world):
    w = world
    cid, token, deposit = token_case(w, credit="user-42")
    approve(w, cid, "bob", "carol")
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    amount = int(scalar(w, "SELECT amount FROM credits WHERE case_id = :c", c=cid))
    sql(w, "UPDATE credits SET amount = :a, account = 'thief-1' WHERE case_id = :c", a=str(amount * 10), c=cid)
    before = snapshot(w.db)
    out = w.tmp / "credits.csv"
    err = cli(w, "credits", "export", "--out", str(out), expect=7)
    assert err["code"] == "credit_tampered" and "thief-1" in err["message"] and str(amount) in err["message"]
    assert not out.exists() and not list(w.tmp.glob("credits.csv.*"))
    assert snapshot(w.db) == before
    report = run("audit", "verify", "--json", db=w.db)
    problems = report.json["problems"]
    assert report.code != 0 and any(f"credit of case {cid}: credit_account is 'thief-1'" in p for p in problems)
    assert any(f"net is '{amount * 10}'" in p for p in problems), problems


def test_track_refuses_a_status_edited_in_the_database(world):
    w = world
    cid, token, deposit = token_case(w)
    approve(w, cid, "bob", "carol")
    cli(w, "case", "sign", str(cid))
    sql(w, "UPDATE cases SET status = 'broadcast' WHERE id = :c", c=cid)  # "it was sent": nothing was
    before = snapshot(w.db)
    err = cli(w, "case", "track", str(cid), expect=7)
    assert err["code"] == "row_tampered" and "'signed'" in err["message"]
    assert snapshot(w.db) == before
    assert balances(w, token, deposit) == [2_500 * 10**6]


def test_a_revoked_approver_no_longer_counts_at_sign(world):
    from team import team

    w = world
    cid, token, deposit = token_case(w)
    assert approve(w, cid, "bob", "carol")["status"] == "approved"
    cli(w, "operators", "revoke", "carol", *team().admin_args)
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "approvals_missing" and "1 of 2 approvals" in err["message"]
    assert snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, deposit) == [2_500 * 10**6]
