"""The Cosmos family against a real single-validator injectived (one node for the module): keys, addresses,
observations, balance proofs, a refund from the shared wallet end to end, ADR-036 proofs, scans, health."""

from __future__ import annotations

import base64
import json
import time

import pytest

from chains.base import NATIVE, Capability, SweepRequest, adapter_for
from chains.config import load_networks
from chains.errors import InvalidAddress, InvalidTxid, NetworkConfigError, PermanentChainError
from chains.keys import mnemonic_seed
from cosmos_devnet import DENOM, GAS_PRICE, IBC_DENOM, CosmosNode, start_injectived

pytestmark = pytest.mark.node

EXCHANGE_PATH = "m/44'/60'/0'/0/0"  # `injectived keys add` without --account/--index: coin type 60, index 0
NETWORKS = load_networks(config_dir="")


def _offline(key: str):
    """A shipped network's adapter for pure work (keys): its node address cannot be reached."""
    return adapter_for(NETWORKS[key].model_copy(update={"rpc_urls": ("http://offline.invalid:1",)}))


@pytest.fixture(scope="module")
def chain():
    node = start_injectived()
    yield node
    node.stop()


def _network(chain: CosmosNode, key: str = "inj-devnet", chain_id: str | None = None):
    net = NETWORKS[key]
    if chain_id is not None:
        net = net.model_copy(update={"cosmos": net.cosmos.model_copy(update={"chain_id": chain_id})})
    return net.resolved({"INJ_DEVNET_URL": chain.api_url, "INJ_DEVNET_FEE_COLLECTOR": chain.address("exchange"),
                         "INJ_DEVNET_HOT_WALLET": chain.address("exchange")})


@pytest.fixture(scope="module")
def adapter(chain):
    return adapter_for(_network(chain))


@pytest.fixture(scope="module")
def planted(chain):
    """Deposits into the shared wallet ("exchange"): with a memo, without one, two messages, a failed one."""
    ex, other = chain.address("exchange"), chain.address("other")
    start = chain.height()
    txs = {"memo": chain.send("user", ex, 123_456_789, memo="1042"),
           "plain": chain.send("user", ex, 2_500_000, IBC_DENOM),
           "two": chain.send_messages("user", [(ex, 700, DENOM), (other, 900, IBC_DENOM)], memo="7"),
           "failed": chain.send_overdrawn("other", ex, IBC_DENOM, memo="31")}
    return {"txs": txs, "from": start, "to": chain.height()}


def _key(chain: CosmosNode, adapter, name: str):
    return adapter.derive_key(mnemonic_seed(chain.mnemonics[name]), EXCHANGE_PATH)


# -- keys and addresses (pure) --------------------------------------------------------------------

def test_secp256k1_derivation_matches_published_cosmjs_vectors():
    """cosmos/cosmjs ``packages/amino/src/secp256k1hdwallet.spec.ts``: "special sign fit simple patrol salute
    grocery chicken wheat radar tonight ceiling" at m/44'/118'/0'/0/0 -> public key 02baa4ef...d7b6 and
    cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5; "oyster design unusual machine spread century engine
    gravity focus cave carry slot" -> cosmos1cjsxept9rkggzxztslae9ndgpdyt2408lk850u ("the same address as
    Go implementation")."""
    hub = _offline("cosmoshub")
    key = hub.derive_key(mnemonic_seed("special sign fit simple patrol salute grocery chicken wheat radar tonight "
                                       "ceiling"), "m/44'/118'/0'/0/0")
    assert key.address == "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5"
    assert key.key.public_key.hex() == "02baa4ef93f2ce84592a49b1d729c074eab640112522a7a89f7d03ebab21ded7b6"
    other = hub.derive_key(mnemonic_seed("oyster design unusual machine spread century engine gravity focus cave "
                                         "carry slot"), "m/44'/118'/0'/0/0")
    assert other.address == "cosmos1cjsxept9rkggzxztslae9ndgpdyt2408lk850u"
    assert hub.key_from_secret(key.key.secret).address == key.address
    assert "secret" not in repr(key) and key.key.secret.hex() not in repr(key)


def test_eth_secp256k1_derivation_matches_the_devnet_keyring(chain, adapter):
    for name in ("user", "exchange", "other"):
        assert _key(chain, adapter, name).address == chain.address(name)


def test_address_validation(chain):
    from chains.cosmos import address_key, chain_identity, normalize_txid, validate_address

    net = _network(chain)
    good = chain.address("user")
    assert validate_address(good, network=net) == good
    assert address_key(good) == good
    bad_checksum = good[:-1] + ("q" if good[-1] != "q" else "p")
    with pytest.raises(InvalidAddress, match="destination"):
        validate_address(bad_checksum, what="destination", network=net)
    with pytest.raises(InvalidAddress, match="prefix"):
        validate_address("cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5", network=net)
    with pytest.raises(InvalidAddress):
        validate_address(good.upper(), network=net)
    assert normalize_txid("ab" * 32) == "AB" * 32
    with pytest.raises(InvalidTxid):
        normalize_txid("ab" * 31)
    assert chain_identity(net) == "cosmos:recover-devnet-1" == net.chain


def test_capabilities_are_what_the_family_does():
    cls = _offline("osmosis").__class__
    assert {Capability.NATIVE_SWEEP, Capability.SIMULATION, Capability.OWNERSHIP_PROOF, Capability.TOKENS,
            Capability.SHARED_MEMO, Capability.SCAN_INCOMING} == set(cls.capabilities)


# -- reads ------------------------------------------------------------------------------------------

def test_observe_memo_send_two_messages_failed_and_unknown(chain, adapter, planted):
    txs, user, ex = planted["txs"], chain.address("user"), chain.address("exchange")
    obs = adapter.observe([txs["memo"], txs["two"], txs["failed"], "00" * 32])
    memo = obs[txs["memo"]]
    assert memo.found and memo.success and memo.sender == user and memo.confirmations >= 1
    assert memo.block_hash and len(memo.block_hash) == 64 and memo.block_time is not None
    assert [(t.index, t.asset, t.sender, t.recipient, t.amount, t.memo) for t in memo.transfers] == [
        (0, NATIVE, user, ex, 123_456_789, "1042")]  # the native denomination is NATIVE, as in every family
    two = obs[txs["two"]]
    assert [(t.index, t.asset, t.recipient, t.amount, t.memo) for t in two.transfers] == [
        (0, NATIVE, ex, 700, "7"), (1, IBC_DENOM, chain.address("other"), 900, "7")]
    failed = obs[txs["failed"]]
    assert failed.found and failed.success is False and "insufficient funds" in failed.failure_reason
    assert [(t.recipient, t.asset, t.memo) for t in failed.transfers] == [(ex, IBC_DENOM, "31")]
    assert obs["00" * 32].found is False
    plain = adapter.tx_status(txs["plain"])
    assert plain.transfers[0].memo is None and plain.transfers[0].amount == 2_500_000


def test_prove_each_reads_the_balance_and_the_coin(chain, adapter, planted):
    obs = adapter.observe([planted["txs"]["memo"], planted["txs"]["plain"]])
    items = [(o, o.transfers[0]) for o in obs.values()]
    native, ibc = adapter.prove_each(items)
    assert native.now == chain.balance(chain.address("exchange"))
    assert (native.decimals, native.symbol, native.before, native.after) == (18, "INJ", None, None)
    assert ibc.now == chain.balance(chain.address("exchange"), IBC_DENOM)
    assert (ibc.decimals, ibc.symbol) == (0, None)  # the devnet gives its IBC-style coin no metadata
    o = obs[planted["txs"]["memo"]]
    assert adapter.recheck_deposit(txid=o.txid, block_number=o.block_number, block_hash=o.block_hash,
                                   recipient=chain.address("exchange"), asset=DENOM, amount=123_456_789, index=0) is None
    assert "no longer shows" in adapter.recheck_deposit(txid=o.txid, block_number=None, block_hash=None,
                                                        recipient=chain.address("exchange"), asset=DENOM, amount=1)


def test_scan_incoming_finds_memo_and_memoless_deposits_never_failed_ones(chain, adapter, planted):
    found = adapter.scan_incoming([chain.address("exchange")], planted["from"], planted["to"])
    got = {(d.txid, d.index): (d.asset, d.amount, d.sender, d.memo) for d in found}
    txs, user = planted["txs"], chain.address("user")
    assert got[(txs["memo"], 0)] == (NATIVE, 123_456_789, user, "1042")
    assert got[(txs["plain"], 0)] == (IBC_DENOM, 2_500_000, user, None)
    assert got[(txs["two"], 0)] == (NATIVE, 700, user, "7")
    assert (txs["two"], 1) not in got  # paid to "other"
    assert not any(t == txs["failed"] for t, _ in got)


def test_node_status_and_wrong_chain_refused(chain, adapter):
    status = adapter.node_status()
    assert status.chain == "chain id recover-devnet-1" and status.latest_block >= 2 and status.latest_time
    wrong = adapter_for(_network(chain, chain_id="cosmoshub-4"))
    with pytest.raises(NetworkConfigError) as err:
        wrong.node_status()
    assert err.value.code == "wrong_chain"


# -- a refund from the shared wallet ------------------------------------------------------------------

def _request(chain, *, net: int, memo: str = "8812", asset: str = NATIVE, case_id: int = 1) -> SweepRequest:
    return SweepRequest(case_id=case_id, deposit_address=chain.address("exchange"), deposit_path=EXCHANGE_PATH,
                        asset=asset, decimals=18, gross=net + 1_000, net=net, fee_total=1_000,
                        destination=chain.address("user"), fee_collector=chain.address("exchange"),
                        gas_station_path=None, cost_mode="absorb", memo=memo, destination_role="return_address")


def _wait(adapter, txid: str):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        obs = adapter.tx_status(txid)
        if obs.found:
            return obs
        time.sleep(0.2)
    raise AssertionError(f"{txid} not in a block")


def test_refund_plan_signed_sent_and_exact(chain, adapter):
    ex, user = chain.address("exchange"), chain.address("user")
    request = _request(chain, net=4_000_000)
    cost = adapter.estimate_cost(request)
    gas = int(cost.params["gas"])
    assert gas >= 100_000 and cost.native_cost == gas * GAS_PRICE and cost.params["denom"] == DENOM
    plan = adapter.prepare(request, cost)
    (step,) = plan.steps
    assert plan.fee_collector == ex and plan.native_cost == cost.native_cost and plan.meta["memo"] == "8812"
    assert step.tx["memo"] == "8812" and step.tx["to"] == user and step.simulation["ok"]
    (view,) = adapter.describe_plan(plan)
    assert "fee stays in the shared wallet" in view.summary
    assert [m["what"] for m in view.moves] == ["net to the user's return address", "network fee"]
    assert view.moves[0]["amount"] == "4000000" and view.moves[1]["amount"] == str(cost.native_cost)

    key = _key(chain, adapter, "exchange")
    (raw,) = adapter.sign(plan, lambda path: key.key if path == EXCHANGE_PATH else None)
    assert adapter.signed_step_problem(step, raw) is None
    altered = dict(step.tx, amount="4000001")
    assert "amount" in adapter.signed_step_problem(step.__class__(**{**step.__dict__, "tx": altered}), raw)
    other_memo = dict(step.tx, memo="9")
    assert "memo" in adapter.signed_step_problem(step.__class__(**{**step.__dict__, "tx": other_memo}), raw)

    before_ex, before_user = chain.balance(ex), chain.balance(user)
    txid = adapter.broadcast(raw)
    assert txid == adapter.txid_of(raw)
    obs = _wait(adapter, txid)
    assert obs.success and obs.transfers[0].memo == "8812" and obs.transfers[0].amount == 4_000_000
    assert chain.tx(txid)["memo"] == "8812"
    assert before_ex - chain.balance(ex) == 4_000_000 + cost.native_cost
    assert chain.balance(user) - before_user == 4_000_000
    assert adapter.broadcast(raw) == txid  # the same bytes again: already on chain, success
    assert adapter.nonce_conflict(plan) is None and adapter.nonce_ahead(plan) is None


def test_signed_bytes_of_another_key_are_refused(chain, adapter):
    request = _request(chain, net=1_000_000)
    plan = adapter.prepare(request, adapter.estimate_cost(request))
    wrong = _key(chain, adapter, "other")
    with pytest.raises(Exception, match="does not control"):
        adapter.sign(plan, lambda path: wrong.key)


def test_second_refund_at_the_same_sequence_conflicts_once_the_first_is_sent(chain, adapter):
    first_req, second_req = _request(chain, net=1_111, case_id=2), _request(chain, net=2_222, case_id=3)
    first = adapter.prepare(first_req, adapter.estimate_cost(first_req))
    second = adapter.prepare(second_req, adapter.estimate_cost(second_req))
    assert first.steps[0].tx["sequence"] == second.steps[0].tx["sequence"]
    key = _key(chain, adapter, "exchange")
    (raw,) = adapter.sign(first, lambda p: key.key)
    txid = adapter.broadcast(raw)
    assert adapter.broadcast(raw) == txid  # at once again: the node holds the same bytes, success
    _wait(adapter, txid)
    assert adapter.nonce_conflict(first) is None
    assert "sequence" in adapter.nonce_conflict(second)
    ahead = second.__class__(**{**second.__dict__, "steps": (second.steps[0].__class__(
        **{**second.steps[0].__dict__, "tx": dict(second.steps[0].tx, sequence="999")}),)})
    assert adapter.nonce_ahead(ahead).nonce == 999


def test_refund_beyond_the_shared_wallet_is_funds_missing(chain, adapter):
    request = _request(chain, net=10**30)
    with pytest.raises(PermanentChainError) as err:
        adapter.prepare(request, adapter.estimate_cost(_request(chain, net=1)))
    assert err.value.code == "funds_missing"


# -- ownership proofs (ADR-036) ------------------------------------------------------------------------

def test_adr036_proof_by_the_user_verifies_and_others_fail(chain, adapter):
    from chains.cosmos import sign_arbitrary

    user, other = _key(chain, adapter, "user"), _key(chain, adapter, "other")
    message = "I sent tx 1042 and want it back"
    proof = sign_arbitrary(user.key, message, chain.address("user"))
    doc = json.loads(proof)
    assert doc["pub_key"]["type"] == "injective/PubKeyEthSecp256k1" and len(base64.b64decode(doc["signature"])) == 64
    check = adapter.verify_ownership(message, proof, chain.address("user"))
    assert check.ok and check.scheme == "adr036" and check.signer == chain.address("user")
    assert not adapter.verify_ownership(message + ".", proof, chain.address("user")).ok
    by_other = sign_arbitrary(other.key, message, chain.address("user"))
    assert not adapter.verify_ownership(message, by_other, chain.address("user")).ok
    assert not adapter.verify_ownership(message, proof, chain.address("other")).ok


def test_rest_fails_over_to_the_next_url_and_says_when_none_answers(chain):
    from chains.errors import RetryableChainError

    net = _network(chain)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    both = adapter_for(net.model_copy(update={"rpc_urls": (dead, chain.api_url)}))
    assert both.latest_block() >= 2 and both.rest.urls[both.rest._preferred] == chain.api_url
    none = adapter_for(net.model_copy(update={"rpc_urls": (dead,)}))
    with pytest.raises(RetryableChainError, match="node unreachable"):
        none.latest_block()
