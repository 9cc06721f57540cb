"""UTXO adapter on a real Litecoin Core 0.21 regtest node (Debian's litecoind).

The node is started once per module (tests.bitcoind_devnet); if it cannot start the tests FAIL.
Every address type (P2PKH, P2SH-P2WPKH, P2WPKH) is funded, observed, proven, quoted, prepared,
signed with keys derived from a test mnemonic, broadcast, mined, and checked against the node to
the base unit; refusals and the PSBT round trip are covered too.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from bitcoind_devnet import LitecoinNode, start_litecoind  # noqa: E402
from chains.base import NATIVE, Capability, DerivedKey, StepView, SweepRequest, Transfer  # noqa: E402
from chains.config import load_networks  # noqa: E402
from chains.errors import (  # noqa: E402
    ChainError,
    InvalidRequest,
    NetworkConfigError,
    NotFoundOnChain,
    PermanentChainError,
    SignerMismatch,
    SweepRefused,
)
from chains.keys import mnemonic_seed  # noqa: E402
from chains.utxo.adapter import UtxoAdapter, UtxoBalanceProof, fee_is_folded  # noqa: E402
from chains.utxo.keys import derive_utxo_key, script_type_for_path  # noqa: E402
from chains.utxo.psbt import finalize_psbt, psbt_unsigned_hex  # noqa: E402
from chains.utxo.tx import parse_raw, txid_of_raw, worst_case_vsize  # noqa: E402
from derive import key_for_path as keys_for
from paths import REPO

MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
NETWORK = "litecoin_regtest"
PATHS = {
    "p2pkh": "m/44'/1'/0'/0/{i}",
    "p2sh-p2wpkh": "m/49'/1'/0'/0/{i}",
    "p2wpkh": "m/84'/1'/0'/0/{i}",
}
NODE_TYPE = {"p2pkh": "p2pkh", "p2sh-p2wpkh": "p2sh", "p2wpkh": "p2wpkh"}
_counter = iter(range(1000))


@pytest.fixture(scope="module")
def ltc() -> LitecoinNode:
    node = start_litecoind()  # raises (test error, not skip) when litecoind is missing or fails
    yield node
    node.stop()


@pytest.fixture(scope="module")
def net(ltc):
    env = {"LTC_REGTEST_URL": ltc.url, "LTC_REGTEST_FEE_COLLECTOR": ltc.new_address("legacy"),
           "LTC_REGTEST_HOT_WALLET": ltc.new_address("bech32")}
    return load_networks()["ltc-regtest"].resolved(env)


@pytest.fixture(scope="module")
def chain(net) -> UtxoAdapter:
    return UtxoAdapter(net)


def deposit(script_type: str):
    path = PATHS[script_type].format(i=next(_counter))
    key, address = derive_utxo_key(MNEMONIC, path, NETWORK)
    return path, key, address


key_for_path = keys_for("utxo", MNEMONIC, NETWORK)


def request_for(obs_txid: str, vout: int, amount: int, address: str, path: str, destination: str, net, *,
                net_amount: int, fee_total: int, script_type: str | None = None, extra=()) -> SweepRequest:
    outputs = ({"txid": obs_txid, "index": vout, "amount": str(amount),
                **({"script_type": script_type} if script_type else {})}, *extra)
    gross = sum(int(o["amount"]) for o in outputs)
    return SweepRequest(case_id=1, deposit_address=address, deposit_path=path, asset=NATIVE, decimals=8,
                        gross=gross, net=net_amount, fee_total=fee_total, destination=destination,
                        fee_collector=net.fee_collector, gas_station_path=None, cost_mode="deduct",
                        outputs=outputs)


def quote(chain, net, txid, vout, amount, address, path, destination, *, fee_total, extra=()):
    """Like the service: estimate with a provisional split, then the real amounts."""
    provisional = request_for(txid, vout, amount, address, path, destination, net, net_amount=amount - 1,
                              fee_total=1, extra=extra)
    cost = chain.estimate_cost(provisional)
    gross = provisional.gross
    req = replace(provisional, net=gross - fee_total - cost.native_cost, fee_total=fee_total)
    return req, cost


def txout(ltc, txid, vout):
    return ltc.txout(txid, vout)


# -- pure pieces ----------------------------------------------------------------------------------------
def test_script_type_for_path():
    assert script_type_for_path("m/44'/2'/0'/0/7") == "p2pkh"
    assert script_type_for_path("m/49'/2'/0'/0/7") == "p2sh-p2wpkh"
    assert script_type_for_path("m/84h/2h/0h/0/7") == "p2wpkh"
    with pytest.raises(ValueError, match="purpose must be 44', 49' or 84'"):
        script_type_for_path("m/86'/0'/0'/0/0")


def test_bip_vectors_and_regtest_addresses():
    m = "abandon " * 11 + "about"
    assert derive_utxo_key(m, "m/84'/0'/0'/0/0", "bitcoin")[1] == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert derive_utxo_key(m, "m/49'/0'/0'/0/0", "bitcoin")[1] == "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
    assert derive_utxo_key(m, "m/44'/0'/0'/0/0", "bitcoin")[1] == "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
    key, addr = derive_utxo_key(m, "m/84'/1'/0'/0/0", NETWORK)
    assert addr.startswith("rltc1q") and "secret" not in repr(key) and key.wif() not in repr(key)
    assert derive_utxo_key(m, "m/44'/5'/0'/0/0", "dash")[1].startswith("X")
    from chains.utxo.keys import derive_utxo_key_for_address

    for path in ("m/44'/1'/0'/0/3", "m/49'/1'/0'/0/3", "m/84'/1'/0'/0/3"):
        k, a = derive_utxo_key(m, path, NETWORK)
        assert derive_utxo_key_for_address(m, path, a).address == a
    with pytest.raises(ValueError, match="does not control"):
        derive_utxo_key_for_address(m, "m/84'/1'/0'/0/4", a)


def test_derive_key_from_seed_follows_the_path_purpose(net, chain):
    """The contract's ``derive_key`` takes the BIP-39 seed (one mnemonic path for every family)."""
    m = "abandon " * 11 + "about"
    seed = mnemonic_seed(m)
    btc = UtxoAdapter(net.model_copy(update={"utxo": net.utxo.model_copy(update={"address_network": "bitcoin"})}))
    assert btc.derive_key(seed, "m/84'/0'/0'/0/0").address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert btc.derive_key(seed, "m/49'/0'/0'/0/0").address == "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
    assert btc.derive_key(seed, "m/44'/0'/0'/0/0").address == "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
    dk = chain.derive_key(seed, "m/84'/1'/0'/0/0")
    assert isinstance(dk, DerivedKey) and dk.address == derive_utxo_key(m, "m/84'/1'/0'/0/0", NETWORK)[1]
    assert dk.key.secret.hex() not in repr(dk)
    from chains.keys import SeedError

    with pytest.raises(SeedError) as exc:
        chain.derive_key(seed, "m/86'/1'/0'/0/0")
    assert exc.value.code == "bad_path" and exc.value.exit_code == 4
    raw = chain.key_from_secret(dk.key.secret)
    assert raw.address == dk.address and raw.key.secret == dk.key.secret  # P2WPKH on a segwit network


def test_vsize_rule_is_an_upper_bound_of_real_signatures():
    """The worst-case rule (bitcoinlib's serialization with 73-byte signature pushes) against sizes
    computed by hand from BIP-141, and against transactions really signed by bitcoinlib."""
    from chains.utxo.sign import sign_with_bitcoinlib
    from chains.utxo.tx import output_script

    def by_hand(n_in, per_in_base, per_in_wit, outs):  # BIP-141 weight from byte counts
        base = 4 + 1 + n_in * per_in_base + 1 + sum(8 + 1 + len(s) for s in outs) + 4
        wit = (2 + n_in * per_in_wit) if per_in_wit else 0
        return -(-(4 * base + wit) // 4)

    outs = [bytes(22), bytes(25)]
    assert worst_case_vsize(["p2pkh"], outs) == by_hand(1, 40 + 1 + 74 + 34, 0, outs)
    assert worst_case_vsize(["p2sh-p2wpkh"], outs) == by_hand(1, 40 + 1 + 23, 1 + 74 + 34, outs)
    assert worst_case_vsize(["p2wpkh"] * 3, outs) == by_hand(3, 40 + 1, 1 + 74 + 34, outs)
    for st, path in (("p2pkh", "m/44'/1'/0'/0/500"), ("p2sh-p2wpkh", "m/49'/1'/0'/0/500"),
                     ("p2wpkh", "m/84'/1'/0'/0/500")):
        key, address = derive_utxo_key(MNEMONIC, path, NETWORK)
        script = output_script(address, NETWORK)[0]
        for n_in in (1, 3):
            doc = {"version": 2, "locktime": 0, "outputs": [{"amount": "1000", "script_pubkey": script.hex()}],
                   "inputs": [{"txid": f"{k + 1:064x}", "vout": k, "amount": "5000", "address": address,
                               "script_type": st, "sequence": 0xFFFFFFFF} for k in range(n_in)]}
            real = parse_raw(sign_with_bitcoinlib(doc, key, NETWORK), NETWORK)
            real_vsize = -(-(3 * len(real.raw(witness_type="legacy")) + len(real.raw())) // 4) \
                if st != "p2pkh" else len(real.raw())
            bound = worst_case_vsize([st] * n_in, [script], network=NETWORK)
            assert real_vsize <= bound <= real_vsize + 2 * n_in  # at most two bytes per signature above


def test_vsize_bounds():
    p2wpkh, p2pkh = bytes(22), bytes(25)
    assert worst_case_vsize(["p2pkh"], [p2wpkh, p2pkh]) == 224
    assert worst_case_vsize(["p2sh-p2wpkh"], [p2wpkh, p2pkh]) == 167
    assert worst_case_vsize(["p2wpkh"], [p2wpkh, p2pkh]) == 144
    with pytest.raises(ValueError, match="cannot spend a p2tr input"):
        worst_case_vsize(["p2tr"], [p2wpkh])


# -- on the node ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script_type", ["p2pkh", "p2sh-p2wpkh", "p2wpkh"])
def test_sweep_each_address_type(ltc, net, chain, script_type):
    path, key, address = deposit(script_type)
    amount, other_amount = 50_000_000, 30_000_000
    txid, vout = ltc.fund(address, amount, mine=False)
    other_txid, other_vout = ltc.fund(address, other_amount)  # mines both
    ltc.mine(1)

    obs = chain.observe([txid])[txid]
    assert obs.found and obs.success and obs.confirmations == 2 and obs.block_number == ltc.height() - 1
    assert obs.block_hash == ltc.rpc("getblockhash", [obs.block_number])
    mine_out = [t for t in obs.transfers if t.index == vout]
    assert mine_out == [Transfer(vout, NATIVE, obs.sender, address, amount)]
    first_in = ltc.rpc("getrawtransaction", [txid, True])["vin"][0]
    prev_out = ltc.rpc("getrawtransaction", [first_in["txid"], True])["vout"][first_in["vout"]]
    assert obs.sender == prev_out["scriptPubKey"]["addresses"][0]  # the first input's address (the node's)

    (proof,) = chain.prove_each([(obs, mine_out[0])])
    assert isinstance(proof, UtxoBalanceProof)
    assert (proof.before, proof.after, proof.now, proof.received) == (0, amount, amount, amount)
    assert proof.decimals == 8 and proof.recipient_has_code is False
    assert proof.details["script_type"] == NODE_TYPE[script_type]

    destination = ltc.new_address("bech32")
    fee_total = 1_000_000
    req, cost = quote(chain, net, txid, vout, amount, address, path, destination, fee_total=fee_total)
    assert cost.params["fee_rate"] == "1" and cost.params["fee_rate_source"] == "floor"
    assert cost.native_cost == int(cost.params["fee_rate"]) * cost.params["vsize"]
    assert not fee_is_folded(cost.params, fee_total)
    assert chain.recheck_deposit(txid=txid, block_number=obs.block_number, block_hash=obs.block_hash,
                                 recipient=address, asset=NATIVE, amount=amount) is None

    plan = chain.prepare(req, cost)
    assert plan.native_cost == cost.native_cost and len(plan.steps) == 1
    step = plan.steps[0]
    assert step.role == "sweep" and step.signer_address == address and step.simulation["ok"]
    assert [(i["txid"], i["vout"]) for i in step.tx["inputs"]] == [(txid, vout)]  # never the other output
    assert plan.meta["fee_folded"] is False and int(step.tx["fee"]) == cost.native_cost
    assert SweepPlanRoundTrip(plan)

    (row,) = chain.describe_plan(plan)
    assert isinstance(row, StepView) and row.signer == address and row.role == "sweep"
    assert [(m["to"], m["amount"], m["what"]) for m in row.moves] == [
        (destination, str(req.net), "net to the destination"), (net.fee_collector, str(fee_total), "fee to the fee collector"),
        ("miners", str(cost.native_cost), "network fee")]
    assert row.detail["inputs"] == [f"{txid}:{vout}"] and row.detail["fee_rate"] == "1"
    assert chain.signing_keys(plan) == {path: address}

    plan = chain.simulate(plan)
    raws = chain.sign(plan, key_for_path)
    assert len(raws) == 1
    sweep_txid = chain.txid_of(raws[0])
    assert sweep_txid == ltc.rpc("decoderawtransaction", [raws[0]])["txid"]
    assert chain.broadcast(raws[0]) == sweep_txid
    assert chain.broadcast(raws[0]) == sweep_txid  # idempotent in the mempool
    st = chain.tx_status(sweep_txid)
    assert st.found and st.block_number is None and st.confirmations == 0
    ltc.mine(1)
    assert chain.broadcast(raws[0]) == sweep_txid  # idempotent once mined
    st = chain.tx_status(sweep_txid)
    assert st.success and st.confirmations == 1

    # the node agrees, to the base unit
    assert ltc.balance_at(destination) == req.net
    fee_out = txout(ltc, sweep_txid, 1)
    assert fee_out["scriptPubKey"]["addresses"] == [net.fee_collector]
    assert chain._units(fee_out["value"]) == fee_total
    tx = ltc.rpc("getrawtransaction", [sweep_txid, True])
    assert len(tx["vout"]) == 2 and len(tx["vin"]) == 1
    # the network fee the node computes from the mined bytes, independently of the plan's arithmetic
    assert amount - sum(chain._units(o["value"]) for o in tx["vout"]) == cost.native_cost
    assert tx["vsize"] <= cost.params["vsize"] and cost.native_cost == 1 * cost.params["vsize"]
    assert tx["vsize"] >= cost.params["vsize"] - 2  # the bound is tight: 72-byte DER at most, 70 at least
    assert txout(ltc, txid, vout) is None  # spent
    other = txout(ltc, other_txid, other_vout)  # untouched
    assert other is not None and chain._units(other["value"]) == other_amount
    assert [u["amount"] for u in ltc.unspent_at(address)] == [other_amount]

    # already spent: now = 0, the service refuses funds_gone; recheck says the funds moved
    (proof,) = chain.prove_each([(obs, mine_out[0])])
    assert proof.now == 0
    from recover.casework.classify import Registration, decide

    d = decide(net, obs, [proof], Registration(net.key, "retired", path, "acct"), [])
    assert d.outcome == "refused" and d.code == "funds_gone"
    assert "spent" in chain.recheck_deposit(txid=txid, block_number=obs.block_number, block_hash=obs.block_hash,
                                            recipient=address, asset=NATIVE, amount=amount)
    with pytest.raises(PermanentChainError) as exc:
        chain.prepare(req, cost)
    assert exc.value.code == "funds_missing"


def SweepPlanRoundTrip(plan) -> bool:
    from chains.base import SweepPlan

    return SweepPlan.from_dict(plan.to_dict()) == plan


def test_two_outputs_one_case_and_folded_fee(ltc, net, chain):
    """A case with two outputs of one transaction to the deposit; a fee below dust is folded."""
    path, key, address = deposit("p2wpkh")
    txid = ltc.wallet_rpc("sendmany", ["", {address: "0.2", ltc.new_address(): "0.1"}])
    ltc.mine(1)
    txid2, vout2 = ltc.fund(address, 10_000_000)
    tx = ltc.rpc("getrawtransaction", [txid, True])
    vout = next(o["n"] for o in tx["vout"] if o["scriptPubKey"]["addresses"] == [address])
    obs = chain.observe([txid, txid2])
    items = [(obs[txid], next(t for t in obs[txid].transfers if t.index == vout)),
             (obs[txid2], next(t for t in obs[txid2].transfers if t.index == vout2))]
    proofs = chain.prove_each(items)
    assert [p.now for p in proofs] == [20_000_000, 10_000_000]

    destination = ltc.new_address("legacy")
    extra = ({"txid": txid2, "index": vout2, "amount": "10000000"},)
    req, cost = quote(chain, net, txid, vout, 20_000_000, address, path, destination, fee_total=1000, extra=extra)
    assert req.gross == 30_000_000 and fee_is_folded(cost.params, 1000)
    plan = chain.prepare(req, cost)
    assert plan.meta["fee_folded"] is True and plan.meta["folded_fee"] == "1000"
    step = plan.steps[0]
    assert len(step.tx["outputs"]) == 1 and int(step.tx["fee"]) == cost.native_cost + 1000
    (row,) = chain.describe_plan(plan)
    assert "fee folded into the network fee" in row.summary and row.detail["folded_fee"] == "1000"
    assert [(m["what"], m["amount"]) for m in row.moves] == [("net to the destination", str(req.net)),
                                                            ("network fee", str(cost.native_cost + 1000))]
    assert row.detail["inputs"] == [f"{txid}:{vout}", f"{txid2}:{vout2}"]
    raw = chain.sign(plan, key_for_path)[0]
    chain.broadcast(raw)
    ltc.mine(1)
    assert ltc.balance_at(destination) == req.net
    assert ltc.unspent_at(address) == []


def test_refusals(ltc, net, chain):
    # unconfirmed: 0 confirmations -> not final yet (retry), and prepare refuses
    path, key, address = deposit("p2wpkh")
    txid, vout = ltc.fund(address, 20_000_000, mine=False)
    obs = chain.observe([txid])[txid]
    assert obs.found and obs.block_number is None and obs.confirmations == 0
    from recover.casework.classify import check_transaction

    assert check_transaction(obs, net).code == "unconfirmed"
    with pytest.raises(PermanentChainError) as exc:
        quote(chain, net, txid, vout, 20_000_000, address, path, ltc.new_address(), fee_total=100_000)
    assert exc.value.code == "output_unconfirmed"
    ltc.mine(1)

    # below dust: an unrecoverable output, refused item by item
    dust_txid, dust_vout = ltc.fund(address, 5000)
    obs2 = chain.observe([dust_txid])[dust_txid]
    res = chain.prove_each([(obs2, next(t for t in obs2.transfers if t.index == dust_vout)),
                            (obs, next(t for t in chain.observe([txid])[txid].transfers if t.index == vout))])
    assert isinstance(res[0], PermanentChainError) and res[0].code == "below_dust"
    assert not isinstance(res[1], ChainError) and res[1].now == 20_000_000

    # unknown / malformed transactions
    missing = "ab" * 32
    got = chain.observe([missing, "nope"])
    assert got[missing].found is False and got["nope"].failure_reason == "malformed txid"

    # amounts that do not add up, a key for another address
    destination = ltc.new_address()
    req, cost = quote(chain, net, txid, vout, 20_000_000, address, path, destination, fee_total=100_000)
    with pytest.raises(SweepRefused) as exc:
        chain.prepare(replace(req, net=req.net + 1), cost)
    assert exc.value.code == "amounts_mismatch"
    with pytest.raises(SweepRefused) as exc:
        chain.prepare(replace(req, outputs=({**req.outputs[0], "amount": "19999999"},)), cost)
    assert exc.value.code == "amounts_mismatch"
    plan = chain.prepare(req, cost)
    with pytest.raises(SignerMismatch) as mismatch:
        chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, p.replace("/0/", "/1/"), NETWORK)[0])
    assert mismatch.value.code == "signer_mismatch" and mismatch.value.details["expected"] == address
    with pytest.raises(SignerMismatch) as mismatch:  # a WIF of another key
        chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, "m/84'/1'/9'/0/0", NETWORK)[0].wif())
    assert mismatch.value.code == "signer_mismatch"
    # the same secret as WIF works whatever script type its derivation path named
    assert chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, p, NETWORK, script_type="p2pkh")[0].wif())
    # a signed transaction that differs from the plan is refused
    raw = chain.sign(plan, key_for_path)[0]
    assert txid_of_raw(raw) == ltc.rpc("decoderawtransaction", [raw])["txid"]
    with pytest.raises(SweepRefused) as exc:  # trailing bytes
        chain.check_signed(plan, [raw + "00"])
    assert exc.value.code == "signed_differs"
    with pytest.raises(SweepRefused) as exc:  # the unsigned transaction itself
        chain.check_signed(plan, [plan.steps[0].tx["unsigned_hex"]])
    assert exc.value.code == "signed_differs" and exc.value.details["reason"] == "it is not signed"
    with pytest.raises(SweepRefused) as exc:  # a broken signature
        chain.check_signed(plan, [raw[:-20] + "00" * 10])
    assert exc.value.code == "signed_invalid"
    other_plan = chain.prepare(replace(req, destination=ltc.new_address()), cost)
    other_raw = chain.sign(other_plan, key_for_path)[0]
    with pytest.raises(SweepRefused) as exc:  # validly signed, but not what was approved
        chain.check_signed(plan, [other_raw])
    assert exc.value.code == "signed_differs"
    assert chain.check_signed(plan, [raw]) == [txid_of_raw(raw)]


@pytest.mark.parametrize("script_type", ["p2pkh", "p2sh-p2wpkh", "p2wpkh"])
def test_psbt_round_trip(ltc, net, chain, script_type):
    """Export the PSBT, sign it in another wallet that holds only the deposit key (the node's
    walletprocesspsbt), import: checked against the plan, then broadcast and mined."""
    path, key, address = deposit(script_type)
    txid, vout = ltc.fund(address, 40_000_000)
    destination = ltc.new_address("p2sh-segwit")
    req, cost = quote(chain, net, txid, vout, 40_000_000, address, path, destination, fee_total=2_000_000)
    plan = chain.prepare(req, cost)
    doc = chain.export_unsigned(plan)
    assert doc["format"] == "psbt"
    psbt = doc["psbt"]
    decoded = ltc.rpc("decodepsbt", [psbt])
    assert decoded["tx"]["txid"] == plan.steps[0].tx["unsigned_txid"]
    assert psbt_unsigned_hex(psbt) == plan.steps[0].tx["unsigned_hex"]
    if script_type == "p2pkh":
        assert "non_witness_utxo" in decoded["inputs"][0] and "witness_utxo" not in decoded["inputs"][0]
    else:
        assert decoded["inputs"][0]["witness_utxo"]["scriptPubKey"]["hex"] == plan.steps[0].tx["inputs"][0]["script_pubkey"]
    assert decoded["inputs"][0]["sighash"] == "ALL"
    with pytest.raises(InvalidRequest) as bad:  # not signed yet: not finalized
        chain.signed_from_document({"psbt": psbt})
    assert bad.value.code == "bad_file"

    wallet = f"offline{next(_counter)}"
    ltc.rpc("createwallet", [wallet, False, True])  # no keys of its own
    ltc.rpc("importprivkey", [key.wif(), "", False], wallet=wallet)
    signed = ltc.rpc("walletprocesspsbt", [psbt, True, "ALL"], wallet=wallet)
    assert signed["complete"]
    raw = finalize_psbt(signed["psbt"])
    assert raw == ltc.rpc("finalizepsbt", [signed["psbt"]])["hex"]
    assert chain.signed_from_document({"psbt": signed["psbt"]}) == [raw]
    assert chain.signed_from_document({"signed": [raw]}) == [raw]
    for bad_doc in ({"psbt": "bm90IGEgcHNidA=="}, {"signed": "abc"}, {}):
        with pytest.raises(InvalidRequest) as bad:
            chain.signed_from_document(bad_doc)
        assert bad.value.code == "bad_file" and bad.value.exit_code == 4
    assert chain.check_signed(plan, [raw]) == [txid_of_raw(raw)]
    assert chain.broadcast(raw) == txid_of_raw(raw)
    ltc.mine(1)
    assert ltc.balance_at(destination) == req.net
    assert txout(ltc, txid, vout) is None


def test_node_unreachable_is_retryable(net):
    from chains.errors import RetryableChainError

    dead = net.model_copy(update={"rpc_urls": ("http://u:secretpw@127.0.0.1:9",)})
    with pytest.raises(RetryableChainError) as exc:
        UtxoAdapter(dead).observe(["ab" * 32])
    assert exc.value.exit_code == 8 and "secretpw" not in str(exc.value)


def test_node_errors_by_meaning(ltc, net, chain):
    """A node's error answer is never retryable: a wrong password is a config error (exit 4, the
    password not shown), an unknown transaction is not found, bad parameters are invalid (exit 4)."""
    wrong = net.model_copy(update={"rpc_urls": (ltc.url.replace(ltc.password, "wrongpassword123"),)})
    with pytest.raises(NetworkConfigError) as exc:
        UtxoAdapter(wrong).observe(["ab" * 32])
    assert exc.value.code == "rpc_unauthorized" and exc.value.exit_code == 4
    assert "wrongpassword123" not in str(exc.value) and ltc.password not in str(exc.value)
    with pytest.raises(NotFoundOnChain) as nf:
        chain._call("getrawtransaction", ["ab" * 32, True])
    assert nf.value.exit_code == 3 and nf.value.details["rpc_code"] == -5
    with pytest.raises(InvalidRequest) as inv:
        chain._call("getblockhash", [10**9])
    assert inv.value.exit_code == 4
    assert chain.broadcast is not None and chain.dust_limit == net.utxo_options.dust_limit
    assert chain.can(Capability.OWNERSHIP_PROOF) and not chain.can(Capability.FORK_SIGNING)


def test_ownership_proof_is_signmessage(ltc, chain):
    """``verify_ownership``: Bitcoin signmessage with Litecoin's magic, as the node signs it."""
    key, address = derive_utxo_key(MNEMONIC, "m/44'/1'/0'/0/700", NETWORK)
    message = "recover case 7: return to rltc1q..."
    signature = ltc.rpc("signmessagewithprivkey", [key.wif(), message])
    check = chain.verify_ownership(message, signature, address)
    assert (check.ok, check.scheme, check.signer) == (True, "signmessage", address)
    assert chain.verify_ownership(message + ".", signature, address).ok is False
    other = derive_utxo_key(MNEMONIC, "m/44'/1'/0'/0/701", NETWORK)[1]
    assert chain.verify_ownership(message, signature, other) == type(check)(False, "signmessage", None)
    assert chain.verify_ownership(message, "not base64!", address).ok is False


def test_no_work_at_import():
    """Importing the package and its modules loads no SDK and changes no bitcoinlib global; the first
    address check registers the networks, once."""
    import subprocess

    code = (
        "import sys\n"
        "import chains.utxo, chains.utxo.adapter, chains.utxo.keys, chains.utxo.forkid, chains.utxo.psbt\n"
        "assert not {'bitcoinlib', 'embit', 'bitcash'} & set(sys.modules), sorted(sys.modules)\n"
        "import bitcoinlib.networks as n\n"
        "assert 'litecoin_regtest' not in n.NETWORK_DEFINITIONS\n"
        "from chains.utxo.addresses import validate_utxo_address\n"
        "from chains.utxo.keys import derive_utxo_key\n"
        "a = derive_utxo_key('abandon ' * 11 + 'about', \"m/84'/1'/0'/0/0\", 'litecoin_regtest')[1]\n"
        "assert validate_utxo_address(a, 'litecoin_regtest') == a and 'litecoin_regtest' in n.NETWORK_DEFINITIONS\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_node_of_another_chain_is_a_configuration_error(ltc):
    """The litecoin (mainnet) network pointed at a regtest node: exit 4 naming the network and the
    setting, never a verification refusal, and never the RPC password."""
    from chains.errors import NetworkConfigError

    mainnet = load_networks()["litecoin"].resolved({
        "RECOVER_LITECOIN_RPC_URL": ltc.url, "RECOVER_LITECOIN_FEE_COLLECTOR": "ltc1qmcf4w2nhepse7f82rwpzdaxa70yzmydtqq2m9t",
        "RECOVER_LITECOIN_HOT_WALLET": "ltc1qmcf4w2nhepse7f82rwpzdaxa70yzmydtqq2m9t"})
    with pytest.raises(NetworkConfigError) as exc:
        UtxoAdapter(mainnet).observe(["00" * 32])
    assert exc.value.exit_code == 4 and exc.value.code == "wrong_chain"
    assert "litecoin" in str(exc.value) and "rpc_urls" in str(exc.value) and "regtest" in str(exc.value)
    from urllib.parse import urlsplit

    assert urlsplit(ltc.url).password not in str(exc.value)
