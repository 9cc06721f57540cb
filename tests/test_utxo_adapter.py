"""UTXO adapter on a real Litecoin Core 0.21 regtest node (Debian's litecoind).

The node is started once per session (tests.utxo_devnet); if it cannot start the tests FAIL.
Every address type (P2PKH, P2SH-P2WPKH, P2WPKH) is funded, observed, proven, quoted, prepared,
signed with keys derived from a test mnemonic, broadcast, mined, and checked against the node to
the base unit; refusals and the PSBT round trip are covered too.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chains.utxo_networks  # noqa: E402,F401  (before any address validation)
from chains.base import NATIVE, CostEstimate, SweepRequest, Transfer  # noqa: E402
from chains.config import load_networks  # noqa: E402
from chains.errors import ChainError, PermanentChainError, SignerMismatch, SweepRefused  # noqa: E402
from chains.utxo import (UtxoAdapter, UtxoBalanceProof, fee_is_folded, finalize_psbt, parse_psbt,  # noqa: E402
                         parse_tx, tx_vsize, txid_of_raw)
from chains.utxo_keys import derive_utxo_key, script_type_for_path  # noqa: E402
from utxo_devnet import LitecoinNode, start_litecoind  # noqa: E402

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


def key_for_path(path: str):
    return derive_utxo_key(MNEMONIC, path, NETWORK)[0]


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
    with pytest.raises(ValueError):
        script_type_for_path("m/86'/0'/0'/0/0")


def test_bip_vectors_and_regtest_addresses():
    m = "abandon " * 11 + "about"
    assert derive_utxo_key(m, "m/84'/0'/0'/0/0", "bitcoin")[1] == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert derive_utxo_key(m, "m/49'/0'/0'/0/0", "bitcoin")[1] == "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
    assert derive_utxo_key(m, "m/44'/0'/0'/0/0", "bitcoin")[1] == "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
    key, addr = derive_utxo_key(m, "m/84'/1'/0'/0/0", NETWORK)
    assert addr.startswith("rltc1q") and "secret" not in repr(key) and key.wif() not in repr(key)
    assert derive_utxo_key(m, "m/44'/5'/0'/0/0", "dash")[1].startswith("X")
    from chains.utxo_keys import derive_utxo_key_for_address

    for path in ("m/44'/1'/0'/0/3", "m/49'/1'/0'/0/3", "m/84'/1'/0'/0/3"):
        k, a = derive_utxo_key(m, path, NETWORK)
        assert derive_utxo_key_for_address(m, path, a).address == a
    with pytest.raises(ValueError):
        derive_utxo_key_for_address(m, "m/84'/1'/0'/0/4", a)


def test_vsize_bounds():
    p2wpkh, p2pkh = bytes(22), bytes(25)
    assert tx_vsize(["p2pkh"], [p2wpkh, p2pkh]) == 224
    assert tx_vsize(["p2sh-p2wpkh"], [p2wpkh, p2pkh]) == 167
    assert tx_vsize(["p2wpkh"], [p2wpkh, p2pkh]) == 144


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
    assert obs.sender is not None  # the first input's address (the node wallet's)

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
    assert amount - sum(chain._units(o["value"]) for o in tx["vout"]) == cost.native_cost
    assert txout(ltc, txid, vout) is None  # spent
    other = txout(ltc, other_txid, other_vout)  # untouched
    assert other is not None and chain._units(other["value"]) == other_amount
    assert [u["amount"] for u in ltc.unspent_at(address)] == [other_amount]

    # already spent: now = 0, the service refuses funds_gone; recheck says the funds moved
    (proof,) = chain.prove_each([(obs, mine_out[0])])
    assert proof.now == 0
    from recover.classify import Registration, decide

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
    from recover.classify import check_transaction

    assert check_transaction(obs, net).code == "unconfirmed"
    with pytest.raises(PermanentChainError) as exc:
        quote(chain, net, txid, vout, 20_000_000, address, path, ltc.new_address(), fee_total=100_000)
    assert exc.value.code == "unconfirmed"
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
    with pytest.raises(SignerMismatch):
        chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, p.replace("/0/", "/1/"), NETWORK)[0])
    with pytest.raises(SignerMismatch):  # a WIF of another key
        chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, "m/84'/1'/9'/0/0", NETWORK)[0].wif())
    # the same secret as WIF works whatever script type its derivation path named
    assert chain.sign(plan, lambda p: derive_utxo_key(MNEMONIC, p, NETWORK, script_type="p2pkh")[0].wif())
    # a signed transaction that differs from the plan is refused
    raw = chain.sign(plan, key_for_path)[0]
    tampered = parse_tx(raw)
    assert tampered["txid"] == txid_of_raw(raw)
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
    psbt = chain.export_psbt(plan)
    decoded = ltc.rpc("decodepsbt", [psbt])
    assert decoded["tx"]["txid"] == plan.steps[0].tx["unsigned_txid"]
    assert parse_psbt(psbt)["tx"] == plan.steps[0].tx["unsigned_hex"]

    wallet = f"offline{next(_counter)}"
    ltc.rpc("createwallet", [wallet, False, True])  # no keys of its own
    ltc.rpc("importprivkey", [key.wif(), "", False], wallet=wallet)
    signed = ltc.rpc("walletprocesspsbt", [psbt, True, "ALL"], wallet=wallet)
    assert signed["complete"]
    raw = finalize_psbt(signed["psbt"])
    assert raw == ltc.rpc("finalizepsbt", [signed["psbt"]])["hex"]
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
    assert "secretpw" not in str(exc.value)
