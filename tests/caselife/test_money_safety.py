"""Money safety on real nodes through the installed CLI (issue 11): one deposit, one case, whatever
the network key; concurrent signing and broadcasting with one winner and one audit event per effect.
"""

from __future__ import annotations

import os
import subprocess

from clihelp import RECOVER, finished, run, snapshot
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import cli, derive, key, open_case, prepared_token_case, register, world, world_both  # noqa: F401
from paths import REPO

STATION_PATH = "m/44'/60'/1'/0/0"


def nonce(node, address):
    return node.w3.eth.get_transaction_count(address)


def _twin_config(w) -> dict:
    """A second network file for anvil's chain (31337) under another key, as a careless operator adds."""
    folder = w.tmp / "twin"
    folder.mkdir(exist_ok=True)
    text = (REPO / "chain_configs" / "anvil.toml").read_text().replace('key = "anvil"', 'key = "anvil-twin"')
    (folder / "anvil-twin.toml").write_text(text)
    return {"RECOVER_CONFIG_DIR": str(folder)}


def test_one_deposit_is_one_case_whatever_the_network_key(world):
    w = world
    env = _twin_config(w)
    rows = [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active"), ("anvil-twin", w.deposit, "m/44'/60'/0'/0/20",
                                                                   "active")]
    csv = w.tmp / "addresses.csv"
    csv.write_text("network,address,derivation_path,account,status\n"
                   + "".join(f"{n},{a},{p},acct,{s}\n" for n, a, p, s in rows))
    assert run("addresses", "import", str(csv), db=w.db, env=env).code == 0
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, w.deposit, 10**9)["transactionHash"].to_0x_hex()
    first = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret, env=env)["id"]
    cli(w, "case", "verify", str(first), env=env)
    before = snapshot(w.db)
    for scope in ([], ["--deposit-address", w.deposit], ["--asset", token.address]):
        err = cli(w, "case", "open", "--network", "anvil-twin", "--tx", tx, "--return-address", w.ret, *scope,
                  env=env, expect=5)
        assert err["code"] == "duplicate" and f"case {first}" in err["message"] and "eip155:31337" in err["message"]
    assert snapshot(w.db) == before
    listed = run("networks", "--devnets", "--json", env=env)
    # both are devnets (the twin is a copy of anvil.toml): never warned about (issue 23); two real files
    # for one chain are (tests/cli/test_networks_listing.py)
    assert listed.code == 0 and "anvil-twin" in {n["key"] for n in listed.json}
    assert "one chain" not in listed.err


def _approved_case(w):
    cid, token, deposit, quote = prepared_token_case(w)
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    assert cli(w, "queue", "approve", str(cid), "--key", key("carol"))["status"] == "approved"
    return cid, token, quote


def _at_once(w, *args, n=2):
    env = {**os.environ, "RECOVER_DB_URL": w.db, "RECOVER_OPERATOR_KEY": key("wes")}  # the wallet team's signer
    procs = [subprocess.Popen([RECOVER, *args, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    return [finished(p, 180) for p in procs]


def test_two_signers_at_once_one_wins_the_other_exits_5(world_both):
    w = world_both
    cid, token, quote = _approved_case(w)
    results = _at_once(w, "case", "sign", str(cid))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 5], results
    loser = next(err for code, _, err in results if code == 5)
    assert "Traceback" not in loser and "INSERT" not in loser and "0x02f8" not in loser
    assert '"code": "concurrent_sign"' in loser or '"code": "already_signed"' in loser or \
        '"code": "concurrent_update"' in loser
    actions = [e["action"] for e in cli(w, "case", "show", str(cid))["audit"]]
    assert actions.count("signed") == 1 and "resigned" not in actions
    sent = _at_once(w, "case", "broadcast", str(cid))
    assert all(code in (0, 5) for code, _, _ in sent), sent
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    actions = [e["action"] for e in cli(w, "case", "show", str(cid))["audit"]]
    assert actions.count("tx_sent") == 3 and actions.count("broadcast") == 1
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])


def test_broadcast_rechecks_and_spends_no_gas_into_a_frozen_token(world):
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC, transact

    w = world
    cid, token, deposit, quote = prepared_token_case(w, contract="PausableToken")
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    cli(w, "queue", "approve", str(cid), "--key", key("carol"))
    cli(w, "case", "sign", str(cid))
    station = derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address
    station_nonce, deposit_nonce = nonce(w.a, station), nonce(w.a, deposit)
    station_balance = w.a.w3.eth.get_balance(station)
    transact(token.functions.pause(), sender=w.a.accounts[0])  # the issuer freezes the token after signing
    before = snapshot(w.db)
    err = cli(w, "case", "broadcast", str(cid), expect=6)
    assert err["code"] == "would_fail" and "EnforcedPause" in err["message"]
    assert nonce(w.a, station) == station_nonce and nonce(w.a, deposit) == deposit_nonce  # nothing sent
    assert w.a.w3.eth.get_balance(station) == station_balance  # no gas top-up into a frozen token
    assert snapshot(w.db) == before
    transact(token.functions.unpause(), sender=w.a.accounts[0])
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])


def _lookalike(address: str) -> str:
    """An address with the same first and last four hex digits as ``address`` (address poisoning)."""
    from eth_utils import to_checksum_address

    body = address[2:].lower()
    middle = "".join("0" if c != "0" else "1" for c in body[4:-4])
    return to_checksum_address("0x" + body[:4] + middle + body[-4:])


def test_a_contract_destination_is_refused_at_prepare_unless_signed_off(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, w.deposit, 10**9)["transactionHash"].to_0x_hex()
    contract = deploy(w.a.w3, "StandardToken", "Sink", "SNK", 6).address  # code at the return address
    cid = open_case(w, "anvil", tx, return_address=contract)
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    cli(w, "case", "quote", str(cid))
    before = snapshot(w.db)
    err = cli(w, "case", "prepare", str(cid), expect=7)
    assert err["code"] == "destination_contract" and contract in err["message"]
    assert snapshot(w.db) == before
    cli(w, "case", "signoff", str(cid), "--condition", "contract_destination", "--reason", "user's multisig, checked")
    assert cli(w, "case", "prepare", str(cid))["plan"]["destination"] == contract


def test_a_lookalike_return_address_needs_a_reviewer(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    from evm_devnet import send_eth

    tx = send_eth(w.a.w3, w.user, w.deposit, 2 * 10**18)["transactionHash"].to_0x_hex()
    poisoned = _lookalike(w.user)  # looks like the sender of the deposit
    cid = open_case(w, "anvil", tx, return_address=poisoned)
    doc = cli(w, "case", "verify", str(cid))
    assert doc["flags"] == ["lookalike_destination"]
    cli(w, "prices", "set", "ETH", "3000")
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    for name in ("bob", "carol", "sam"):  # more approvers than the tier needs: still not enough
        state = cli(w, "queue", "approve", str(cid), "--key", key(name))
    assert state["status"] == "awaiting_approval"
    assert "manual_review" in state["approvals"]["conditions_unmet"]
    assert cli(w, "case", "show", str(cid))["status"] == "awaiting_approval"
    # the review is a reviewer's signed sign-off (rita), not another approval
    cli(w, "case", "signoff", str(cid), "--condition", "manual_review", "--reason", "checked with the user by phone")
    doc = cli(w, "case", "show", str(cid))
    assert doc["status"] == "approved" and doc["approvals"]["conditions_unmet"] == []


def _approve(w, cid, names=("bob", "carol")):
    for name in names:
        state = cli(w, "queue", "approve", str(cid), "--key", key(name))
    assert state["status"] == "approved", state
    return state


def test_a_taken_nonce_replans_the_case_instead_of_leaving_it_signed_forever(world):
    """Two tokens at one deposit address, both signed before either is sent: they were planned with the
    same gas-station and deposit nonces.  The second one's broadcast finds its nonces taken: nothing is
    sent, the plan and its approvals are voided, and the case can be planned and completed again."""
    w = world
    first, token_a, deposit, quote_a = prepared_token_case(w, deposit_index=21)
    second, token_b, _, _ = prepared_token_case(w, deposit_index=21)
    _approve(w, first)
    _approve(w, second)
    cli(w, "case", "sign", str(first))
    cli(w, "case", "sign", str(second))
    cli(w, "case", "broadcast", str(first))
    assert cli(w, "case", "track", str(first))["status"] == "completed"
    err = cli(w, "case", "broadcast", str(second), expect=5)
    assert err["code"] == "replan_needed" and "nonce" in err["message"]
    doc = cli(w, "case", "show", str(second))
    assert doc["status"] == "verified" and doc["refusal"]["code"] == "nonce_taken" and doc["plan"] is None
    assert token_b.functions.balanceOf(deposit).call() == 2_500 * 10**6  # nothing moved
    cli(w, "case", "quote", str(second))
    cli(w, "case", "prepare", str(second), "--key", key("alice"))
    _approve(w, second)
    cli(w, "case", "sign", str(second))
    cli(w, "case", "broadcast", str(second))
    assert cli(w, "case", "track", str(second))["status"] == "completed"
    assert token_b.functions.balanceOf(deposit).call() == 0
    assert token_a.functions.balanceOf(w.ret).call() == int(quote_a["net"])


def _native_signed_case(w, amount=2 * 10**18):
    from evm_devnet import send_eth

    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    tx = send_eth(w.a.w3, w.user, w.deposit, amount)["transactionHash"].to_0x_hex()
    cid = open_case(w, "anvil", tx)
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", "ETH", "3000")
    quote = cli(w, "case", "quote", str(cid))
    prepared = cli(w, "case", "prepare", str(cid), "--key", key("alice"))
    assert quote["id"] == prepared["id"] == cid  # DESIGN: a case's id is `id` in every JSON document
    _approve(w, cid)
    signed = cli(w, "case", "sign", str(cid))
    return cid, quote, [t["txid"] for t in signed["transactions"]]


def test_a_dropped_transaction_is_sent_again_with_the_same_bytes(world):
    w = world
    cid, quote, txids = _native_signed_case(w)
    w.a.rpc("evm_setAutomine", [False])
    try:
        assert cli(w, "case", "broadcast", str(cid))["sent"] == txids
        for txid in txids:  # evicted from the pool before any block
            w.a.rpc("anvil_dropTransaction", [txid])
        assert w.a.rpc("eth_getTransactionByHash", [txids[0]]) is None
        tracked = cli(w, "case", "track", str(cid))
        assert tracked["status"] == "broadcast" and [t["status"] for t in tracked["transactions"]] == ["sent"] * 2
        w.a.mine(1)
    finally:
        w.a.rpc("evm_setAutomine", [True])
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    actions = [e["action"] for e in cli(w, "case", "show", str(cid))["audit"]]
    assert actions.count("tx_resent") == 2 and actions.count("tx_sent") == 2
    assert w.a.w3.eth.get_balance(w.deposit) == 0
    assert w.a.w3.eth.get_balance(w.ret) >= int(quote["net"])


def test_a_dropped_transaction_that_can_never_land_replans_while_the_money_is_there(world):
    w = world
    cid, quote, txids = _native_signed_case(w)
    w.a.rpc("evm_setAutomine", [False])
    try:
        cli(w, "case", "broadcast", str(cid))
        for txid in txids:
            w.a.rpc("anvil_dropTransaction", [txid])
        # someone with the deposit's key uses its nonces meanwhile (and tops it up: the deposit is still there)
        w.a.set_balance(w.deposit, 3 * 10**18)
        w.a.impersonate(w.deposit)
        for _ in range(2):
            w.a.w3.eth.send_transaction({"from": w.deposit, "to": w.deposit, "value": 0})
        w.a.mine(1)
    finally:
        w.a.rpc("evm_setAutomine", [True])
    tracked = cli(w, "case", "track", str(cid))
    assert tracked["status"] == "verified"  # never "failed" while the money is at the deposit address
    doc = cli(w, "case", "show", str(cid))
    assert doc["refusal"]["code"] == "tx_failed" and "still at the deposit address" in doc["refusal"]["reason"]
    assert doc["plan"] is None and [e["action"] for e in doc["audit"]][-1] == "replan_needed"


def test_a_claim_refused_as_not_ours_is_verified_again_after_the_import(world):
    w = world
    from evm_devnet import send_eth

    tx = send_eth(w.a.w3, w.user, w.deposit, 10**18)["transactionHash"].to_0x_hex()
    cid = open_case(w, "anvil", tx)
    err = cli(w, "case", "verify", str(cid), expect=6)
    assert err["code"] == "not_ours"
    doc = cli(w, "case", "show", str(cid))
    assert doc["status"] == "open" and doc["refusal"]["code"] == "not_ours"  # not final
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    doc = cli(w, "case", "verify", str(cid))
    assert doc["status"] == "verified" and doc["classification"] == "retired_address" and doc["refusal"] is None


FORWARDER = "0x6000600060006000346000355af100"  # forwards msg.value to the address in its calldata


def test_a_claim_naming_another_transaction_of_the_block_is_refused(world):
    """The deposit's block also holds the attacker's own transaction: the balance of the deposit address
    rose across that block, but the claimed transaction moved nothing to it.  Only the claimed
    transaction's own value or its traced internal transfers prove a native deposit."""
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    forwarder = derive(51)
    w.a.set_code(forwarder, FORWARDER)
    stranger = derive(52)
    w.a.rpc("evm_setAutomine", [False])
    try:
        real = w.a.w3.eth.send_transaction({"from": w.user, "to": w.deposit, "value": 10**18})
        # the attacker's transaction in the same block: through a contract, to someone else
        fake = w.a.w3.eth.send_transaction({"from": w.a.accounts[2], "to": forwarder, "value": 10**15,
                                            "data": "0x" + "00" * 12 + stranger[2:].lower(), "gas": 100_000})
        w.a.mine(1)
    finally:
        w.a.rpc("evm_setAutomine", [True])
    receipts = [w.a.w3.eth.get_transaction_receipt(t) for t in (real, fake)]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    attack = open_case(w, "anvil", fake.to_0x_hex(), deposit_address=w.deposit, asset="ETH")
    err = cli(w, "case", "verify", str(attack), expect=6)
    assert err["code"] == "no_matching_transfer"
    assert cli(w, "case", "show", str(attack))["facts"] is None
    honest = open_case(w, "anvil", real.to_0x_hex(), deposit_address=w.deposit)
    doc = cli(w, "case", "verify", str(honest))
    assert doc["facts"][0]["amount"] == str(10**18) and doc["facts"][0]["deposit_index"] == -1


def test_preparing_an_approved_case_again_into_the_same_plan_keeps_its_approvals(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    state = _approve(w, cid)
    plan_hash = state["approvals"]["plan_hash"]
    again = cli(w, "case", "prepare", str(cid), "--key", key("alice"))
    assert again["plan_hash"] == plan_hash
    doc = cli(w, "case", "show", str(cid))
    assert doc["status"] == "approved" and doc["approvals"]["satisfied"] is True
    assert [e["action"] for e in doc["audit"]][-1] == "plan_unchanged"
    cli(w, "case", "sign", str(cid))  # the approvals still count


def test_a_failed_case_whose_transactions_land_after_all_completes_and_records_its_credit(world):
    """A case given up on (failed) is still tracked: when its transactions are found confirmed after
    all, it completes and owes its credit exactly once."""
    w = world
    cid, token, deposit, quote = prepared_token_case(w, credit="acct-late")
    _approve(w, cid)
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    from recover.casework.transitions import move
    from recover.storage.db import session_scope
    from recover.storage.models import Case

    with session_scope(w.db) as s:  # an earlier track had found them missing and failed the case
        move(s, s.get(Case, cid), "failed", actor="tester", action="failed", details={"why": "test: gave up"},
             extra={"refusal_code": "tx_failed", "refusal_reason": "dropped"})
    assert cli(w, "case", "show", str(cid))["status"] == "failed"
    tracked = cli(w, "case", "track", str(cid))
    assert tracked["status"] == "completed"
    out = w.tmp / "credits.csv"
    assert cli(w, "credits", "export", "--out", str(out))["exported"] == 1
    assert f"{cid},acct-late,anvil," in out.read_text()
    assert int(out.read_text().splitlines()[1].split(",")[4]) == int(quote["net"])
    assert cli(w, "case", "track", str(cid), expect=5)["code"] == "not_broadcast"


def test_a_failed_case_whose_funds_are_still_there_is_reopened_to_be_planned_again(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    from recover.casework.transitions import move
    from recover.storage.db import session_scope
    from recover.storage.models import Case

    with session_scope(w.db) as s:
        case = s.get(Case, cid)
        for status in ("approved", "signed", "failed"):
            move(s, case, status, actor="tester", action=f"test_{status}")
    doc = cli(w, "case", "reopen", str(cid), "--reason", "the sweep never landed; funds still there")
    assert doc["status"] == "verified" and doc["plan"] is None
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid), "--key", key("alice"))
    _approve(w, cid)
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert token.functions.balanceOf(w.ret).call() > 0


def test_the_signer_checks_the_destination_again(world):
    """Approved, then the return address turns out to be one of our own deposit addresses (registered
    after the plan was made): sign refuses, nothing is signed."""
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    _approve(w, cid)
    register(w, [("anvil", w.ret, "m/44'/60'/0'/0/30", "active")])
    before = snapshot(w.db)
    err = cli(w, "case", "sign", str(cid), expect=7)
    assert err["code"] == "destination_ours" and w.ret in err["message"]
    assert snapshot(w.db) == before
