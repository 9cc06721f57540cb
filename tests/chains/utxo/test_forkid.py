"""SIGHASH_FORKID signing (Bitcoin Cash / Bitcoin SV deposits at legacy addresses).

Pure checks first: the digest is BIP-143's (the published P2WPKH vector, with hash type 0x01), the
signature made through bitcash's key primitive is the published one, and for a version-1
transaction our bytes equal bitcash's own ``create_p2pkh_transaction``.  Then on a real Bitcoin SV
regtest node (tests.bitcoind_devnet; if it cannot start the tests FAIL): a deposit at a legacy address
derived from a test mnemonic is observed, proven, quoted, prepared, signed with FORKID, broadcast
and mined through :class:`chains.utxo.UtxoAdapter` with the ``bsv-regtest`` network config, and the
node's outputs are checked to the base unit; a signature without FORKID (and one over another
amount) is rejected by the node.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bitcoind_devnet import BsvNode, NodeRPCError, start_bsvd  # noqa: E402
from chains.base import NATIVE, Capability, SweepRequest, Transfer  # noqa: E402
from chains.config import load_network_file, load_networks  # noqa: E402
from chains.errors import PermanentChainError, SignerMismatch, SweepRefused  # noqa: E402
from chains.utxo.adapter import UtxoAdapter, UtxoBalanceProof  # noqa: E402
from chains.utxo.forkid import (  # noqa: E402
    SIGHASH_ALL_FORKID,
    forkid_preimage,
    forkid_sighash,
    p2pkh_script,
    sign_p2pkh_forkid,
    verify_p2pkh_forkid,
)
from chains.utxo.keys import derive_utxo_key  # noqa: E402
from chains.utxo.sign import sign_with_bitcoinlib  # noqa: E402
from chains.utxo.tx import build_transaction, parse_raw, txid_of_raw, unsigned_hex  # noqa: E402
from derive import key_for_path as keys_for
from paths import REPO as ROOT

MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
NETWORK = "testnet"  # [utxo] address_network of chain_configs/bsv-regtest.toml
PATH = "m/44'/1'/0'/0/{i}"
_counter = iter(range(1000))

# BIP-143, "Native P2WPKH" example: the digest algorithm FORKID uses (there with hash type 0x01)
BIP143_TX = ("0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffffef51e1b804"
             "cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280"
             "b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa81"
             "5988ac11000000")
BIP143_KEY = "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9"
BIP143_SCRIPT_CODE = "76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac"
BIP143_SIGHASH = "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
BIP143_SIG = ("304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f"
              "90300e8f3358f51928d43c212a8caed02de67eebee")


# -- pure ----------------------------------------------------------------------------------------------------
def test_digest_is_bip143_and_signature_is_the_published_one():
    import hashlib

    from bitcash import PrivateKey

    tx = parse_raw(BIP143_TX)
    script_code = bytes.fromhex(BIP143_SCRIPT_CODE)
    assert forkid_sighash(tx, 1, script_code, 600_000_000, hash_type=0x01).hex() == BIP143_SIGHASH
    preimage = forkid_preimage(tx, 1, script_code, 600_000_000, hash_type=0x01)
    # the primitive sign_p2pkh_forkid uses: bitcash's key, given sha256(preimage) (it hashes once more)
    assert PrivateKey.from_hex(BIP143_KEY).sign(hashlib.sha256(preimage).digest()).hex() == BIP143_SIG
    # FORKID: the same algorithm with hash type 0x41 (and the fork id above bit 8)
    forkid = forkid_preimage(tx, 1, script_code, 600_000_000)
    assert forkid[:-4] == preimage[:-4] and forkid[-4:] == bytes([SIGHASH_ALL_FORKID, 0, 0, 0])
    assert forkid_preimage(tx, 1, script_code, 600_000_000, fork_id=0x123456)[-4:] == bytes.fromhex("41563412")
    with pytest.raises(ValueError, match="only SIGHASH_ALL"):
        forkid_preimage(tx, 1, script_code, 1, hash_type=0xC1)  # ANYONECANPAY: not produced here
    # the preimage by hand from BIP-143's published intermediate values (hashPrevouts, hashSequence,
    # hashOutputs), independently of the library that computes it
    by_hand = bytes.fromhex(
        "01000000"
        "96b827c8483d4e9b96712b6713a7b68d6e8003a781feba36c31143470b4efd37"
        "52b0a642eea2fb7ae638c36f6252b6750293dbe574a806984b8e4d8548339a3b"
        "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a01000000"
        "1976a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac"
        "0046c32300000000"
        "ffffffff"
        "863ef3e1a92afbfdb97f31ad0fc7683ee943e9abcf2501590ff8f6551f47e5e5"
        "11000000"
        "01000000")
    assert preimage == by_hand


def test_same_bytes_as_bitcash_for_a_version_1_transaction():
    from bitcash import PrivateKey
    from bitcash.network.meta import Unspent
    from bitcash.transaction import create_p2pkh_transaction
    from bitcash.types import CashTokens, PreparedOutput

    key, _ = derive_utxo_key(MNEMONIC, PATH.format(i=999), NETWORK)
    spk = p2pkh_script(bytes.fromhex(key.public_hex))
    ins = [("11" * 32, 0, 150_000), ("22" * 32, 3, 2_500_000)]
    outs = [(bytes.fromhex("76a914" + "33" * 20 + "88ac"), 2_000_000), (bytes.fromhex("76a914" + "44" * 20 + "88ac"),
                                                                       640_000)]
    theirs = create_p2pkh_transaction(
        PrivateKey.from_bytes(key.secret),
        [Unspent(a, 1, spk.hex(), t, v) for t, v, a in ins],
        [PreparedOutput(s, a, CashTokens(None, None, None, None)) for s, a in outs])
    doc = {"version": 1, "locktime": 0,
           "inputs": [{"txid": t, "vout": v, "amount": a, "address": key.address, "script_type": "p2pkh",
                       "sequence": 0xFFFFFFFF} for t, v, a in ins],
           "outputs": [{"amount": a, "script_pubkey": s.hex()} for s, a in outs]}
    unsigned = unsigned_hex(build_transaction(doc, NETWORK))
    ours = sign_p2pkh_forkid(unsigned, [a for _, _, a in ins], key.secret)
    assert ours == theirs
    prevouts = [(a, spk) for _, _, a in ins]
    assert verify_p2pkh_forkid(ours, prevouts) == []
    # the signature commits to the spent value: another amount does not verify
    assert verify_p2pkh_forkid(ours, [(150_001, spk), prevouts[1]]) == ["input 0: the signature does not verify"]
    # a plain Bitcoin (SIGHASH_ALL) signature is not a FORKID one
    legacy = sign_with_bitcoinlib(doc, key, NETWORK)
    assert "not SIGHASH_ALL|SIGHASH_FORKID" in verify_p2pkh_forkid(legacy, prevouts)[0]


def test_capability_only_on_fork_networks():
    testnet = derive_utxo_key(MNEMONIC, PATH.format(i=998), NETWORK)[1]
    mainnet = derive_utxo_key(MNEMONIC, "m/44'/0'/0'/0/0", "bitcoin")[1]
    ltc = derive_utxo_key(MNEMONIC, "m/84'/1'/0'/0/0", "litecoin_regtest")[1]
    dead = "http://u:p@127.0.0.1:9"
    env = {"BSV_REGTEST_URL": dead, "BSV_REGTEST_FEE_COLLECTOR": testnet, "BSV_REGTEST_HOT_WALLET": testnet,
           "RECOVER_BITCOIN_CASH_RPC_URL": dead, "RECOVER_BITCOIN_CASH_FEE_COLLECTOR": mainnet,
           "RECOVER_BITCOIN_CASH_HOT_WALLET": mainnet,
           "LTC_REGTEST_URL": dead, "LTC_REGTEST_FEE_COLLECTOR": ltc, "LTC_REGTEST_HOT_WALLET": ltc}
    nets = load_networks(config_dir="")
    bsv = UtxoAdapter(load_network_file(ROOT / "chain_configs" / "bsv-regtest.toml").resolved(env))
    bch = UtxoAdapter(nets["bitcoin-cash"].resolved(env))
    ltc = UtxoAdapter(nets["ltc-regtest"].resolved(env))
    assert bsv.can(Capability.FORK_SIGNING) and bch.can(Capability.FORK_SIGNING)
    assert not ltc.can(Capability.FORK_SIGNING)
    assert ltc.can(Capability.NATIVE_SWEEP) and bsv.can(Capability.OFFLINE_EXPORT)


# -- on the Bitcoin SV node ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bsv() -> BsvNode:
    node = start_bsvd()  # raises (test error, not skip) when the node is missing or fails
    yield node
    node.stop()


@pytest.fixture(scope="module")
def net(bsv):
    env = {"BSV_REGTEST_URL": bsv.url, "BSV_REGTEST_FEE_COLLECTOR": bsv.new_address(),
           "BSV_REGTEST_HOT_WALLET": bsv.new_address()}
    return load_network_file(ROOT / "chain_configs" / "bsv-regtest.toml").resolved(env)


@pytest.fixture(scope="module")
def chain(net) -> UtxoAdapter:
    return UtxoAdapter(net)


def deposit():
    path = PATH.format(i=next(_counter))
    key, address = derive_utxo_key(MNEMONIC, path, NETWORK)
    assert address[0] in "mn"
    return path, key, address


key_for_path = keys_for("utxo", MNEMONIC, NETWORK)


def quote(chain, net, txid, vout, amount, address, path, destination, *, fee_total):
    """Like the service: estimate with a provisional split, then the real amounts."""
    provisional = SweepRequest(case_id=1, deposit_address=address, deposit_path=path, asset=NATIVE, decimals=8,
                               gross=amount, net=amount - 1, fee_total=1, destination=destination,
                               fee_collector=net.fee_collector, gas_station_path=None, cost_mode="deduct",
                               outputs=({"txid": txid, "index": vout, "amount": str(amount)},))
    cost = chain.estimate_cost(provisional)
    return replace(provisional, net=amount - fee_total - cost.native_cost, fee_total=fee_total), cost


def test_forkid_sweep_on_bitcoin_sv(bsv, net, chain):
    path, key, address = deposit()
    amount, other_amount = 50_000_000, 30_000_000
    txid, vout = bsv.fund(address, amount, mine=False)
    other_txid, other_vout = bsv.fund(address, other_amount)  # mines both

    obs = chain.observe([txid])[txid]
    assert obs.found and obs.success and obs.confirmations == 1 and obs.block_number == bsv.height()
    mine_out = [t for t in obs.transfers if t.index == vout]
    assert mine_out == [Transfer(vout, NATIVE, obs.sender, address, amount)]
    (proof,) = chain.prove_each([(obs, mine_out[0])])
    assert isinstance(proof, UtxoBalanceProof) and (proof.before, proof.after, proof.now) == (0, amount, amount)
    assert proof.details["script_type"] == "p2pkh"

    destination = bsv.new_address()
    fee_total = 1_000_000
    req, cost = quote(chain, net, txid, vout, amount, address, path, destination, fee_total=fee_total)
    assert cost.params["fork_id"] is True and cost.params["fee_rate_source"] == "floor"  # BSV: no estimatesmartfee
    plan = chain.prepare(req, cost)
    step = plan.steps[0]
    assert step.tx["fork_id"] is True and plan.meta["fork_id"] is True
    assert [(i["txid"], i["vout"]) for i in step.tx["inputs"]] == [(txid, vout)]  # never the other output

    raws = chain.sign(plan, key_for_path)
    raw = raws[0]
    sig_push = bytes(parse_raw(raw).inputs[0].unlocking_script)
    assert sig_push[sig_push[0]] == SIGHASH_ALL_FORKID  # the signature's hash type byte
    sweep_txid = chain.txid_of(raw)
    assert sweep_txid == bsv.rpc("decoderawtransaction", [raw])["txid"]
    assert chain.check_signed(plan, raws) == [sweep_txid]  # the offline-import check works on BSV too
    assert chain.broadcast(raw) == sweep_txid
    assert chain.broadcast(raw) == sweep_txid  # idempotent in the mempool
    bsv.mine(1)
    assert chain.broadcast(raw) == sweep_txid  # idempotent once mined
    st = chain.tx_status(sweep_txid)
    assert st.success and st.confirmations == 1

    # the node agrees, to the base unit
    tx = bsv.rpc("getrawtransaction", [sweep_txid, True])
    assert len(tx["vin"]) == 1 and len(tx["vout"]) == 2
    assert bsv.paid_to(sweep_txid, destination) == req.net
    assert bsv.paid_to(sweep_txid, net.fee_collector) == fee_total
    assert amount - req.net - fee_total == cost.native_cost == int(step.tx["fee"])
    assert bsv.txout(txid, vout) is None  # spent
    other = bsv.txout(other_txid, other_vout)  # untouched
    assert other is not None and chain._units(other["value"]) == other_amount
    (proof,) = chain.prove_each([(obs, mine_out[0])])
    assert proof.now == 0
    with pytest.raises(PermanentChainError) as exc:
        chain.prepare(req, cost)
    assert exc.value.code == "funds_missing"


def test_node_enforces_forkid(bsv, net, chain):
    path, key, address = deposit()
    amount = 20_000_000
    txid, vout = bsv.fund(address, amount)
    req, cost = quote(chain, net, txid, vout, amount, address, path, bsv.new_address(), fee_total=100_000)
    plan = chain.prepare(req, cost)
    tx = plan.steps[0].tx

    # a plain Bitcoin signature (SIGHASH_ALL, legacy digest) of the very same transaction
    legacy = sign_with_bitcoinlib(tx, key, NETWORK)
    assert txid_of_raw(legacy) != txid_of_raw(chain.sign(plan, key_for_path)[0])
    with pytest.raises(NodeRPCError) as rejected:
        bsv.rpc("sendrawtransaction", [legacy])
    assert "Signature must use SIGHASH_FORKID" in rejected.value.message  # consensus, not policy
    with pytest.raises(PermanentChainError) as exc:  # and the adapter's node check (verifyscript) says no
        chain._testmempoolaccept(legacy, tx)
    assert exc.value.code == "simulation_failed" and "SIGHASH_FORKID" in str(exc.value)
    # a FORKID signature over another spent value is refused too (the value is committed to)
    wrong_value = sign_p2pkh_forkid(tx["unsigned_hex"], [amount + 1], key.secret)
    with pytest.raises(NodeRPCError) as rejected:
        bsv.rpc("sendrawtransaction", [wrong_value])
    assert rejected.value.code == -26 and "mandatory-script-verify-flag-failed" in rejected.value.message
    with pytest.raises(SweepRefused) as refused:
        chain.check_signed(plan, [wrong_value])
    assert refused.value.code == "signed_invalid"
    assert bsv.txout(txid, vout) is not None  # nothing was spent

    # refusals: another key, a non-P2PKH input, a plan of a non-fork network
    with pytest.raises(SignerMismatch) as mismatch:
        chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, p.replace("/0/", "/1/"), NETWORK)[0])
    assert mismatch.value.code == "signer_mismatch"
    segwit = replace(plan, steps=(replace(plan.steps[0], tx={
        **tx, "inputs": [{**tx["inputs"][0], "script_type": "p2wpkh"}]}),))
    with pytest.raises(SweepRefused) as exc:
        chain.sign(segwit, key_for_path)
    assert exc.value.code == "unsupported_script_type"
    not_fork = replace(plan, steps=(replace(plan.steps[0], tx={**tx, "fork_id": False}),))
    with pytest.raises(SweepRefused) as exc:
        chain.sign(not_fork, key_for_path)
    assert exc.value.code == "plan_wrong_chain"

    # and the FORKID-signed sweep of the same plan is accepted and mined
    raw = chain.sign(plan, key_for_path)[0]
    assert chain.broadcast(raw) == txid_of_raw(raw)
    bsv.mine(1)
    assert chain.tx_status(txid_of_raw(raw)).confirmations == 1
    assert bsv.txout(txid, vout) is None
