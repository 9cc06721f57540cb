"""Issue 6: UTXO cases through the installed ``recover`` command on a real Litecoin regtest node:
verify (outputs proven unspent), quote, prepare, approve, sign, broadcast, track; refusals."""

from __future__ import annotations

import pytest

from chains.utxo.keys import derive_utxo_key
from paths import REPO
from team import team
from utxoflow import MNEMONIC, NETWORK, cli, deposit_address, ltc, u, wallet_index  # noqa: F401  (fixtures and helpers)


@pytest.mark.parametrize("path_fmt", ["m/84'/1'/0'/0/{i}", "m/49'/1'/0'/0/{i}", "m/44'/1'/0'/0/{i}"],
                         ids=["p2wpkh", "p2sh-p2wpkh", "p2pkh"])
def test_full_life_leaves_other_coins_alone(u, path_fmt):
    w = u
    addr = deposit_address(w, path_fmt, status="retired")
    other_txid, other_vout = w.ltc.fund(addr, 7 * 10**7)      # another coin at the same address
    txid, vout = w.ltc.fund(addr, 3 * 10**8)
    user = w.ltc.new_address("bech32")
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", addr,
              "--return-address", user)["id"]
    doc = cli(w, "case", "verify", str(cid))
    assert doc["classification"] == "retired_address"
    assert [(f["deposit_index"], f["amount"]) for f in doc["facts"]] == [(vout, str(3 * 10**8))]
    cli(w, "prices", "set", "LTC", "80")
    quote = cli(w, "case", "quote", str(cid))
    net, fee, cost = int(quote["net"]), int(quote["fee"]), int(quote["network_cost_in_asset"])
    assert net + fee + cost == 3 * 10**8
    cli(w, "case", "prepare", str(cid))
    key = team().key("bob")
    assert cli(w, "queue", "approve", str(cid), "--key", str(key))["status"] == "approved"
    signed = cli(w, "case", "sign", str(cid))
    assert len(signed["transactions"]) == 1
    cli(w, "case", "broadcast", str(cid))
    w.ltc.mine(1)
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert w.ltc.balance_at(user) == net
    assert w.ltc.balance_at(w.collector) == fee
    assert w.ltc.txout(txid, vout) is None                   # the case's coin is spent
    assert w.ltc.txout(other_txid, other_vout) is not None   # the other coin is untouched


def test_refusals_with_exit_codes(u):
    w = u
    addr = deposit_address(w)
    user = w.ltc.new_address("bech32")
    # unconfirmed: stays open
    txid, _ = w.ltc.fund(addr, 10**8, mine=False)
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--return-address", user)["id"]
    assert cli(w, "case", "verify", str(cid), expect=9)["code"] == "unconfirmed"  # waiting, not refused
    assert cli(w, "case", "show", str(cid))["status"] == "open"
    w.ltc.mine(1)
    assert cli(w, "case", "verify", str(cid), expect=6)["code"] == "listed_asset"  # LTC to an active address
    # below dust
    dust_addr = deposit_address(w, status="retired")
    txid, _ = w.ltc.fund(dust_addr, 4000)  # relayable here, below the configured 5,460 dust limit
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", dust_addr,
              "--return-address", user)["id"]
    err = cli(w, "case", "verify", str(cid), expect=6)
    assert err["code"] == "below_dust"
    assert cli(w, "case", "show", str(cid))["status"] == "unrecoverable"
    # not ours
    stranger = derive_utxo_key(MNEMONIC, "m/84'/1'/7'/0/0", NETWORK)[1]
    txid, _ = w.ltc.fund(stranger, 10**8)
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", stranger,
              "--return-address", user)["id"]
    assert cli(w, "case", "verify", str(cid), expect=6)["code"] == "not_ours"
    # already spent: the coin was moved (by its key) before the case was verified
    spent_addr = deposit_address(w, status="retired")
    txid, vout = w.ltc.fund(spent_addr, 10**8)
    wif = derive_utxo_key(MNEMONIC, _path_of(w, spent_addr), NETWORK)[0].wif()
    raw = w.ltc.rpc("createrawtransaction", [[{"txid": txid, "vout": vout}], {user: "0.999"}])
    signed = w.ltc.rpc("signrawtransactionwithkey", [raw, [wif], [{"txid": txid, "vout": vout,
                       "scriptPubKey": w.ltc.txout(txid, vout)["scriptPubKey"]["hex"], "amount": "1.0"}]])
    assert signed["complete"], signed
    w.ltc.rpc("sendrawtransaction", [signed["hex"]])
    w.ltc.mine(1)
    assert w.ltc.txout(txid, vout) is None
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", spent_addr,
              "--return-address", user)["id"]
    assert cli(w, "case", "verify", str(cid), expect=6)["code"] == "funds_gone"
    assert cli(w, "case", "show", str(cid))["status"] == "unrecoverable"


def _path_of(w, address):
    import sqlalchemy as sa

    engine = sa.create_engine(w.db)
    with engine.connect() as conn:
        path = conn.execute(sa.text("SELECT derivation_path FROM deposit_addresses WHERE address = :a"),
                            {"a": address}).scalar()
    engine.dispose()
    return path


def test_psbt_offline_round_trip_and_differing_import(u):
    w = u
    addr = deposit_address(w, status="retired")
    txid, vout = w.ltc.fund(addr, 2 * 10**8)
    user = w.ltc.new_address("bech32")
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", addr,
              "--return-address", user)["id"]
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", "LTC", "80")
    quote = cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    key = team().key("bob")
    cli(w, "queue", "approve", str(cid), "--key", str(key))
    export = w.tmp / "plan.json"
    doc = cli(w, "case", "export", str(cid), "--out", str(export))
    assert doc["format"] == "psbt"
    import json

    exported = json.loads(export.read_text())
    # The offline signer: a separate wallet (in the node process) that holds only the deposit key.
    name = f"offline{next(wallet_index)}"
    w.ltc.rpc("createwallet", [name, False, True])
    wif = derive_utxo_key(MNEMONIC, _path_of(w, addr), NETWORK)[0].wif()
    w.ltc.rpc("importprivkey", [wif, "", False], wallet=name)
    # An import that differs from the plan: the same coin, all of it to someone else.
    raw = w.ltc.rpc("createrawtransaction", [[{"txid": txid, "vout": vout}], {w.ltc.new_address("bech32"): "1.999"}])
    other = w.ltc.rpc("signrawtransactionwithwallet", [raw], wallet=name)
    bad = w.tmp / "bad.json"
    bad.write_text(json.dumps({"case_id": cid, "plan_hash": exported["plan_hash"], "signed": [other["hex"]]}))
    assert cli(w, "case", "import-signed", str(cid), str(bad), expect=7)["code"] == "signed_differs"
    processed = w.ltc.rpc("walletprocesspsbt", [exported["psbt"], True, "ALL", True], wallet=name)
    assert processed["complete"], processed
    good = w.tmp / "signed.json"
    good.write_text(json.dumps({"case_id": cid, "plan_hash": exported["plan_hash"], "psbt": processed["psbt"]}))
    assert cli(w, "case", "import-signed", str(cid), str(good))["status"] == "signed"
    cli(w, "case", "broadcast", str(cid))
    w.ltc.mine(1)
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert w.ltc.balance_at(user) == int(quote["net"])


def test_fee_below_dust_is_folded_and_the_quote_says_so(u):
    w = u
    addr = deposit_address(w, status="retired")
    txid, vout = w.ltc.fund(addr, 100_000)          # 5% fee = 5,000 < the 5,460 dust limit
    user = w.ltc.new_address("bech32")
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", addr,
              "--return-address", user)["id"]
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", "LTC", "80")
    quote = cli(w, "case", "quote", str(cid))
    assert int(quote["fee"]) == 5_000
    shown = cli(w, "case", "show", str(cid))["quote"]["details"]
    assert shown["fee_folded"] is True and any("folded into the network fee" in line for line in shown["lines"])
    plan = cli(w, "case", "prepare", str(cid))["plan"]
    outputs = plan["steps"][0]["tx"]["outputs"]
    assert [o["address"] for o in outputs] == [user]   # no fee output
    key = team().key("bob")
    cli(w, "queue", "approve", str(cid), "--key", str(key))
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    w.ltc.mine(1)
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert w.ltc.balance_at(user) == int(quote["net"])


def test_ownership_proof_by_signmessage_on_a_conditional_utxo_network(u):

    from bitcoinlib.keys import Key

    w = u
    conf = w.tmp / "conf"
    conf.mkdir()
    text = (REPO / "chain_configs" / "ltc-regtest.toml").read_text()
    text = text.replace('recovery_class = "direct"', 'recovery_class = "conditional"\nconditions = ["ownership_proof"]\n'
                                                       'reason = "test: proof of ownership by signed message"')
    (conf / "ltc-regtest.toml").write_text(text)
    w.env = {**w.env, "RECOVER_CONFIG_DIR": str(conf)}
    addr = deposit_address(w, status="retired")
    user_key, user_addr = derive_utxo_key(MNEMONIC, "m/44'/1'/0'/0/95", NETWORK)
    txid0, vout0 = w.ltc.fund(user_addr, 2 * 10**8)
    raw = w.ltc.rpc("createrawtransaction", [[{"txid": txid0, "vout": vout0}], {addr: "1.9999"}])
    signed = w.ltc.rpc("signrawtransactionwithkey", [raw, [user_key.wif()], [{
        "txid": txid0, "vout": vout0, "scriptPubKey": w.ltc.txout(txid0, vout0)["scriptPubKey"]["hex"],
        "amount": "2.0"}]])
    assert signed["complete"], signed
    txid = w.ltc.rpc("sendrawtransaction", [signed["hex"]])
    w.ltc.mine(1)
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", addr,
              "--return-address", w.ltc.new_address("bech32"))["id"]
    facts = cli(w, "case", "verify", str(cid))["facts"]
    assert facts[0]["sender"] == user_addr
    message = cli(w, "case", "show", str(cid))["conditions"]["ownership_message"]
    stranger = Key(derive_utxo_key(MNEMONIC, "m/44'/1'/0'/0/96", NETWORK)[0].wif(), network=NETWORK)
    bad = stranger.sign_message(message).as_base64()
    assert cli(w, "case", "prove", str(cid), "--signature", bad, expect=7)["code"] == "ownership_not_proven"
    assert cli(w, "case", "prove", str(cid), "--signature", "not-base64!", expect=7)["code"] == "ownership_not_proven"
    good = Key(user_key.wif(), network=NETWORK).sign_message(message).as_base64()
    proved = cli(w, "case", "prove", str(cid), "--signature", good)
    assert proved["condition"] == "ownership_proof" and proved["evidence"]["scheme"] == "signmessage"


def test_wrong_network_sibling_chain_sharing_address_format(u):
    """A legacy address registered for the BSV devnet receives coins on the Litecoin devnet (both use
    testnet's base58 prefixes): ours, on the wrong network, swept with the registered key."""
    w = u
    w.env = {**w.env, "BSV_REGTEST_URL": "http://127.0.0.1:9", "BSV_REGTEST_FEE_COLLECTOR": w.collector,
             "BSV_REGTEST_HOT_WALLET": w.hot}
    path = f"m/44'/1'/0'/0/{next(wallet_index)}"
    addr = derive_utxo_key(MNEMONIC, path, NETWORK)[1]
    csv = w.tmp / "bsv.csv"
    csv.write_text(f"network,address,derivation_path,account\nbsv-regtest,{addr},{path},u\n")
    cli(w, "addresses", "import", str(csv))
    txid, vout = w.ltc.fund(addr, 10**8)
    user = w.ltc.new_address("bech32")
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", addr,
              "--return-address", user)["id"]
    assert cli(w, "case", "verify", str(cid))["classification"] == "wrong_network"
    cli(w, "prices", "set", "LTC", "80")
    quote = cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    key = team().key("bob")
    cli(w, "queue", "approve", str(cid), "--key", str(key))
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    w.ltc.mine(1)
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert w.ltc.balance_at(user) == int(quote["net"])


def test_unpriced_native_deposit_is_quoted_so_that_prepare_can_carry_it_out(u):
    """No LTC price at all: the network fee is deducted in kind (it needs no rate), prepare builds it,
    and the user gets exactly the quoted net (was: quoted `absorb`, refused by prepare)."""
    w = u
    addr = deposit_address(w, status="retired")
    txid, vout = w.ltc.fund(addr, 2 * 10**8)
    user = w.ltc.new_address("bech32")
    cid = cli(w, "case", "open", "--network", "ltc-regtest", "--tx", txid, "--deposit-address", addr,
              "--return-address", user)["id"]
    cli(w, "case", "verify", str(cid))
    quote = cli(w, "case", "quote", str(cid))
    assert quote["value_usd"] is None and quote["network_cost_mode"] == "deduct"
    net, fee, cost = int(quote["net"]), int(quote["fee"]), int(quote["network_cost_in_asset"])
    assert cost == int(quote["network_cost_native"]) > 0
    assert fee == -(-2 * 10**8 * 5 // 100)  # 5 % in kind, rounded up
    assert net == 2 * 10**8 - fee - cost
    cli(w, "case", "prepare", str(cid))
    states = [cli(w, "queue", "approve", str(cid), "--key", team().key(name))["status"]
              for name in ("sam", "bob", "carol")]  # unpriced: the top tier (3 approvers incl. a senior)
    assert states[-1] == "approved" and "approved" not in states[:-1]
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    w.ltc.mine(1)
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert w.ltc.balance_at(user) == net
    assert w.ltc.balance_at(w.collector) == fee
