"""Issue 4 end to end on real anvil nodes through the installed ``recover`` command: verify,
classify, quote, prepare; then the stored plan is signed and broadcast with the adapter and every
balance is checked to the base unit."""

from __future__ import annotations

import pytest

from evm_devnet import deploy, fund_token, send_eth, token_transfer, transact
from evmflow import (  # noqa: F401
    FEE_COLLECTOR,
    HOT_WALLET,
    _override_config,
    cli,
    derive,
    execute,
    open_case,
    plan_of,
    register,
    token_balance,
    world,
    world_both,
)


def test_unlisted_token_full_sweep_with_gas_topup(world_both):
    w = world_both
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 5_000 * 10**6)
    receipt = token_transfer(w.a.w3, token, w.user, w.deposit, 2_500 * 10**6)
    tx = receipt["transactionHash"].to_0x_hex()
    cid = open_case(w, "anvil", tx, deposit_address=w.deposit, claimant="ticket-1")
    doc = cli(w, "case", "verify", str(cid))
    assert doc["status"] == "verified" and doc["classification"] == "unlisted_token"
    fact = doc["facts"][0]
    assert fact["amount"] == str(2_500 * 10**6) and fact["decimals"] == 6 and fact["asset"] == token.address
    assert fact["receiving_address"] == w.deposit and fact["sender"] == w.user
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    quote = cli(w, "case", "quote", str(cid))
    gross, fee, cost_in_asset, net = (int(quote[k]) for k in ("gross", "fee", "network_cost_in_asset", "net"))
    assert net + fee + cost_in_asset == gross == 2_500 * 10**6 and fee > 0
    prepared = cli(w, "case", "prepare", str(cid))
    roles = [s["role"] for s in prepared["plan"]["steps"]]
    assert roles == ["gas_topup", "sweep_net", "sweep_fee"]
    assert cli(w, "case", "show", str(cid))["status"] == "awaiting_approval"
    plan = plan_of(w, cid)
    fee_before = token_balance(w.a, token, FEE_COLLECTOR)
    execute("anvil", {"ANVIL_URL": w.a.url}, plan, w.a)
    assert token_balance(w.a, token, w.ret) == net
    assert token_balance(w.a, token, FEE_COLLECTOR) - fee_before == fee + cost_in_asset
    assert token_balance(w.a, token, w.deposit) == 0


def test_native_misdeposit_to_retired_address_leaves_zero_wei(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    receipt = send_eth(w.a.w3, w.user, w.deposit, 3 * 10**18)
    cid = open_case(w, "anvil", receipt["transactionHash"].to_0x_hex())
    doc = cli(w, "case", "verify", str(cid))
    assert doc["classification"] == "retired_address" and doc["facts"][0]["amount"] == str(3 * 10**18)
    cli(w, "prices", "set", "ETH", "3000")
    quote = cli(w, "case", "quote", str(cid))
    net, fee, cost = int(quote["net"]), int(quote["fee"]), int(quote["network_cost_in_asset"])
    assert net + fee + cost == 3 * 10**18 and cost == int(quote["network_cost_native"])
    cli(w, "case", "prepare", str(cid))
    plan = plan_of(w, cid)
    assert [s.role for s in plan.steps] == ["sweep_net", "sweep_fee"]
    ret_before = w.a.w3.eth.get_balance(w.ret)
    fee_before = w.a.w3.eth.get_balance(FEE_COLLECTOR)
    execute("anvil", {"ANVIL_URL": w.a.url}, plan, w.a)
    assert w.a.w3.eth.get_balance(w.deposit) == 0
    assert w.a.w3.eth.get_balance(w.ret) - ret_before == net
    assert w.a.w3.eth.get_balance(FEE_COLLECTOR) - fee_before == fee


def test_wrong_network_sweep_on_second_chain(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.b.w3, "StandardToken", "Bridged", "BRG", 18)
    fund_token(w.b.w3, token, w.b.accounts[1], 10**21)
    receipt = token_transfer(w.b.w3, token, w.b.accounts[1], w.deposit, 7 * 10**20)
    cid = open_case(w, "anvil-b", receipt["transactionHash"].to_0x_hex(), credit_account="user-77")
    doc = cli(w, "case", "verify", str(cid))
    assert doc["classification"] == "wrong_network" and doc["network"] == "anvil-b"
    cli(w, "prices", "set", f"anvil-b:{token.address}", "0.5")
    cli(w, "prices", "set", "ETH", "3000")
    quote = cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    plan = plan_of(w, cid)
    assert plan.destination == HOT_WALLET  # credit-account cases sweep to the hot wallet
    execute("anvil-b", {"ANVIL_B_URL": w.b.url}, plan, w.b)
    assert token.functions.balanceOf(HOT_WALLET).call() == int(quote["net"])
    assert token.functions.balanceOf(w.deposit).call() == 0


def test_listed_token_below_minimum_and_normal_deposit(world):
    w = world
    other = derive(21)
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active"), ("anvil", other, "m/44'/60'/0'/0/21", "active")])
    token = deploy(w.a.w3, "StandardToken", "Listed", "LST", 6)
    fund_token(w.a.w3, token, w.user, 10**9)
    env = _override_config(w, listed=token.address, min_deposit=1_000)
    small = token_transfer(w.a.w3, token, w.user, w.deposit, 999)
    big = token_transfer(w.a.w3, token, w.user, other, 1_000)
    c1 = cli(w, "case", "open", "--network", "anvil", "--tx", small["transactionHash"].to_0x_hex(),
             "--return-address", w.ret, env=env)["id"]
    c2 = cli(w, "case", "open", "--network", "anvil", "--tx", big["transactionHash"].to_0x_hex(),
             "--return-address", w.ret, env=env)["id"]
    assert cli(w, "case", "verify", str(c1), env=env)["classification"] == "below_minimum"
    err = cli(w, "case", "verify", str(c2), env=env, expect=6)
    assert err["code"] == "listed_asset"
    shown = cli(w, "case", "show", str(c2), env=env)
    assert shown["status"] == "unrecoverable" and shown["refusal"]["code"] == "listed_asset"


def test_contract_recipient_is_classified(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "T", "T", 6)
    fund_token(w.a.w3, token, w.user, 10**9)
    r = token_transfer(w.a.w3, token, w.user, w.deposit, 10**6)
    w.a.set_code(w.deposit, "0x60006000f3")
    cid = open_case(w, "anvil", r["transactionHash"].to_0x_hex())
    assert cli(w, "case", "verify", str(cid))["classification"] == "to_contract"


def test_fee_on_transfer_records_amount_received(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "FeeOnTransferToken", "Fee", "FEE", 18)
    fund_token(w.a.w3, token, w.user, 10**21)
    r = token_transfer(w.a.w3, token, w.user, w.deposit, 10**20)
    cid = open_case(w, "anvil", r["transactionHash"].to_0x_hex(), asset=token.address)
    doc = cli(w, "case", "verify", str(cid))
    received = token.functions.balanceOf(w.deposit).call()
    assert received < 10**20
    assert doc["facts"][0]["amount"] == str(received)


REFUSALS = ["not_ours", "tx_failed", "fake_event", "funds_gone"]


@pytest.mark.parametrize("kind", REFUSALS)
def test_refusals_exit_6_and_case_records_them(world, kind):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    if kind == "fake_event":
        token = deploy(w.a.w3, "FakeEventToken", "Fake", "FAKE", 18)
        r = transact(token.functions.fakeTransfer(w.user, w.deposit, 10**20), sender=w.user)
        expected = "balance_not_moved"
    else:
        token = deploy(w.a.w3, "StandardToken", "T", "T", 6)
        fund_token(w.a.w3, token, w.user, 10**9)
        if kind == "not_ours":
            r = token_transfer(w.a.w3, token, w.user, derive(40), 10**6)
            expected = "not_ours"
        elif kind == "tx_failed":
            r = transact(token.functions.transfer(w.deposit, 10**12), sender=w.user, check=False, gas=200_000)
            assert r["status"] == 0
            expected = "tx_failed"
        else:
            r = token_transfer(w.a.w3, token, w.user, w.deposit, 10**6)
            w.a.set_balance(w.deposit, 10**18)
            w.a.impersonate(w.deposit)
            transact(token.functions.transfer(w.user, 10**6), sender=w.deposit)
            expected = "funds_gone"
    cid = open_case(w, "anvil", r["transactionHash"].to_0x_hex())
    err = cli(w, "case", "verify", str(cid), expect=6)
    assert err["code"] == expected, err
    doc = cli(w, "case", "show", str(cid))
    # not_ours is not final: the address may be imported later (then the case is verified again)
    assert doc["status"] == ("open" if kind == "not_ours" else "unrecoverable")
    assert doc["refusal"]["code"] == expected
    assert doc["facts"] is None


def test_missing_and_unconfirmed_stay_open(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    env = _override_config(w, confirmations=4)
    missing = cli(w, "case", "open", "--network", "anvil", "--tx", "0x" + "99" * 32, "--return-address", w.ret,
                  env=env)["id"]
    err = cli(w, "case", "verify", str(missing), env=env, expect=9)  # not final: run again later
    assert err["code"] == "tx_not_found"
    assert cli(w, "case", "show", str(missing), env=env)["status"] == "open"
    r = send_eth(w.a.w3, w.user, w.deposit, 10**15)
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", r["transactionHash"].to_0x_hex(),
              "--return-address", w.ret, env=env)["id"]
    err = cli(w, "case", "verify", str(cid), env=env, expect=9)
    assert err["code"] == "unconfirmed" and "1 of 4 confirmations" in err["message"]
    assert cli(w, "case", "show", str(cid), env=env)["status"] == "open"
    w.a.mine(3)
    err = cli(w, "case", "verify", str(cid), env=env, expect=6)
    assert err["code"] == "listed_asset"  # confirmed now: a normal native deposit to an active address


def test_paused_token_refused_at_prepare_with_decoded_reason(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "PausableToken", "P", "P", 6)
    fund_token(w.a.w3, token, w.user, 10**9)
    r = token_transfer(w.a.w3, token, w.user, w.deposit, 10**8)
    cid = open_case(w, "anvil", r["transactionHash"].to_0x_hex())
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    cli(w, "case", "quote", str(cid))
    transact(token.functions.pause(), sender=w.a.accounts[0])
    err = cli(w, "case", "prepare", str(cid), expect=6)
    assert err["code"] == "simulation_failed" and "EnforcedPause" in err["message"]
    assert cli(w, "case", "show", str(cid))["status"] == "quoted"


def test_usdt_style_token_sweeps(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "NoReturnToken", "Tether-ish", "USDX", 6)
    fund_token(w.a.w3, token, w.user, 10**10)
    r = token_transfer(w.a.w3, token, w.user, w.deposit, 10**9)
    cid = open_case(w, "anvil", r["transactionHash"].to_0x_hex())
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    quote = cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    execute("anvil", {"ANVIL_URL": w.a.url}, plan_of(w, cid), w.a)
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])
    assert token.functions.balanceOf(w.deposit).call() == 0


def test_verify_all_batches_and_summarises(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "T", "T", 6)
    fund_token(w.a.w3, token, w.user, 10**9)
    good = [token_transfer(w.a.w3, token, w.user, w.deposit, 10**6 + i) for i in range(3)]
    ids = [open_case(w, "anvil", g["transactionHash"].to_0x_hex()) for g in good]
    bad = open_case(w, "anvil", token_transfer(w.a.w3, token, w.user, derive(41), 5)["transactionHash"].to_0x_hex())
    later = open_case(w, "anvil", "0x" + "98" * 32)
    summary = cli(w, "case", "verify", "--all")
    assert summary["verified"] == 3
    assert summary["refused"] == {} and summary["retry_later"] == {"not_ours": 1, "tx_not_found": 1}
    statuses = {c["id"]: c["status"] for c in cli(w, "case", "list")}
    assert [statuses[i] for i in ids] == ["verified"] * 3
    assert statuses[bad] == "open" and statuses[later] == "open"


# A contract that forwards msg.value to the address in its calldata: the deposit arrives by an
# internal call, proven by the claimed transaction's own call trace (debug_traceTransaction).
FORWARDER = "0x6000600060006000346000355af100"


def test_native_by_internal_call_proven_by_its_trace(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    forwarder = derive(50)
    w.a.set_code(forwarder, FORWARDER)
    tx = w.a.w3.eth.send_transaction({"from": w.user, "to": forwarder, "value": 2 * 10**18,
                                      "data": "0x" + "00" * 12 + w.deposit[2:].lower(), "gas": 100_000})
    assert w.a.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert w.a.w3.eth.get_balance(w.deposit) == 2 * 10**18
    cid = open_case(w, "anvil", tx.to_0x_hex(), deposit_address=w.deposit, asset="ETH")
    doc = cli(w, "case", "verify", str(cid))
    assert doc["classification"] == "retired_address"
    fact = doc["facts"][0]
    assert fact["amount"] == str(2 * 10**18) and fact["deposit_index"] == -2
    assert fact["details"]["proof"] == "internal transfers in the transaction's call trace"
