"""The EVM adapter against a real anvil node: observe, prove, cost, plan, simulate, sign, broadcast.

Every sweep scenario executes the signed plan on the node and checks balances to the base unit.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from eth_utils import to_checksum_address

from chains.base import NATIVE, Capability, SweepRequest
from chains.config import load_network_file
from chains.errors import (
    InvalidRequest,
    NetworkConfigError,
    NodeRefused,
    PermanentChainError,
    RetryableChainError,
    SignerMismatch,
    SweepRefused,
)
from chains.evm import devchain
from chains.evm.adapter import EvmAdapter, build_evm_plan, decode_revert, native_cost_from_params
from chains.evm.keys import derive_evm_account
from chains.transport import JsonRpcClient, RpcError
from derive import key_for_path as keys_for

try:
    from tests import evm_devnet
except ImportError:  # pragma: no cover
    import evm_devnet  # type: ignore[no-redef]

from paths import REPO

MNEMONIC = evm_devnet.ANVIL_MNEMONIC
DEPOSIT_PATH = "m/44'/60'/0'/0/20"
STATION_PATH = "m/44'/60'/1'/0/0"
DEPOSIT = derive_evm_account(MNEMONIC, DEPOSIT_PATH).address
STATION = derive_evm_account(MNEMONIC, STATION_PATH).address
DESTINATION = to_checksum_address("0x" + "d5" * 20)
ETH = 10**18


key_for_path = keys_for("evm", MNEMONIC)


# -- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node():
    n = evm_devnet.start_anvil()
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def legacy_node():
    n = evm_devnet.start_anvil(chain_id=31339)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(autouse=True)
def _isolate(request):
    nodes = [request.getfixturevalue(name) for name in ("node", "legacy_node") if name in request.fixturenames]
    snaps = [(n, n.snapshot()) for n in nodes]
    yield
    for n, snap in snaps:
        n.revert(snap)


@pytest.fixture
def network(node):
    return load_network_file(REPO / "chain_configs" / "anvil.toml").resolved({"ANVIL_URL": node.url})


@pytest.fixture
def adapter(network):
    return EvmAdapter(network)


@pytest.fixture
def w3(node):
    return node.w3


@pytest.fixture
def accts(node):
    return node.accounts


def _request(network, asset=NATIVE, *, gross, fee_total, net=None, cost_mode="deduct", decimals=18,
             destination=DESTINATION) -> SweepRequest:
    return SweepRequest(
        case_id=7, deposit_address=DEPOSIT, deposit_path=DEPOSIT_PATH, asset=asset, decimals=decimals,
        gross=gross, net=gross - fee_total if net is None else net, fee_total=fee_total, destination=destination,
        fee_collector=network.fee_collector, gas_station_path=STATION_PATH, cost_mode=cost_mode,
        gas_station_address=STATION)


def _execute(adapter, node, plan):
    """Sign and broadcast the plan step by step, each after the steps it waits for are confirmed."""
    raws = adapter.sign(plan, key_for_path)
    receipts = []
    for step, raw in zip(plan.steps, raws):
        for dep in step.after:
            assert receipts[dep]["status"] == 1, "a prerequisite step is not confirmed"
        txid = adapter.broadcast(raw)
        receipt = node.w3.eth.wait_for_transaction_receipt(txid, timeout=10, poll_latency=0.01)
        assert receipt["status"] == 1, f"step {step.seq} {step.role} failed"
        assert receipt["effectiveGasPrice"] == int(plan.meta["gas_price"])
        receipts.append(receipt)
    return receipts


def _token_balance(w3, token, who):
    return token.functions.balanceOf(to_checksum_address(who)).call()


# -- transport -----------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rpc_unreachable_is_retryable_and_quick():
    url = f"http://127.0.0.1:{_closed_port()}"
    client = JsonRpcClient([url], timeout=1)
    start = time.monotonic()
    with pytest.raises(RetryableChainError) as exc:
        client.call("eth_chainId")
    assert time.monotonic() - start < 3
    assert url in str(exc.value) and exc.value.exit_code == 8
    assert client.http_requests == 3  # retried


def test_rpc_failover_and_batch(node):
    dead = f"http://127.0.0.1:{_closed_port()}"
    client = JsonRpcClient([dead, node.url])
    assert int(client.call("eth_chainId"), 16) == 31337
    out = client.batch([("eth_chainId", []), ("eth_getBalance", ["0x11", "latest"]), ("eth_blockNumber", [])])
    assert int(out[0], 16) == 31337 and isinstance(out[1], RpcError) and isinstance(out[2], str)
    assert out[1].method == "eth_getBalance" and out[1].code is not None
    with pytest.raises(RpcError) as exc:
        client.call("eth_nonexistentMethod")
    assert exc.value.code == -32601 and exc.value.method == "eth_nonexistentMethod"
    client.chunk_size = 2  # chunked batches keep the order
    out = client.batch([("eth_chainId", [])] * 5 + [("net_version", [])])
    assert out[:5] == ["0x7a69"] * 5 and out[5] == "31337"


def test_wrong_chain_refused(node, network):
    adapter = EvmAdapter(network.model_copy(update={"chain_id": 1}))
    with pytest.raises(NetworkConfigError) as exc:
        adapter.observe(["0x" + "11" * 32])
    assert exc.value.code == "wrong_chain" and exc.value.exit_code == 4
    assert "anvil" in str(exc.value) and "chain_id 1 " in str(exc.value) and "31337" in str(exc.value)
    assert exc.value.details == {"network": "anvil", "key": "chain_id", "expected": 1, "got": 31337}
    with pytest.raises(NetworkConfigError):  # checked again until it holds
        adapter.estimate_cost(_request(network, gross=1, fee_total=0))


# -- observe --------------------------------------------------------------------------------------------
def test_observe_native_token_failed_unknown(node, adapter, w3, accts):
    native = evm_devnet.send_eth(w3, accts[0], DEPOSIT, 3 * ETH)
    token = evm_devnet.deploy(w3, "StandardToken", "Test", "TST", 6)
    evm_devnet.fund_token(w3, token, accts[1], 1_000)
    erc20 = evm_devnet.token_transfer(w3, token, accts[1], DEPOSIT, 250)
    failed = evm_devnet.transact(token.functions.transfer(DEPOSIT, 10**9), accts[2], check=False, gas=100_000)
    node.mine(4)
    unknown = "0x" + "ab" * 32
    txids = [native["transactionHash"].to_0x_hex(), erc20["transactionHash"].to_0x_hex(),
             failed["transactionHash"].to_0x_hex(), unknown]
    obs = adapter.observe(txids)
    latest = w3.eth.block_number

    n = obs[txids[0]]
    assert n.found and n.success and n.failure_reason is None
    assert n.block_number == native["blockNumber"] and n.confirmations == latest - native["blockNumber"] + 1
    assert n.block_hash == native["blockHash"].to_0x_hex()
    assert n.block_time is not None and n.block_time.tzinfo is not None
    assert n.block_time.timestamp() == w3.eth.get_block(native["blockNumber"])["timestamp"]
    assert n.sender == accts[0] and n.to == DEPOSIT
    assert [(t.index, t.asset, t.recipient, t.amount) for t in n.transfers] == [(-1, NATIVE, DEPOSIT, 3 * ETH)]

    e = obs[txids[1]]
    assert e.success and e.to == token.address and e.confirmations == 6  # its block, the failed tx, 4 mined
    (t,) = e.transfers
    assert (t.index, t.asset, t.sender, t.recipient, t.amount) == (
        erc20["logs"][0]["logIndex"], token.address, accts[1], DEPOSIT, 250)

    f = obs[txids[2]]
    assert f.found and f.success is False and f.failure_reason == "reverted" and f.transfers == ()
    assert obs[unknown].found is False
    assert adapter.observe(["0x1234"])["0x1234"].found is False


def test_observe_pending_and_tx_status(node, adapter, w3, accts):
    node.rpc("evm_setAutomine", [False])
    try:
        h = w3.eth.send_transaction({"from": accts[0], "to": DEPOSIT, "value": 5})
        pending = adapter.tx_status(h.to_0x_hex())
        assert pending.found and pending.confirmations == 0 and pending.success is None
        assert pending.transfers[0].amount == 5
        node.mine(1)
        mined = adapter.tx_status(h.to_0x_hex())
        assert mined.success and mined.confirmations == 1
    finally:
        node.rpc("evm_setAutomine", [True])


# -- prove ----------------------------------------------------------------------------------------------
def _deposit(w3, name, accts, amount, *, to=DEPOSIT, decimals=6):
    token = evm_devnet.deploy(w3, name, name, name[:3].upper(), decimals)
    evm_devnet.fund_token(w3, token, accts[1], 10 * amount)
    receipt = evm_devnet.token_transfer(w3, token, accts[1], to, amount)
    return token, receipt


def _observe_one(adapter, receipt, recipient=DEPOSIT):
    txid = receipt["transactionHash"].to_0x_hex()
    obs = adapter.observe([txid])[txid]
    (tr,) = [t for t in obs.transfers if t.recipient == to_checksum_address(recipient)]
    return obs, tr


def test_prove_standard_fee_fake_native_contract(node, adapter, w3, accts):
    std, r_std = _deposit(w3, "StandardToken", accts, 1_000)
    fot, r_fot = _deposit(w3, "FeeOnTransferToken", accts, 10_000)
    fake = evm_devnet.deploy(w3, "FakeEventToken", "Fake", "FAKE", 18)
    r_fake = evm_devnet.transact(fake.functions.fakeTransfer(accts[3], DEPOSIT, 777))
    r_nat = evm_devnet.send_eth(w3, accts[0], DEPOSIT, ETH)
    _, r_code = _deposit(w3, "StandardToken", accts, 55, to=std.address)  # recipient is a contract
    evm_devnet.token_transfer(w3, std, accts[1], DEPOSIT, 1)  # later: "now" differs from "after"
    items = [_observe_one(adapter, r) for r in (r_std, r_fot, r_fake, r_nat)] + [
        _observe_one(adapter, r_code, std.address)]
    p_std, p_fot, p_fake, p_nat, p_code = adapter.prove(items)

    assert (p_std.before, p_std.after, p_std.now, p_std.received) == (0, 1_000, 1_001, 1_000)
    assert (p_std.decimals, p_std.symbol, p_std.recipient_has_code) == (6, "STA", False)
    # fee-on-transfer: 2% burnt; the balance proves what really arrived (less than was sent)
    assert p_fot.received == 9_800 < 10_000 and p_fot.transfer.amount == 9_800
    # fake event: the log claims 777, nothing arrived
    assert p_fake.transfer.amount == 777 and p_fake.received == 0 and p_fake.now == 0
    assert (p_nat.before, p_nat.after, p_nat.received, p_nat.decimals, p_nat.symbol) == (0, ETH, ETH, 18, "ETH")
    assert p_code.recipient_has_code is True and p_code.received == 55


def test_prove_not_a_token(node, adapter, w3, accts):
    r = evm_devnet.send_eth(w3, accts[0], DEPOSIT, 1)
    obs = adapter.tx_status(r["transactionHash"].to_0x_hex())
    from chains.base import Transfer

    bogus = Transfer(index=0, asset=accts[5], sender=accts[0], recipient=DEPOSIT, amount=1)  # an EOA
    results = adapter.prove_each([(obs, obs.transfers[0]), (obs, bogus)])
    assert results[0].received == 1
    assert isinstance(results[1], PermanentChainError) and results[1].code == "not_a_token"
    with pytest.raises(PermanentChainError) as exc:
        adapter.prove([(obs, bogus)])
    assert exc.value.code == "not_a_token" and exc.value.exit_code == 6


def test_prove_batches_requests(node, network, w3, accts):
    token = evm_devnet.deploy(w3, "StandardToken", "Test", "TST", 6)
    evm_devnet.fund_token(w3, token, accts[1], 10**9)
    receipts = []
    for i in range(40):
        to = derive_evm_account(MNEMONIC, f"m/44'/60'/0'/0/{100 + i}").address
        receipts.append(evm_devnet.token_transfer(w3, token, accts[1], to, 1_000 + i))
    adapter = EvmAdapter(network)
    txids = [r["transactionHash"].to_0x_hex() for r in receipts]
    adapter.check_chain()
    before = adapter.client.http_requests
    obs = adapter.observe(txids)
    assert adapter.client.http_requests - before == 2  # txs + receipts, then blocks
    items = [(obs[t], obs[t].transfers[0]) for t in txids]
    before = adapter.client.http_requests
    proofs = adapter.prove(items)
    assert adapter.client.http_requests - before == 1
    assert [p.received for p in proofs] == [1_000 + i for i in range(40)]


# -- native sweeps ---------------------------------------------------------------------------------------
def _native_sweep(node, network, gross, fee_total, cost_mode="deduct"):
    adapter = EvmAdapter(network)
    node.set_balance(DEPOSIT, gross)
    node.set_balance(STATION, ETH)
    provisional = _request(network, gross=gross, fee_total=fee_total, cost_mode=cost_mode)
    cost = adapter.estimate_cost(provisional)
    paid_by_deposit = cost.native_cost if cost_mode == "deduct" else 0
    request = replace(provisional, net=gross - fee_total - paid_by_deposit)
    plan = adapter.prepare(request, cost)
    assert plan.native_cost == cost.native_cost
    w3 = node.w3
    fee_before = w3.eth.get_balance(network.fee_collector)
    station_before = w3.eth.get_balance(STATION)
    receipts = _execute(adapter, node, plan)
    assert w3.eth.get_balance(DESTINATION) == request.net
    assert w3.eth.get_balance(network.fee_collector) - fee_before == fee_total
    assert w3.eth.get_balance(DEPOSIT) == 0
    # what the chain charged, receipt by receipt, is the quoted cost to the wei
    assert sum(r["gasUsed"] * r["effectiveGasPrice"] for r in receipts) == cost.native_cost
    return adapter, cost, plan, receipts, station_before - w3.eth.get_balance(STATION)


def test_native_sweep_deduct_leaves_zero(node, network):
    gross, fee = 2 * ETH + 12345, 10**16
    adapter, cost, plan, receipts, station_spent = _native_sweep(node, network, gross, fee)
    p = int(cost.params["gas_price"])
    assert cost.native_cost == 42_000 * p and station_spent == 0
    assert [s.role for s in plan.steps] == ["sweep_net", "sweep_fee"]
    assert [int(s.tx["nonce"]) for s in plan.steps] == [0, 1]
    assert all(s.tx["type"] == "0x2" and s.tx["maxFeePerGas"] == s.tx["maxPriorityFeePerGas"] == str(p)
               for s in plan.steps)
    assert all(s.simulation["ok"] for s in plan.steps)
    # conservation, from the transactions themselves rather than the plan's own totals
    assert sum(int(s.tx["value"]) + int(s.tx["gas"]) * int(s.tx["maxFeePerGas"]) for s in plan.steps) == 2 * ETH + 12345
    assert [int(s.tx["value"]) for s in plan.steps] == [2 * ETH + 12345 - fee - 42_000 * p, fee]
    assert plan.meta == {"chain_id": 31337, "tx_type": "0x2", "gas_price": str(p)}


def test_native_sweep_zero_fee_and_absorb(node, network):
    gross = ETH
    adapter, cost, plan, receipts, station_spent = _native_sweep(node, network, gross, 0, cost_mode="absorb")
    p = int(cost.params["gas_price"])
    assert [s.role for s in plan.steps] == ["gas_topup", "sweep_net", "sweep_fee"]
    assert plan.steps[2].tx["value"] == "0" and plan.steps[1].after == (0,)
    assert cost.native_cost == 63_000 * p == station_spent
    assert plan.net == gross


def test_native_sweep_legacy_network(legacy_node):
    network = load_network_file(REPO / "chain_configs" / "anvil-legacy.toml").resolved(
        {"ANVIL_LEGACY_URL": legacy_node.url})
    adapter, cost, plan, receipts, _ = _native_sweep(legacy_node, network, 3 * ETH, 10**15)
    p = int(cost.params["gas_price"])
    assert cost.params["tx_type"] == "0x0" and cost.native_cost == 42_000 * p
    assert all(s.tx["type"] == "0x0" and s.tx["gasPrice"] == str(p) and "maxFeePerGas" not in s.tx
               for s in plan.steps)
    for r in receipts:
        tx = legacy_node.w3.eth.get_transaction(r["transactionHash"])
        assert tx["type"] == 0 and tx["v"] in (31339 * 2 + 35, 31339 * 2 + 36)  # EIP-155


def test_native_sweep_to_contract_refused(node, network, w3):
    token = evm_devnet.deploy(w3, "StandardToken", "Test", "TST", 6)
    node.set_balance(DEPOSIT, ETH)
    adapter = EvmAdapter(network)
    with pytest.raises(SweepRefused) as exc:
        adapter.estimate_cost(_request(network, gross=ETH, fee_total=1, destination=token.address))
    assert exc.value.code == "destination_contract"


def test_funds_missing_and_amount_mismatch(node, network):
    adapter = EvmAdapter(network)
    node.set_balance(DEPOSIT, ETH)
    req = _request(network, gross=ETH, fee_total=10**15)
    cost = adapter.estimate_cost(req)
    good = replace(req, net=ETH - 10**15 - cost.native_cost)
    with pytest.raises(SweepRefused) as exc:
        adapter.prepare(req, cost)  # net ignores the gas the deposit pays
    assert exc.value.code == "amounts_mismatch"
    node.set_balance(DEPOSIT, ETH - 1)
    with pytest.raises(PermanentChainError) as exc2:
        adapter.prepare(good, cost)
    assert exc2.value.code == "funds_missing"


def test_gas_price_rose(node, network):
    adapter = EvmAdapter(network)
    node.set_balance(DEPOSIT, ETH)
    req = _request(network, gross=ETH, fee_total=10**15)
    cost = adapter.estimate_cost(req)
    req = replace(req, net=ETH - 10**15 - cost.native_cost)
    p = int(cost.params["gas_price"])
    node.rpc("anvil_setNextBlockBaseFeePerGas", [hex(p + 1)])
    node.mine(1)
    with pytest.raises(SweepRefused) as exc:
        adapter.prepare(req, cost)
    assert exc.value.code == "gas_price_rose" and exc.value.exit_code == 7


# -- token sweeps ------------------------------------------------------------------------------------------
def _token_sweep(node, network, name, gross=1_000_000, fee_total=50_000):
    w3 = node.w3
    accts = node.accounts
    token, _ = _deposit(w3, name, accts, gross)
    node.set_balance(STATION, ETH)
    adapter = EvmAdapter(network)
    cost = adapter.estimate_cost(_request(network, token.address, gross=gross, fee_total=1, decimals=6))
    request = _request(network, token.address, gross=gross, fee_total=fee_total, decimals=6)
    return adapter, token, cost, request


def test_token_sweep_with_gas_topup(node, network):
    adapter, token, cost, request = _token_sweep(node, network, "StandardToken")
    w3 = node.w3
    p = int(cost.params["gas_price"])
    assert cost.params["topup"] is True and w3.eth.get_balance(DEPOSIT) == 0
    plan = adapter.prepare(request, cost)
    assert [s.role for s in plan.steps] == ["gas_topup", "sweep_net", "sweep_fee"]
    topup, net_step, fee_step = plan.steps
    assert (topup.signer_address, topup.signer_path) == (STATION, STATION_PATH)
    assert net_step.after == fee_step.after == (0,)
    assert [net_step.tx["nonce"], fee_step.tx["nonce"]] == ["0", "1"]
    gas_sum = int(net_step.tx["gas"]) + int(fee_step.tx["gas"])
    assert int(topup.tx["value"]) == gas_sum * p
    assert plan.native_cost == cost.native_cost == (gas_sum + 21_000) * p
    assert net_step.simulation["state_override"] is True
    station_before = w3.eth.get_balance(STATION)
    receipts = _execute(adapter, node, plan)
    assert receipts[0]["blockNumber"] < receipts[1]["blockNumber"] <= receipts[2]["blockNumber"]
    assert _token_balance(w3, token, DESTINATION) == 950_000
    assert _token_balance(w3, token, network.fee_collector) == 50_000
    assert _token_balance(w3, token, DEPOSIT) == 0
    assert station_before - w3.eth.get_balance(STATION) == gas_sum * p + 21_000 * p
    used = sum(r["gasUsed"] for r in receipts[1:])
    assert w3.eth.get_balance(DEPOSIT) == (gas_sum - used) * p  # unused gas limit stays as dust


def test_token_sweep_no_return_token(node, network):
    adapter, token, cost, request = _token_sweep(node, network, "NoReturnToken")
    plan = adapter.prepare(request, cost)
    assert plan.steps[1].simulation["return_data"] == "0x"
    _execute(adapter, node, plan)
    assert _token_balance(node.w3, token, DESTINATION) == 950_000
    assert _token_balance(node.w3, token, network.fee_collector) == 50_000
    assert _token_balance(node.w3, token, DEPOSIT) == 0


def test_token_sweep_without_topup_when_our_own_gas_is_there(node, network):
    """Native at the deposit pays a token sweep's gas only as far as it is ours (``own_native``: a
    leftover of our own top-ups); what the plan burns of it is in ``meta.own_native_used``, and
    :meth:`own_gas_left` says what it leaves."""
    node.set_balance(DEPOSIT, ETH)
    adapter, token, cost, request = _token_sweep(node, network, "StandardToken", fee_total=0)
    request = replace(request, fee_total=0, net=request.gross, own_native=ETH // 10)
    cost = adapter.estimate_cost(request)
    assert cost.params["topup"] is False
    plan = adapter.prepare(request, cost)
    assert [s.role for s in plan.steps] == ["sweep_net"]
    gas = int(plan.steps[0].tx["gas"]) * int(plan.meta["gas_price"])
    assert plan.meta["own_native_used"] == str(gas)
    receipts = _execute(adapter, node, plan)
    assert _token_balance(node.w3, token, DESTINATION) == request.gross
    burnt = receipts[0]["gasUsed"] * receipts[0]["effectiveGasPrice"]
    assert adapter.own_gas_left(plan, [r["transactionHash"].to_0x_hex() for r in receipts]) == gas - burnt
    assert node.w3.eth.get_balance(DEPOSIT) == ETH - burnt


def test_token_sweep_tops_up_when_the_native_there_is_not_ours(node, network):
    """The deposit address holds 1 ETH of someone's deposit: the token sweep brings its own gas, and a
    quote that counted on our own native there is refused at prepare once that is gone (re-quote)."""
    node.set_balance(DEPOSIT, ETH)
    adapter, token, cost, request = _token_sweep(node, network, "StandardToken")
    assert cost.params["topup"] is True
    plan = adapter.prepare(request, cost)
    gas = sum(int(s.tx["gas"]) for s in plan.steps[1:]) * int(plan.meta["gas_price"])
    assert [s.role for s in plan.steps] == ["gas_topup", "sweep_net", "sweep_fee"]
    assert int(plan.steps[0].tx["value"]) == gas and "own_native_used" not in plan.meta
    partly = replace(request, own_native=gas // 3)  # some of ours is there: the top-up is the rest
    plan = adapter.prepare(partly, cost)
    assert int(plan.steps[0].tx["value"]) == gas - gas // 3 and plan.meta["own_native_used"] == str(gas // 3)
    mine = replace(request, own_native=ETH)
    quoted = adapter.estimate_cost(mine)
    assert quoted.params["topup"] is False
    with pytest.raises(SweepRefused) as exc:
        adapter.prepare(replace(mine, own_native=0), quoted)
    assert exc.value.code == "requote" and "top-up" in str(exc.value)


def test_top_up_takes_the_lowest_station_nonce_no_live_plan_holds_and_waits_for_it(node, network):
    adapter, token, cost, request = _token_sweep(node, network, "StandardToken")
    pending = node.w3.eth.get_transaction_count(STATION, "pending")
    plan = adapter.prepare(replace(request, station_reserved=(pending, pending + 1, pending + 3)), cost)
    assert adapter.station_nonce_of(plan) == (STATION, pending + 2)
    assert adapter.nonce_conflict(plan) is None  # a nonce ahead is no conflict...
    ahead = adapter.nonce_ahead(replace(plan, steps=plan.steps[:1]))  # ...it waits
    assert (ahead.seq, ahead.role, ahead.signer, ahead.nonce, ahead.pending) == (0, "gas_topup", STATION,
                                                                                pending + 2, pending)
    assert "nonces" in ahead.message
    free = adapter.prepare(request, cost)
    assert adapter.station_nonce_of(free) == (STATION, pending)
    assert adapter.nonce_ahead(replace(free, steps=free.steps[:1])) is None


def test_paused_and_blacklisted_tokens_refused(node, network):
    adapter, token, cost, request = _token_sweep(node, network, "PausableToken")
    evm_devnet.transact(token.functions.pause())
    with pytest.raises(PermanentChainError) as exc:
        adapter.prepare(request, cost)
    assert exc.value.code == "simulation_failed" and "EnforcedPause()" in str(exc.value)
    with pytest.raises(PermanentChainError) as exc:
        adapter.estimate_cost(request)
    assert exc.value.code == "simulation_failed"
    evm_devnet.transact(token.functions.unpause())
    evm_devnet.transact(token.functions.blacklist(DEPOSIT))
    with pytest.raises(PermanentChainError) as exc:
        adapter.prepare(request, cost)
    assert exc.value.code == "simulation_failed"
    assert exc.value.details["reason"] == "PausableToken: sender blacklisted"


# -- sign / broadcast ----------------------------------------------------------------------------------------
def test_signer_mismatch_refused(node, network):
    node.set_balance(DEPOSIT, ETH)
    adapter = EvmAdapter(network)
    req = _request(network, gross=ETH, fee_total=0)
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(replace(req, net=ETH - cost.native_cost), cost)
    with pytest.raises(SignerMismatch) as exc:
        adapter.sign(plan, lambda path: derive_evm_account(MNEMONIC, "m/44'/60'/0'/0/21"))
    assert exc.value.exit_code == 7


def test_broadcast_twice_is_idempotent(node, network):
    node.set_balance(DEPOSIT, ETH)
    adapter = EvmAdapter(network)
    req = _request(network, gross=ETH, fee_total=10**15)
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(replace(req, net=ETH - 10**15 - cost.native_cost), cost)
    raws = adapter.sign(plan, key_for_path)
    first = adapter.broadcast(raws[0])
    assert adapter.broadcast(raws[0]) == first  # mined already: "nonce too low" but known
    node.rpc("evm_setAutomine", [False])
    try:
        second = adapter.broadcast(raws[1])
        assert adapter.broadcast(raws[1]) == second  # in the pool: "already known"
        node.mine(1)
    finally:
        node.rpc("evm_setAutomine", [True])
    assert adapter.tx_status(first).success and adapter.tx_status(second).success
    assert node.w3.eth.get_balance(DEPOSIT) == 0
    with pytest.raises(PermanentChainError) as exc:  # a different tx with a used nonce is rejected
        bad = adapter.sign(replace(plan, steps=(replace(plan.steps[0], tx={**plan.steps[0].tx, "value": "1"}),)),
                           key_for_path)
        adapter.broadcast(bad[0])
    assert exc.value.code == "broadcast_rejected"


# -- pure parts ----------------------------------------------------------------------------------------------
def test_decode_revert():
    from eth_abi import encode
    from eth_utils import keccak

    assert decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["nope"])) == "nope"
    assert decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])).startswith("Panic(0x11)")
    assert decode_revert(bytes.fromhex("d93c0665")) == "EnforcedPause()"
    blk = keccak(text="AccountBlacklisted(address)")[:4] + encode(["address"], [DEPOSIT])
    assert decode_revert(blk) == f"AccountBlacklisted({DEPOSIT})"
    assert decode_revert(b"\x12\x34\x56\x78") == "custom error 0x12345678"
    assert decode_revert(b"") == "reverted without a reason"
    abi = [{"type": "error", "name": "Nope", "inputs": [{"type": "uint256", "name": "x"}]}]
    assert decode_revert(keccak(text="Nope(uint256)")[:4] + encode(["uint256"], [5]), abi) == "Nope(5)"


def test_build_plan_is_pure_and_exact():
    network = load_network_file(REPO / "chain_configs" / "anvil.toml")
    p = 3 * 10**9
    params = {"version": 1, "kind": "native", "chain_id": 31337, "tx_type": "0x2", "gas_price": str(p),
              "steps": [{"role": "sweep_net", "gas": "21000"}, {"role": "sweep_fee", "gas": "21000"}],
              "topup": False, "cost_mode": "deduct"}
    gross, fee = 10**18, 10**15
    req = SweepRequest(case_id=1, deposit_address=DEPOSIT, deposit_path=DEPOSIT_PATH, asset=NATIVE, decimals=18,
                       gross=gross, net=gross - fee - 42_000 * p, fee_total=fee, destination=DESTINATION,
                       fee_collector=network.fee_collector, gas_station_path=STATION_PATH, cost_mode="deduct")
    kw = dict(network_key="anvil", chain_id=31337, request=req, params=params, deposit_nonce=4, station_nonce=None,
              deposit_native_balance=gross)
    plan = build_evm_plan(**kw)
    assert plan.to_dict() == build_evm_plan(**kw).to_dict()
    assert native_cost_from_params(params) == plan.native_cost == 42_000 * p
    assert [s.tx["nonce"] for s in plan.steps] == ["4", "5"]
    assert sum(int(s.tx["value"]) + int(s.tx["gas"]) * int(s.tx["maxFeePerGas"]) for s in plan.steps) == gross


@pytest.fixture
def tester_network():
    devchain.reset()
    yield load_network_file(REPO / "chain_configs" / "ethtester.toml").resolved({})
    devchain.reset()


def test_devchain_native_sweep_through_the_production_adapter(tester_network):
    """The demo's in-process chain answers as a node over JsonRpcClient(send=...): the production
    adapter sweeps on it with no eth-tester branch (exact balances, the quoted cost to the wei)."""
    network = tester_network
    w3 = devchain.web3()
    gross, fee = ETH, 10**15
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": DEPOSIT, "value": gross})
    adapter = devchain.adapter_for(network)
    assert isinstance(adapter, EvmAdapter) and type(adapter) is EvmAdapter
    req = _request(network, gross=gross, fee_total=fee)
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(replace(req, net=gross - fee - cost.native_cost), cost)
    dest_before = w3.eth.get_balance(DESTINATION)
    for raw in adapter.sign(plan, key_for_path):
        txid = adapter.broadcast(raw)
        status = adapter.tx_status(txid)
        assert status.success and status.confirmations == 1
    assert w3.eth.get_balance(DEPOSIT) == 0
    assert w3.eth.get_balance(DESTINATION) - dest_before == gross - fee - cost.native_cost


def test_devchain_refuses_overrides_and_the_adapter_falls_back(tester_network):
    network = tester_network
    w3 = devchain.web3()
    call = {"from": w3.eth.accounts[0], "to": DESTINATION, "value": "0x1"}
    answer = devchain.send(json.dumps([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest", {DEPOSIT: {"balance": "0x1"}}]},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_estimateGas", "params": [call, "latest"]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_noSuchMethod", "params": []}]))
    assert answer[0]["error"]["code"] == -32602 and answer[1]["result"] == hex(21_000)
    assert answer[2]["error"]["code"] == -32601
    # absorb: the deposit steps need the top-up, simulated without an override on this node
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": DEPOSIT, "value": ETH})
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": STATION, "value": ETH})
    adapter = devchain.adapter_for(network)
    req = _request(network, gross=ETH, fee_total=0, cost_mode="absorb")
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(req, cost)
    assert [s.role for s in plan.steps] == ["gas_topup", "sweep_net", "sweep_fee"]
    assert [s.simulation["state_override"] for s in plan.steps] == [False, False, False]
    assert adapter._overrides_ok is False
    for raw in adapter.sign(plan, key_for_path):
        assert adapter.tx_status(adapter.broadcast(raw)).success
    assert w3.eth.get_balance(DEPOSIT) == 0


def test_gas_station_underfunded(node, network):
    adapter, token, cost, request = _token_sweep(node, network, "StandardToken")
    node.set_balance(STATION, 0)
    with pytest.raises(SweepRefused) as exc:
        adapter.prepare(request, cost)
    assert exc.value.code == "gas_station_underfunded"


def test_observe_without_native_value(node, network, w3, accts):
    token, receipt = _deposit(w3, "StandardToken", accts, 10)
    adapter = EvmAdapter(network)
    adapter.check_chain()
    txid = receipt["transactionHash"].to_0x_hex()
    full = adapter.observe([txid])[txid]
    light = adapter.observe([txid], native_value=False)[txid]
    assert light == full  # a token transfer without value: same observation, fewer node reads
    native = evm_devnet.send_eth(w3, accts[0], DEPOSIT, 9)["transactionHash"].to_0x_hex()
    assert adapter.observe([native], native_value=False)[native].transfers == ()


def test_failing_sweep_reported_before_underfunded_station(node, network):
    adapter, token, cost, request = _token_sweep(node, network, "PausableToken")
    node.set_balance(STATION, 0)
    evm_devnet.transact(token.functions.pause())
    with pytest.raises(PermanentChainError) as exc:
        adapter.prepare(request, cost)
    assert exc.value.code == "simulation_failed" and "EnforcedPause()" in str(exc.value)


# -- the rest of the contract (pure) ---------------------------------------------------------------------------
def test_capabilities_declared():
    assert EvmAdapter.capabilities == frozenset({
        Capability.NATIVE_SWEEP, Capability.TOKEN_SWEEP, Capability.GAS_TOPUP, Capability.GAS_STATION,
        Capability.SIMULATION, Capability.HISTORIC_BALANCES, Capability.BATCH_VERIFY, Capability.OFFLINE_EXPORT,
        Capability.OWNERSHIP_PROOF, Capability.INTERNAL_TRANSFERS, Capability.TOKENS, Capability.SCAN})
    assert EvmAdapter.address_key(DESTINATION) == DESTINATION.lower()


def _offline_adapter():
    network = load_network_file(REPO / "chain_configs" / "anvil.toml").resolved({"ANVIL_URL": "http://127.0.0.1:9"})
    return EvmAdapter(network)  # never contacts the node: everything below is pure


def test_derive_key_from_seed_matches_eth_account_mnemonic_derivation():
    from eth_account import Account

    from chains.keys import mnemonic_seed

    adapter = _offline_adapter()
    seed = mnemonic_seed(MNEMONIC)
    derived = adapter.derive_key(seed, DEPOSIT_PATH)
    assert derived.address == DEPOSIT
    # independently: eth-account's own mnemonic path (its HD flag switched on here, in the test only)
    Account.enable_unaudited_hdwallet_features()
    assert Account.from_mnemonic(MNEMONIC, account_path=DEPOSIT_PATH).address == DEPOSIT
    assert adapter.derive_key(seed, "m/44'/60'/0'/0/0").address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert "key" not in repr(derived) or "0x" not in repr(derived).split("address")[0]
    from_secret = adapter.key_from_secret(bytes(derived.key.key))
    assert from_secret.address == DEPOSIT
    with pytest.raises(InvalidRequest) as exc:
        adapter.derive_key(seed, "not/a/path")
    assert exc.value.exit_code == 4 and exc.value.code == "bad_key"


def test_import_does_no_work():
    code = ("import sys; import chains.evm; assert not any(m.startswith(('eth_account', 'web3')) for m in sys.modules);"
            "import chains.evm.adapter, chains.evm.keys; from eth_account import Account;"
            "assert Account._use_unaudited_hdwallet_features is False; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_verify_ownership_eip191():
    from eth_account import Account
    from eth_account.messages import encode_defunct

    adapter = _offline_adapter()
    owner, other = key_for_path(DEPOSIT_PATH), key_for_path("m/44'/60'/0'/0/21")
    message = "I own deposit 0xabc, case 7"
    sig = Account.sign_message(encode_defunct(text=message), owner.key).signature.to_0x_hex()
    ok = adapter.verify_ownership(message, sig, DEPOSIT.lower())
    assert (ok.ok, ok.scheme, ok.signer) == (True, "EIP-191", DEPOSIT)
    wrong = adapter.verify_ownership(message, sig, other.address)
    assert (wrong.ok, wrong.scheme, wrong.signer) == (False, "EIP-191", DEPOSIT)
    assert adapter.verify_ownership(message + "!", sig, DEPOSIT).ok is False
    with pytest.raises(InvalidRequest) as exc:
        adapter.verify_ownership(message, "0x1234", DEPOSIT)
    assert exc.value.code == "bad_signature" and exc.value.exit_code == 4


FORWARDER = "0x6000600060006000346000355af100"  # forwards msg.value to the address in its calldata


def test_internal_transfer_comes_from_the_claimed_transactions_trace(node, adapter):
    """The amount is what *this* transaction's calls moved to the address (debug_traceTransaction),
    whatever else its block did; a transaction that moved nothing to it gives None."""
    forwarder = "0x000000000000000000000000000000000000f0a1"
    node.set_code(forwarder, FORWARDER)
    sender = node.accounts[3]
    tx = node.w3.eth.send_transaction({"from": sender, "to": forwarder, "value": 12_345,
                                       "data": "0x" + "00" * 12 + DEPOSIT[2:].lower(), "gas": 100_000})
    node.w3.eth.wait_for_transaction_receipt(tx)
    obs = adapter.observe([tx.to_0x_hex()])[tx.to_0x_hex()]
    t = adapter.internal_transfer(obs, DEPOSIT)
    assert (t.index, t.asset, t.recipient, t.amount) == (-2, NATIVE, DEPOSIT, 12_345)
    assert t.sender == obs.to
    assert adapter.internal_transfer(obs, STATION) is None  # the trace moved nothing to it


def _pure_plan(asset=NATIVE, topup=False):
    network = load_network_file(REPO / "chain_configs" / "anvil.toml")
    p = 2 * 10**10
    if asset == NATIVE:
        steps = [{"role": "sweep_net", "gas": "21000"}, {"role": "sweep_fee", "gas": "21000"}]
        gross, fee = 10**18, 10**15
        net = gross - fee - 42_000 * p
    else:
        steps = [{"role": "sweep_net", "gas": "60000"}, {"role": "sweep_fee", "gas": "50000"}]
        gross, fee = 1_000_000, 50_000
        net = gross - fee
    if topup:
        steps.insert(0, {"role": "gas_topup", "gas": "21000"})
    params = {"version": 1, "kind": "native" if asset == NATIVE else "token", "chain_id": 31337, "tx_type": "0x2",
              "gas_price": str(p), "steps": steps, "topup": topup, "cost_mode": "deduct"}
    req = SweepRequest(case_id=1, deposit_address=DEPOSIT, deposit_path=DEPOSIT_PATH, asset=asset, decimals=6,
                       gross=gross, net=net, fee_total=fee, destination=DESTINATION,
                       fee_collector=network.fee_collector, gas_station_path=STATION_PATH, cost_mode="deduct",
                       gas_station_address=STATION)
    return build_evm_plan(network_key="anvil", chain_id=31337, request=req, params=params, deposit_nonce=3,
                          station_nonce=9, deposit_native_balance=0, station_address=STATION), p


def test_describe_plan_native():
    plan, p = _pure_plan()
    rows = _offline_adapter().describe_plan(plan)
    assert [r.role for r in rows] == ["sweep_net", "sweep_fee"]
    net_row, fee_row = rows
    assert plan.net == 998_160_000_000_000_000  # 1 ETH - 0.001 fee - 42000 gas x 20 gwei
    assert net_row.summary == f"net to the destination: 0.99816 ETH from {DEPOSIT} to {DESTINATION} (nonce 3)"
    assert net_row.moves == ({"to": DESTINATION, "amount": str(plan.net), "asset": NATIVE, "what": "net to the destination"},)
    assert fee_row.moves[0]["amount"] == str(10**15) and fee_row.summary.startswith("fee to the fee collector: 0.001 ETH")
    assert net_row.detail["nonce"] == 3 and fee_row.detail["nonce"] == 4
    assert net_row.detail["gas"] == 21_000 and net_row.detail["gas_price"] == str(p)
    assert net_row.signer == DEPOSIT and net_row.after == ()
    d = net_row.to_dict()
    assert set(d) == {"seq", "role", "signer", "summary", "moves", "after", "detail"}
    assert not {"value", "to", "nonce", "data"} & set(d)


def test_describe_plan_says_where_the_net_goes():
    """The net leg's words come from the role the plan was built for (a credit's net goes to our hot
    wallet), one label for every family (``chains.base.net_label``)."""
    import dataclasses

    plan, _ = _pure_plan()
    for role, words in (("return_address", "net to the user's return address"),
                        ("hot_wallet", "net to our hot wallet, for the account credit")):
        net_row = _offline_adapter().describe_plan(dataclasses.replace(plan, meta={**plan.meta,
                                                                                    "destination_role": role}))[0]
        assert net_row.moves[0]["what"] == words and net_row.summary.startswith(words + ": ")


def test_describe_plan_token_with_topup():
    token = to_checksum_address("0x" + "7a" * 20)
    plan, p = _pure_plan(token, topup=True)
    topup, net_row, fee_row = _offline_adapter().describe_plan(plan)
    assert topup.summary == f"gas top-up 0.0022 ETH from the gas station {STATION} to {DEPOSIT} (nonce 9)"
    assert topup.moves == ({"to": DEPOSIT, "amount": str(110_000 * p), "asset": NATIVE, "what": "gas top-up"},)
    assert net_row.moves == ({"to": DESTINATION, "amount": "950000", "asset": token, "what": "net to the destination"},)
    assert fee_row.moves[0]["to"] == plan.fee_collector and fee_row.moves[0]["amount"] == "50000"
    assert net_row.after == (0,) and "950000 base units of token" in net_row.summary and "(nonce 3)" in net_row.summary


def test_node_error_answers_are_classified_not_retried():
    network = load_network_file(REPO / "chain_configs" / "anvil.toml").resolved({"ANVIL_URL": "http://127.0.0.1:9"})
    sent = []

    def send(body):
        reqs = json.loads(body)
        reqs = reqs if isinstance(reqs, list) else [reqs]
        sent.append(len(reqs))
        out = []
        for r in reqs:
            if r["method"] == "eth_chainId":
                out.append({"jsonrpc": "2.0", "id": r["id"], "result": hex(31337)})
            else:
                out.append({"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32000, "message": "header busy"}})
        return out

    adapter = EvmAdapter(network, client=JsonRpcClient(network.rpc_urls, network="anvil", send=send))
    with pytest.raises(NodeRefused) as exc:
        adapter.observe(["0x" + "11" * 32])
    assert exc.value.exit_code == 6 and not isinstance(exc.value, RetryableChainError)
    assert "anvil" in str(exc.value) and exc.value.details["method"] == "eth_blockNumber"
    assert sent == [1, 3]  # chain id once, then one batch (block number, receipt, transaction); no retry


def test_recheck_deposit(node, network, w3, accts):
    adapter = EvmAdapter(network)
    token, receipt = _deposit(w3, "StandardToken", accts, 1_000)
    obs, tr = _observe_one(adapter, receipt)
    kw = dict(txid=obs.txid, block_number=obs.block_number, block_hash=obs.block_hash, recipient=DEPOSIT,
              asset=token.address, amount=1_000, index=tr.index)
    assert adapter.recheck_deposit(**kw) is None
    assert adapter.recheck_deposit(**{**kw, "block_hash": "0x" + "00" * 32}).endswith("(reorganised away)")
    assert adapter.recheck_deposit(**{**kw, "amount": 1_001}) == (
        f"{DEPOSIT} now holds 1000 base units, less than the 1001 deposited")
    node.set_code(token.address, "0x60006000fd")  # every call reverts now
    assert "no longer answers balanceOf" in adapter.recheck_deposit(**kw)


def test_offline_export_and_check_signed(node, network):
    node.set_balance(DEPOSIT, ETH)
    adapter = EvmAdapter(network)
    req = _request(network, gross=ETH, fee_total=10**15)
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(replace(req, net=ETH - 10**15 - cost.native_cost), cost)
    doc = adapter.export_unsigned(plan)
    assert doc["format"] == "evm-unsigned-json" and doc["chain_id"] == 31337
    assert [t["tx"]["nonce"] for t in doc["transactions"]] == ["0", "1"]
    assert [t["signer_path"] for t in doc["transactions"]] == [DEPOSIT_PATH] * 2
    # an offline signer: eth-account on the exported dicts, nothing of the adapter
    from eth_account import Account

    def as_ints(tx):
        return {k: (int(v) if k not in ("to", "data") else v) for k, v in tx.items()}

    raws = ["0x" + bytes(Account.sign_transaction(as_ints(t["tx"]), key_for_path(t["signer_path"]).key)
                         .raw_transaction).hex() for t in doc["transactions"]]
    assert adapter.signed_from_document({"signed": raws}) == raws
    assert adapter.check_signed(plan, raws) == [adapter.txid_of(r) for r in raws] == [
        "0x" + Account.sign_transaction(as_ints(t["tx"]), key_for_path(t["signer_path"]).key).hash.hex()
        for t in doc["transactions"]]
    assert raws == adapter.sign(plan, key_for_path)  # the same bytes as signing online
    with pytest.raises(SweepRefused) as exc:
        adapter.check_signed(plan, list(reversed(raws)))
    assert exc.value.code == "signed_differs" and "nonce" in str(exc.value)
    with pytest.raises(InvalidRequest) as exc2:
        adapter.signed_from_document({"psbt": "x"})
    assert exc2.value.code == "bad_file"
    assert adapter.signing_keys(plan) == {DEPOSIT_PATH: DEPOSIT}
