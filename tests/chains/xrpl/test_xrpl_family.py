"""The XRPL family against a loopback rippled replaying recorded mainnet answers (tests/support/xrpl_replay.py):
keys (xrpl.js's derivation vector), addresses, observations by delivered amount, a refund planned, signed,
read back and submitted, the reserve and destination-tag refusals, expiry, ownership proofs."""

from __future__ import annotations

import dataclasses

import pytest

from chains.base import NATIVE, Capability, SweepRequest, adapter_for
from chains.config import load_networks
from chains.errors import InvalidAddress, InvalidTxid, NodeRefused, PermanentChainError, SweepRefused
from chains.keys import mnemonic_seed
from chains.xrpl import normalize_txid, validate_address, validate_asset
from chains.xrpl.keys import sign_message
from xrpl_replay import FAILED_TXID, OLD_TXID, PARTIAL_TXID, REQUIRE_DEST, TAGGED_TXID, XrplReplay

NETWORKS = load_networks(config_dir="")
# xrpl.js packages/xrpl/test/wallet/index.test.ts, "fromMnemonic": this mnemonic at m/44'/144'/0'/0/0 gives
# public key 035953FC...385D (secp256k1); its classic address is xrpl-py's derive_classic_address of it
MNEMONIC = "assault rare scout seed design extend noble drink talk control guitar quote"
VECTOR_PATH = "m/44'/144'/0'/0/0"
VECTOR_PUBLIC = "035953FCD81D001CF634EB44A87940F3F98ADF2483D09C914BAED0539BE50F385D"
SHARED = "rJUr92pXcNtH6PtFfbRhHCo469XmPrbTJU"
SENDER = "rGFuMiw48HdbnrUbkRYuitXTmfrDBNTCnX"  # the partial payment's sender (a real mainnet account)


@pytest.fixture
def replay():
    node = XrplReplay()
    node.fund(SHARED, 100_000_000, sequence=5)
    node.fund(SENDER, 1_930_599_790)
    yield node
    node.stop()


@pytest.fixture
def adapter(replay):
    net = NETWORKS["xrpl-replay"].resolved({"XRPL_REPLAY_URL": replay.url, "XRPL_REPLAY_FEE_COLLECTOR": SHARED,
                                            "XRPL_REPLAY_HOT_WALLET": SHARED})
    return adapter_for(net)


def _request(net=5_000_000, memo="77", destination=SENDER, gross=None):
    return SweepRequest(case_id=1, deposit_address=SHARED, deposit_path=VECTOR_PATH, asset=NATIVE, decimals=6,
                        gross=gross or net + 1_000, net=net, fee_total=1_000, destination=destination,
                        fee_collector=SHARED, gas_station_path=None, cost_mode="absorb", memo=memo,
                        destination_role="return_address")


def _key(adapter):
    return adapter.derive_key(mnemonic_seed(MNEMONIC), VECTOR_PATH).key


# -- pure ------------------------------------------------------------------------------------------
def test_secp256k1_derivation_matches_xrpl_js_vector(adapter):
    key = _key(adapter)
    assert key.public_key == VECTOR_PUBLIC and key.address == SHARED


def test_ed25519_keys_are_slip10_and_sign(adapter):
    ed = adapter_for(adapter.network.model_copy(update={"xrpl": adapter.network.xrpl.model_copy(
        update={"key_type": "ed25519"})}))
    key = ed.derive_key(mnemonic_seed(MNEMONIC), "m/44'/144'/0'/0'/0'").key
    assert key.public_key.startswith("ED") and key.address.startswith("r")
    with pytest.raises(Exception, match="hardened"):
        ed.derive_key(mnemonic_seed(MNEMONIC), VECTOR_PATH)


def test_addresses_txids_assets():
    assert validate_address(SHARED) == SHARED
    with pytest.raises(InvalidAddress):
        validate_address(SHARED[:-1] + ("A" if SHARED[-1] != "A" else "B"))
    assert normalize_txid(TAGGED_TXID.lower()) == TAGGED_TXID
    with pytest.raises(InvalidTxid):
        normalize_txid("ab" * 31)
    assert validate_asset(f"USD.{REQUIRE_DEST}") == f"USD.{REQUIRE_DEST}"
    for bad in ("XRP." + REQUIRE_DEST, "USD.rNotAnAddress", "US.x"):
        with pytest.raises(InvalidAddress):
            validate_asset(bad)


def test_capabilities(adapter):
    assert {Capability.NATIVE_SWEEP, Capability.SHARED_MEMO, Capability.OWNERSHIP_PROOF, Capability.TOKENS,
            Capability.SIMULATION, Capability.SCAN_INCOMING} == set(adapter.capabilities)


def test_ownership_proof_verifies_and_another_key_fails(adapter):
    key = _key(adapter)
    other = adapter.derive_key(mnemonic_seed(MNEMONIC), "m/44'/144'/0'/0/1").key
    proof = sign_message(key, "refund case 7 to me")
    assert adapter.verify_ownership("refund case 7 to me", proof, SHARED).ok
    assert not adapter.verify_ownership("refund case 8 to me", proof, SHARED).ok
    forged = sign_message(other, "refund case 7 to me")
    check = adapter.verify_ownership("refund case 7 to me", forged, SHARED)
    assert not check.ok and check.signer == other.address


# -- observe -----------------------------------------------------------------------------------------
def test_partial_payment_counts_by_delivered_amount(adapter):
    obs = adapter.observe([PARTIAL_TXID])[PARTIAL_TXID]
    assert obs.success and obs.block_number is not None and obs.confirmations == 1
    (t,) = obs.transfers
    assert (t.asset, t.amount, t.sender, t.memo) == (NATIVE, 1_000_000, SENDER, None)  # Amount claimed 2000000


def test_tagged_payment_memo_is_the_destination_tag(adapter):
    obs = adapter.tx_status(TAGGED_TXID)
    assert obs.block_number == 66499739 and obs.success
    (t,) = obs.transfers
    assert (t.amount, t.memo, t.recipient) == (104_169_972, "109735445", "rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh")


def test_failed_payment_is_not_success(adapter):
    obs = adapter.tx_status(FAILED_TXID)
    assert obs.found and obs.success is False and "tecPATH_DRY" in obs.failure_reason


def test_payment_without_delivered_amount_is_refused(adapter):
    with pytest.raises(PermanentChainError, match="delivered_amount"):
        adapter.observe([OLD_TXID])


def test_unknown_tx_is_not_found(adapter):
    assert adapter.tx_status("00" * 32).found is False


def test_recheck_and_prove(adapter):
    obs = adapter.tx_status(PARTIAL_TXID)
    t = obs.transfers[0]
    assert adapter.recheck_deposit(txid=PARTIAL_TXID, block_number=obs.block_number, block_hash=None,
                                   recipient=t.recipient, asset=NATIVE, amount=1_000_000) is None
    assert "no longer shows" in adapter.recheck_deposit(txid=PARTIAL_TXID, block_number=None, block_hash=None,
                                                        recipient=t.recipient, asset=NATIVE, amount=2_000_000)
    (proof,) = adapter.prove([(obs, dataclasses.replace(t, recipient=SHARED))])
    assert proof.now == 100_000_000 and proof.decimals == 6


def test_memo_required_reads_the_account_flag(adapter):
    assert adapter.memo_required(REQUIRE_DEST) and not adapter.memo_required(SHARED)


def test_node_status(adapter, replay):
    status = adapter.node_status()
    assert status.latest_block == replay.validated == adapter.latest_block()


# -- refunds -----------------------------------------------------------------------------------------
def test_refund_planned_signed_read_back_and_submitted(adapter, replay):
    req = _request()
    cost = adapter.estimate_cost(req)
    plan = adapter.prepare(req, cost)
    (step,) = plan.steps
    assert step.tx == {"TransactionType": "Payment", "Account": SHARED, "Destination": SENDER, "Amount": "5000000",
                       "Fee": "10", "Sequence": 5, "Flags": 0, "LastLedgerSequence": replay.validated + 20,
                       "DestinationTag": 77}
    assert plan.fee_collector == SHARED and plan.meta["memo"] == "77"
    (view,) = adapter.describe_plan(plan)
    assert view.detail["memo"] == "77"
    assert [(m["to"], m["amount"]) for m in view.moves] == [(SENDER, "5000000"), ("validators", "10")]
    (raw,) = adapter.sign(plan, lambda path: adapter.derive_key(mnemonic_seed(MNEMONIC), path).key)
    assert adapter.signed_step_problem(step, raw) is None
    other = dataclasses.replace(step, tx={**step.tx, "DestinationTag": 78})
    assert "DestinationTag" in adapter.signed_step_problem(other, raw)
    assert adapter.nonce_conflict(plan) is None and adapter.nonce_ahead(plan) is None
    txid = adapter.broadcast(raw)
    assert txid == adapter.txid_of(raw)
    assert adapter.tx_status(txid).found and adapter.tx_status(txid).block_number is None  # not validated yet
    assert adapter.broadcast(raw) == txid  # tefALREADY
    replay.close()
    obs = adapter.tx_status(txid)
    assert obs.success and obs.transfers[0].amount == 5_000_000 and obs.transfers[0].memo == "77"
    assert replay.balance(SHARED) == 100_000_000 - 5_000_000 - 10
    assert adapter.nonce_conflict(plan) is None  # its own sequence


def test_second_refund_at_the_same_sequence_conflicts(adapter, replay):
    first = adapter.prepare(_request(), adapter.estimate_cost(_request()))
    second = adapter.prepare(_request(net=6_000_000), adapter.estimate_cost(_request()))
    key = lambda path: adapter.derive_key(mnemonic_seed(MNEMONIC), path).key  # noqa: E731
    adapter.broadcast(adapter.sign(first, key)[0])
    replay.close()
    assert "another transaction" in adapter.nonce_conflict(second)
    with pytest.raises(NodeRefused, match="tefPAST_SEQ"):
        adapter.broadcast(adapter.sign(second, key)[0])


def test_expired_refund_is_refused_for_good(adapter, replay):
    plan = adapter.prepare(_request(), adapter.estimate_cost(_request()))
    (raw,) = adapter.sign(plan, lambda path: adapter.derive_key(mnemonic_seed(MNEMONIC), path).key)
    replay.validated += 21
    assert adapter.tx_status(adapter.txid_of(raw)).found is False
    with pytest.raises(NodeRefused, match="tefMAX_LEDGER"):
        adapter.broadcast(raw)


def test_refund_keeps_the_reserve(adapter, replay):
    # 100 XRP held, 20 XRP reserve: 80 XRP less the fee is the most a refund may send
    adapter.prepare(_request(net=80_000_000 - 10), adapter.estimate_cost(_request()))
    with pytest.raises(PermanentChainError) as err:
        adapter.prepare(_request(net=80_000_000 - 9), adapter.estimate_cost(_request()))
    assert err.value.code == "funds_missing"


def test_refund_to_require_dest_account_without_tag_is_refused(adapter):
    with pytest.raises(SweepRefused) as err:
        adapter.prepare(_request(memo=None, destination=REQUIRE_DEST), adapter.estimate_cost(_request()))
    assert err.value.code == "return_memo_required"
    assert adapter.prepare(_request(destination=REQUIRE_DEST), adapter.estimate_cost(_request())).steps


def test_refund_memo_must_be_a_tag_and_return_address_classic(adapter):
    from xrpl.core.addresscodec import classic_address_to_xaddress

    with pytest.raises(Exception, match="destination tag"):
        adapter.prepare(_request(memo="abc"), adapter.estimate_cost(_request()))
    with pytest.raises(Exception, match="destination tag"):
        adapter.prepare(_request(memo=str(2**32)), adapter.estimate_cost(_request()))
    xaddr = classic_address_to_xaddress(SENDER, 77, False)
    assert validate_address(xaddr) == xaddr
    with pytest.raises(InvalidAddress, match="--return-memo 77"):
        adapter.prepare(_request(destination=xaddr), adapter.estimate_cost(_request()))


def test_signed_blob_of_another_key_is_refused(adapter):
    from chains.xrpl.sign import sign_tx

    plan = adapter.prepare(_request(), adapter.estimate_cost(_request()))
    other = adapter.derive_key(mnemonic_seed(MNEMONIC), "m/44'/144'/0'/0/1").key
    raw = sign_tx(plan.steps[0].tx, other)
    assert "signed by" in adapter.signed_step_problem(plan.steps[0], raw)


def test_node_of_another_network_id_is_wrong_chain():
    from chains.errors import NetworkConfigError

    node = XrplReplay("serverInfoNetworkID.json")  # a node that says network id 1
    try:
        net = NETWORKS["xrpl-replay"].resolved({"XRPL_REPLAY_URL": node.url, "XRPL_REPLAY_FEE_COLLECTOR": SHARED,
                                                "XRPL_REPLAY_HOT_WALLET": SHARED})
        wrong = net.model_copy(update={"xrpl": net.xrpl.model_copy(update={"network_id": 21338})})
        with pytest.raises(NetworkConfigError) as err:
            adapter_for(wrong).node_status()
        assert err.value.code == "wrong_chain"
        right = net.model_copy(update={"xrpl": net.xrpl.model_copy(update={"network_id": 1})})
        node.fund(SHARED, 50_000_000, sequence=3)
        ad = adapter_for(right)
        assert ad.node_status().latest_block == 38327626
        # the refund's destination has no account here: 5 XRP cannot create it (base reserve 10 XRP)
        with pytest.raises(PermanentChainError, match="tecNO_DST_INSUF_XRP"):
            ad.prepare(_request(), ad.estimate_cost(_request()))
        node.fund(SENDER, 1_000_000)
        plan = ad.prepare(_request(), ad.estimate_cost(_request()))
        assert plan.steps[0].tx["NetworkID"] == 1  # written into the refund, and signed with it
        (raw,) = ad.sign(plan, lambda path: ad.derive_key(mnemonic_seed(MNEMONIC), path).key)
        assert ad.signed_step_problem(plan.steps[0], raw) is None
    finally:
        node.stop()


def test_unreachable_node_is_retryable():
    from chains.errors import RetryableChainError

    net = NETWORKS["xrpl-replay"].resolved({"XRPL_REPLAY_URL": "http://127.0.0.1:9",
                                            "XRPL_REPLAY_FEE_COLLECTOR": SHARED,
                                            "XRPL_REPLAY_HOT_WALLET": SHARED})
    with pytest.raises(RetryableChainError):
        adapter_for(net).latest_block()


def test_scan_incoming_counts_delivered_amounts_with_tags(adapter, replay):
    from xrpl_replay import PARTIAL_LEDGER

    found = adapter.scan_incoming(["rNNuQMuExCiEjeZ4h9JJnj5PSWypdMXDj4"], PARTIAL_LEDGER, PARTIAL_LEDGER)
    assert [(d.txid, d.amount, d.memo, d.sender) for d in found] == [(PARTIAL_TXID, 1_000_000, None, SENDER)]
    assert adapter.scan_incoming(["rNNuQMuExCiEjeZ4h9JJnj5PSWypdMXDj4"], 1, PARTIAL_LEDGER - 1) == []
    tagged = adapter.scan_incoming(["rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh"], 66499739, 66499739)
    assert [(d.amount, d.memo) for d in tagged] == [(104_169_972, "109735445")]
    assert adapter.scan_incoming(["r3AWbdp2jQLXLywJypdoNwVSvr81xs3uhn"], 1, 10**8) == []  # failed: nothing arrived
