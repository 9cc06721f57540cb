"""The EVM adapter against a real anvil node: observe, prove, cost, plan, simulate, sign, broadcast.

Every sweep scenario executes the signed plan on the node and checks balances to the base unit.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from chains.base import NATIVE, SweepRequest
from chains.config import load_network_file
from chains.errors import PermanentChainError, RetryableChainError, SignerMismatch, SweepRefused
from chains.evm import EvmAdapter, build_evm_plan, decode_revert, native_cost_from_params
from chains.evm_keys import derive_evm_account
from chains.rpc import RpcClient, RpcError

try:
    from tests import evm_devnet
except ImportError:  # pragma: no cover
    import evm_devnet  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent
MNEMONIC = evm_devnet.ANVIL_MNEMONIC
DEPOSIT_PATH = "m/44'/60'/0'/0/20"
STATION_PATH = "m/44'/60'/1'/0/0"
DEPOSIT = derive_evm_account(MNEMONIC, DEPOSIT_PATH).address
STATION = derive_evm_account(MNEMONIC, STATION_PATH).address
DESTINATION = to_checksum_address("0x" + "d5" * 20)
ETH = 10**18


def key_for_path(path: str):
    return derive_evm_account(MNEMONIC, path)


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
    client = RpcClient([url], timeout=1)
    start = time.monotonic()
    with pytest.raises(RetryableChainError) as exc:
        client.call("eth_chainId")
    assert time.monotonic() - start < 3
    assert url in str(exc.value) and exc.value.exit_code == 8
    assert client.http_requests == 3  # retried


def test_rpc_failover_and_batch(node):
    dead = f"http://127.0.0.1:{_closed_port()}"
    client = RpcClient([dead, node.url])
    assert int(client.call("eth_chainId"), 16) == 31337
    out = client.batch([("eth_chainId", []), ("eth_getBalance", ["0x11", "latest"]), ("eth_blockNumber", [])])
    assert int(out[0], 16) == 31337 and isinstance(out[1], RpcError) and isinstance(out[2], str)
    with pytest.raises(RpcError):
        client.call("eth_nonexistentMethod")
    client.chunk_size = 2  # chunked batches keep the order
    out = client.batch([("eth_chainId", [])] * 5 + [("net_version", [])])
    assert out[:5] == ["0x7a69"] * 5 and out[5] == "31337"


def test_wrong_chain_refused(node, network):
    adapter = EvmAdapter(network.model_copy(update={"chain_id": 1}))
    with pytest.raises(PermanentChainError) as exc:
        adapter.observe(["0x" + "11" * 32])
    assert exc.value.code == "wrong_chain"


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
    with pytest.raises(PermanentChainError):
        adapter.prove([(obs, bogus)])


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
    assert plan.net + plan.fee_total + plan.native_cost == plan.gross
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


def test_token_sweep_without_topup_when_deposit_has_gas(node, network):
    node.set_balance(DEPOSIT, ETH)
    adapter, token, cost, request = _token_sweep(node, network, "StandardToken", fee_total=0)
    request = replace(request, fee_total=0, net=request.gross)
    cost = adapter.estimate_cost(request)
    assert cost.params["topup"] is False
    plan = adapter.prepare(request, cost)
    assert [s.role for s in plan.steps] == ["sweep_net"]
    _execute(adapter, node, plan)
    assert _token_balance(node.w3, token, DESTINATION) == request.gross


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


def test_eth_tester_transport_native_sweep():
    from chains.rpc import eth_tester_web3

    network = load_network_file(REPO / "chain_configs" / "ethtester.toml").resolved({})
    w3 = eth_tester_web3()
    gross, fee = ETH, 10**15
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": DEPOSIT, "value": gross})
    adapter = EvmAdapter(network)
    assert not adapter.client.supports_overrides
    req = _request(network, gross=gross, fee_total=fee)
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(replace(req, net=gross - fee - cost.native_cost), cost)
    for raw in adapter.sign(plan, key_for_path):
        txid = adapter.broadcast(raw)
        assert adapter.tx_status(txid).success
    assert w3.eth.get_balance(DEPOSIT) == 0
    assert w3.eth.get_balance(DESTINATION) >= gross - fee - cost.native_cost


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
