"""The Stellar family against the loopback Horizon (tests/support/horizon_replay.py): SEP-0005 keys, addresses,
observations (memo-less, muxed, failed, path payments, a recorded testnet transaction), SEP-29, refunds planned,
signed, read back and sent, SEP-53 ownership proofs, health."""

from __future__ import annotations

import dataclasses
import time

import pytest
from stellar_sdk import Account, Asset, Keypair, MuxedAccount, TransactionBuilder, TransactionEnvelope

from chains.base import NATIVE, Capability, SweepRequest, adapter_for
from chains.config import load_networks
from chains.errors import InvalidAddress, InvalidRequest, InvalidTxid, NetworkConfigError, PermanentChainError
from chains.keys import mnemonic_seed
from horizon_replay import HorizonReplay, fixture

NETWORKS = load_networks(config_dir="")
TESTNET = "Test SDF Network ; September 2015"
# SEP-0005 "Test 1" (stellar/stellar-protocol ecosystem/sep-0005.md, commit d186cf3187722ebcdbd647e782449e543f9d0ef3)
SEP5_TEST1 = "illness spike retreat truth genius clock brain pass fit cave bargain toe"
SEP5_TEST1_KEYS = {0: ("GDRXE2BQUC3AZNPVFSCEZ76NJ3WWL25FYFK6RGZGIEKWE4SOOHSUJUJ6",
                       "SBGWSG6BTNCKCOB3DIFBGCVMUPQFYPA2G4O34RMTB343OYPXU5DJDVMN"),
                   1: ("GBAW5XGWORWVFE2XTJYDTLDHXTY2Q2MO73HYCGB3XMFMQ562Q2W2GJQX",
                       "SCEPFFWGAG5P2VX5DHIYK3XEMZYLTYWIPWYEKXFHSK25RVMIUNJ7CTIS"),
                   9: ("GBTVYYDIYWGUQUTKX6ZMLGSZGMTESJYJKJWAATGZGITA25ZB6T5REF44",
                       "SCJGVMJ66WAUHQHNLMWDFGY2E72QKSI3XGSBYV6BANDFUFE7VY4XNXXR")}
# SEP-0005 "Test 2" (15 words)
SEP5_TEST2 = "resource asthma orphan phone ice canvas fire useful arch jewel impose vague theory cushion top"
SEP5_TEST2_KEY0 = "GAVXVW5MCK7Q66RIBWZZKZEDQTRXWCZUP4DIIFXCCENGW2P6W4OA34RH"

EXCHANGE_PATH = "m/44'/148'/0'"
XLM = 10**7


@pytest.fixture(scope="module")
def world():
    """The loopback Horizon with three accounts: the exchange's shared wallet (SEP-5 Test 1 index 0), a user, and
    another exchange whose account sets SEP-29's memo_required."""
    replay = HorizonReplay(TESTNET).start()
    exchange = Keypair.from_secret(SEP5_TEST1_KEYS[0][1])
    user, other, issuer = Keypair.random(), Keypair.random(), Keypair.random()
    usd = f"USD:{issuer.public_key}"
    replay.fund(exchange.public_key, 1_000 * XLM, assets={usd: 0}, subentries=1)
    replay.fund(user.public_key, 500 * XLM, assets={usd: 300 * XLM}, subentries=1)
    replay.fund(other.public_key, 10 * XLM, memo_required=True)
    net = NETWORKS["stellar-replay"].resolved({"STELLAR_REPLAY_URL": replay.url,
                                               "STELLAR_REPLAY_FEE_COLLECTOR": exchange.public_key,
                                               "STELLAR_REPLAY_HOT_WALLET": exchange.public_key})
    yield {"replay": replay, "net": net, "adapter": adapter_for(net), "exchange": exchange, "user": user,
           "other": other, "issuer": issuer, "usd": usd}
    replay.stop()


def _pay(world, *, memo=None, to=None, amount="12.5", asset=None, path=None, sender=None):
    """A signed envelope from the user: a payment (or a strict-send path payment ``path=(send_asset, send_amount,
    dest_min)``) to the shared wallet."""
    sender = sender or world["user"]
    seq = world["replay"].accounts[sender.public_key]["sequence"]
    b = TransactionBuilder(Account(sender.public_key, seq), TESTNET, base_fee=100).set_timeout(300)
    if memo is not None:
        b.add_text_memo(memo) if not memo.isdigit() else b.add_id_memo(int(memo))
    dest = to or world["exchange"].public_key
    if path:
        send_asset, send_amount, dest_min = path
        b.append_path_payment_strict_send_op(dest, send_asset, send_amount, asset or Asset.native(), dest_min, [])
    else:
        b.append_payment_op(dest, asset or Asset.native(), amount)
    env = b.build()
    env.sign(sender)
    return env


def _deposit(world, **kw) -> str:
    status, record = world["replay"].submit(_pay(world, **kw).to_xdr())
    assert status == 200, record
    return record["hash"]


# -- keys and addresses (pure) --------------------------------------------------------------------

def test_sep5_vectors():
    """SEP-0005 Test 1 and Test 2: the mnemonic's keys at m/44'/148'/N' (addresses and secrets)."""
    adapter = adapter_for(NETWORKS["stellar"].model_copy(update={"rpc_urls": ("http://offline.invalid:1",)}))
    seed = mnemonic_seed(SEP5_TEST1)
    for index, (address, secret) in SEP5_TEST1_KEYS.items():
        key = adapter.derive_key(seed, f"m/44'/148'/{index}'")
        assert key.address == address and key.key.secret == secret
    assert adapter.derive_key(mnemonic_seed(SEP5_TEST2), EXCHANGE_PATH).address == SEP5_TEST2_KEY0
    key = adapter.derive_key(seed, EXCHANGE_PATH)
    assert adapter.key_from_secret(key.key.raw_secret_key()).address == key.address
    assert key.key.secret not in repr(key)
    with pytest.raises(Exception, match="SEP-0005"):
        adapter.derive_key(seed, "m/44'/148'/0'/0'")


def test_addresses_txids_assets():
    from chains.stellar import address_key, chain_identity, normalize_txid, validate_address, validate_asset

    g = SEP5_TEST1_KEYS[0][0]
    m = MuxedAccount(g, 1042).account_muxed
    assert validate_address(g) == g and validate_address(m) == m and address_key(g) == g
    with pytest.raises(InvalidAddress, match="destination"):
        validate_address(g[:-1] + ("A" if g[-1] != "A" else "B"), what="destination")
    with pytest.raises(InvalidAddress):
        validate_address(SEP5_TEST1_KEYS[0][1])  # a secret seed is no address
    assert normalize_txid("AB" * 32) == "ab" * 32
    with pytest.raises(InvalidTxid):
        normalize_txid("ab" * 31)
    assert validate_asset(f"USDC:{g}") == f"USDC:{g}"
    for bad in ("USDC", f"TOOLONGCODE13:{g}", "USD:GABC"):
        with pytest.raises(InvalidAddress):
            validate_asset(bad)
    assert chain_identity(NETWORKS["stellar"]) == "stellar:Public Global Stellar Network ; September 2015"


def test_capabilities_are_what_the_family_does():
    cls = adapter_for(NETWORKS["stellar"].model_copy(update={"rpc_urls": ("http://offline.invalid:1",)})).__class__
    assert set(cls.capabilities) == {Capability.NATIVE_SWEEP, Capability.OWNERSHIP_PROOF, Capability.TOKENS,
                                     Capability.SHARED_MEMO, Capability.SCAN_INCOMING}


# -- reads ----------------------------------------------------------------------------------------

def test_memoless_payment_is_observed_without_a_memo(world):
    adapter, ex, user = world["adapter"], world["exchange"].public_key, world["user"].public_key
    plain, with_memo = _deposit(world, amount="12.5"), _deposit(world, memo="1042", amount="3")
    obs = adapter.observe([plain, with_memo, "00" * 32])
    o = obs[plain]
    assert o.found and o.success and o.confirmations == 1 and o.block_number == world["replay"].transactions[plain]["ledger"]
    (t,) = o.transfers
    assert (t.index, t.asset, t.sender, t.recipient, t.amount, t.memo) == (0, NATIVE, user, ex, 125_000_000, None)
    assert obs[with_memo].transfers[0].memo == "1042"
    assert obs["00" * 32].found is False
    assert adapter.recheck_deposit(txid=plain, block_number=o.block_number, block_hash=None, recipient=ex,
                                   asset=NATIVE, amount=125_000_000, index=0) is None
    assert "no longer shows" in adapter.recheck_deposit(txid=plain, block_number=None, block_hash=None, recipient=ex,
                                                         asset=NATIVE, amount=1, index=0)


def test_muxed_payment_counts_its_id_as_the_memo(world):
    ex = world["exchange"].public_key
    txid = _deposit(world, memo="hello", to=MuxedAccount(ex, 777).account_muxed, amount="1")
    (t,) = world["adapter"].tx_status(txid).transfers
    assert (t.recipient, t.memo, t.amount) == (ex, "777", XLM)


def test_failed_transaction_is_refused(world):
    replay = world["replay"]
    env = _pay(world, memo="31", amount="5")
    txid = replay.record(env, successful=False)
    obs = world["adapter"].tx_status(txid)
    assert obs.found and obs.success is False and "failed" in obs.failure_reason
    assert "failed" in world["adapter"].recheck_deposit(txid=txid, block_number=None, block_hash=None,
                                                        recipient=world["exchange"].public_key, asset=NATIVE,
                                                        amount=5 * XLM)


def test_path_payment_counts_what_arrived(world):
    """A strict-send path payment of USD that delivered 40.1234567 XLM (its destination_min was 40): the transfer
    is what arrived, never destination_min."""
    replay, usd_asset = world["replay"], Asset("USD", world["issuer"].public_key)
    env = _pay(world, memo="1042", path=(usd_asset, "50", "40"))
    txid = replay.record(env, delivered={0: 401_234_567})
    (t,) = world["adapter"].tx_status(txid).transfers
    assert (t.asset, t.amount, t.memo) == (NATIVE, 401_234_567, "1042")
    assert replay.operations[txid][0]["destination_min"] == "40.0000000"


def test_recorded_testnet_transaction_is_read(world):
    """The recorded real testnet transaction (a memo-less create_account): found, its ledger, no payments."""
    rec = fixture("testnet_tx_6bbd8cbd.json")
    obs = world["adapter"].tx_status(rec["hash"].upper())
    assert obs.found and obs.success and obs.block_number == 121879 and obs.transfers == ()
    assert obs.sender == "GBCCHT5P34DMK2LTN4SPHBAJCXYFNUEWSM7SDSWEXJA7NN6CA3HNHTM6"


def test_proof_balances_and_health(world):
    adapter, ex = world["adapter"], world["exchange"].public_key
    txid = _deposit(world, memo="9", amount="2")
    obs = adapter.tx_status(txid)
    (proof,) = adapter.prove([(obs, obs.transfers[0])])
    assert proof.now == world["replay"].balance(ex) == adapter.native_balance(ex) and proof.decimals == 7
    assert proof.symbol == "XLM" and proof.received is None
    status = adapter.node_status()
    assert status.latest_block == world["replay"].ledger == adapter.latest_block()
    assert adapter.memo_required(world["other"].public_key) and not adapter.memo_required(ex)
    wrong = adapter_for(world["net"].model_copy(update={"stellar": world["net"].stellar.model_copy(
        update={"network_passphrase": "Public Global Stellar Network ; September 2015"})}))
    with pytest.raises(NetworkConfigError) as err:
        wrong.node_status()
    assert err.value.code == "wrong_chain"


# -- refunds --------------------------------------------------------------------------------------

def _request(world, *, memo="1042", net=7 * XLM, destination=None, asset=NATIVE):
    ex = world["exchange"].public_key
    return SweepRequest(case_id=1, deposit_address=ex, deposit_path=EXCHANGE_PATH, asset=asset, decimals=7,
                        gross=net + XLM, net=net, fee_total=XLM, destination=destination or world["user"].public_key,
                        fee_collector=ex, gas_station_path=None, cost_mode="deduct", memo=memo,
                        destination_role="return_address")


def _key_for(world):
    return lambda path: world["adapter"].derive_key(mnemonic_seed(SEP5_TEST1), path).key


def test_refund_plan_signed_decoded_and_sent_exactly_as_planned(world):
    adapter, replay, ex, user = world["adapter"], world["replay"], world["exchange"].public_key, world["user"].public_key
    request = _request(world)
    plan = adapter.prepare(request, adapter.estimate_cost(request), now=1_900_000_000)
    (step,) = plan.steps
    assert plan.fee_collector == ex and plan.meta["memo"] == "1042"
    seq = replay.accounts[ex]["sequence"] + 1
    (view,) = adapter.describe_plan(plan)
    assert view.detail["memo"] == "1042"
    assert [(m["to"], m["amount"], m["what"]) for m in view.moves] == [
        (user, str(7 * XLM), "net to the user's return address"), ("validators", "100", "network fee")]
    (raw,) = adapter.sign(plan, _key_for(world))
    env = TransactionEnvelope.from_xdr(raw, TESTNET)
    tx = env.transaction
    (op,) = tx.operations
    assert (op.destination.account_id, op.asset.is_native(), op.amount) == (user, True, "7")
    assert (tx.memo.memo_id, tx.fee, tx.sequence, tx.source.account_id) == (1042, 100, seq, ex)
    assert (tx.preconditions.time_bounds.min_time, tx.preconditions.time_bounds.max_time) == \
        (1_900_000_000, 1_900_000_300)
    Keypair.from_public_key(ex).verify(env.hash(), env.signatures[0].signature)
    assert adapter.signed_step_problem(step, raw) is None
    assert adapter.txid_of(raw) == env.hash_hex() == step.simulation["txid"]
    # a copy signed by another key, or a changed field, is not the step
    other = TransactionEnvelope.from_xdr(raw, TESTNET)
    other.signatures = []
    other.sign(Keypair.random())
    assert "no valid signature" in adapter.signed_step_problem(step, other.to_xdr())
    changed = dict(step.tx, amount=str(8 * XLM))
    assert "amount" in adapter.signed_step_problem(dataclasses.replace(step, tx=changed), raw)
    # sent within its time bounds: applied; the same bytes again count as sent
    replay.now = 1_900_000_100
    before = replay.balance(user)
    assert adapter.nonce_ahead(plan) is None and adapter.nonce_conflict(plan) is None
    assert adapter.broadcast(raw, now=1_900_000_100) == env.hash_hex()
    assert replay.balance(user) == before + 7 * XLM
    assert adapter.broadcast(raw, now=1_900_000_100) == env.hash_hex()
    assert adapter.tx_status(env.hash_hex()).transfers[0].memo == "1042"
    assert adapter.nonce_conflict(plan) is None  # its own transaction used the sequence


def test_refund_text_memo_and_refusals(world):
    adapter = world["adapter"]
    request = _request(world, memo="ref-abc")
    plan = adapter.prepare(request, adapter.estimate_cost(request))
    assert (plan.steps[0].tx["memo_type"], plan.steps[0].tx["memo"]) == ("text", "ref-abc")
    too_long = _request(world, memo="x" * 29)
    with pytest.raises(InvalidRequest) as err:
        adapter.prepare(too_long, adapter.estimate_cost(too_long))
    assert err.value.code == "bad_memo"
    # 1 XLM would be left: below the reserve (2 + 1 subentry) x 0.5 XLM
    greedy = _request(world, net=adapter.native_balance(world["exchange"].public_key) - XLM)
    with pytest.raises(PermanentChainError) as err:
        adapter.prepare(greedy, adapter.estimate_cost(greedy))
    assert err.value.code == "funds_missing" and "reserve" in str(err.value)


def test_expired_or_outrun_refund_is_refused_for_good(world):
    adapter, replay = world["adapter"], world["replay"]
    request = _request(world, memo="55")
    plan = adapter.prepare(request, adapter.estimate_cost(request), now=1_900_001_000)
    (raw,) = adapter.sign(plan, _key_for(world))
    with pytest.raises(PermanentChainError) as err:
        adapter.broadcast(raw, now=1_900_001_301)
    assert err.value.code == "tx_expired"
    replay.now = 1_900_001_301  # Horizon's own refusal, when our clock is behind
    with pytest.raises(PermanentChainError) as err:
        adapter.broadcast(raw, now=1_900_001_000)
    assert err.value.code == "tx_expired"
    # another refund took the sequence: this one is outrun (re-plan), and Horizon says tx_bad_seq
    replay.now = None
    start = int(time.time())
    second = adapter.prepare(request, adapter.estimate_cost(request), now=start)
    first = adapter.prepare(request, adapter.estimate_cost(request), now=start + 1)  # same sequence, other bytes
    assert adapter.broadcast(adapter.sign(first, _key_for(world))[0])
    (late,) = adapter.sign(second, _key_for(world))
    assert "another transaction" in adapter.nonce_conflict(second)
    with pytest.raises(PermanentChainError) as err:
        adapter.broadcast(late)
    assert err.value.code == "nonce_taken"


# -- ownership proofs (SEP-53) ----------------------------------------------------------------------

def test_ownership_proof_verifies_and_another_keys_fails(world):
    from chains.stellar import sign_message

    adapter, user = world["adapter"], world["user"]
    message = "I sent 12.5 XLM to the exchange without a memo; case 7"
    signature = sign_message(user.secret, message)
    check = adapter.verify_ownership(message, signature, user.public_key)
    assert check.ok and check.scheme == "sep53" and check.signer == user.public_key
    assert not adapter.verify_ownership(message, sign_message(Keypair.random().secret, message), user.public_key).ok
    assert not adapter.verify_ownership(message + ".", signature, user.public_key).ok
    with pytest.raises(InvalidRequest):
        adapter.verify_ownership(message, "not base64!", user.public_key)


# -- the shared-memo domain on Stellar observations -----------------------------------------------

def test_memoless_payment_classifies_missing_memo(world):
    """The domain's classification (family-agnostic) of what the adapter observed: no memo is missing_memo, a
    memo not of the exchange's form is unknown_memo."""
    from recover.casework.memo_classify import memo_classification

    adapter, net = world["adapter"], world["net"]
    (plain,) = adapter.tx_status(_deposit(world, amount="4")).transfers
    assert memo_classification(net, plain, plain.amount, None, None)[0] == "missing_memo"
    (texty,) = adapter.tx_status(_deposit(world, memo="not-ours", amount="4")).transfers
    assert memo_classification(net, texty, texty.amount, None, None)[0] == "unknown_memo"


def test_refund_without_memo_to_a_sep29_account_is_refused(world):
    """SEP-29: the other exchange's account sets config.memo_required, so a refund there without a memo would be
    lost again: return_memo_required; with the claimant's memo, or to an account without the flag, it passes."""
    from recover.casework.cases import check_return_memo
    from recover.errors import PolicyRefused

    adapter, net, other = world["adapter"], world["net"], world["other"].public_key
    with pytest.raises(PolicyRefused) as err:
        check_return_memo(net, other, None, chain=adapter)
    assert err.value.code == "return_memo_required"
    check_return_memo(net, other, "1042", chain=adapter)
    check_return_memo(net, world["user"].public_key, None, chain=adapter)


def test_horizon_failover_and_retries(world):
    """A dead first Horizon is retried, then the next URL answers; a Horizon that answers 404 is not retried; when
    every URL is dead the read is retryable (exit 8)."""
    from chains.errors import RetryableChainError
    from chains.stellar.horizon import HorizonClient

    client = HorizonClient(["http://127.0.0.1:9", world["replay"].url], network="stellar-replay", timeout=2,
                           retries=2, backoff=0.01)
    assert client.get("/")["network_passphrase"] == TESTNET
    assert client.get_or_none("/transactions/" + "00" * 32) is None
    net = world["net"].model_copy(update={"rpc_urls": ("http://127.0.0.1:9", world["replay"].url)})
    assert adapter_for(net).latest_block() == world["replay"].ledger
    with pytest.raises(RetryableChainError):
        HorizonClient(["http://127.0.0.1:9"], network="x", timeout=1, retries=2, backoff=0.01).get("/")
    with pytest.raises(NetworkConfigError):
        HorizonClient(["ftp://nowhere"], network="x")


def test_credit_asset_deposit_and_refund(world):
    """A USD deposit (CODE:ISSUER) is observed in USD and refunded in USD, the fee in XLM; a refund to an account
    without the USD trustline is refused before anything is signed."""
    from chains.errors import SweepRefused

    adapter, replay, usd = world["adapter"], world["replay"], world["usd"]
    ex, user = world["exchange"].public_key, world["user"].public_key
    txid = _deposit(world, amount="25", asset=Asset("USD", world["issuer"].public_key))
    (t,) = adapter.tx_status(txid).transfers
    assert (t.asset, t.amount, t.memo) == (usd, 250_000_000, None)
    (proof,) = adapter.prove([(adapter.tx_status(txid), t)])
    assert (proof.now, proof.symbol, proof.decimals) == (replay.balance(ex, usd), "USD", 7)
    request = _request(world, asset=usd, net=200_000_000)
    plan = adapter.prepare(request, adapter.estimate_cost(request))
    assert [m["asset"] for m in adapter.describe_plan(plan)[0].moves] == [usd, NATIVE]
    (raw,) = adapter.sign(plan, _key_for(world))
    assert adapter.signed_step_problem(plan.steps[0], raw) is None
    user0, xlm0 = replay.balance(user, usd), replay.balance(ex)
    adapter.broadcast(raw)
    assert replay.balance(user, usd) - user0 == 200_000_000 and xlm0 - replay.balance(ex) == 100
    stranger = _request(world, asset=usd, net=XLM, destination=world["other"].public_key)
    with pytest.raises(SweepRefused) as err:
        adapter.prepare(stranger, adapter.estimate_cost(stranger))
    assert err.value.code == "destination_unusable"
