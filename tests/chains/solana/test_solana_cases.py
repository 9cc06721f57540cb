"""Issue 7: the full case life for Solana cases through the installed ``recover`` command, against
LiteSVM served over JSON-RPC (tests/support/solana_devnet.py), balances checked to the base unit."""

from __future__ import annotations

from solders.keypair import Keypair

from paths import REPO
from solanaflow import MNEMONIC, SOL, cli, sol  # noqa: F401  (the fixture and helpers)
from team import team


def life(w, tx, price_asset):
    cid = cli(w, "case", "open", "--network", "solana-litesvm", "--tx", tx,
              "--return-address", str(w.ret.pubkey()))["id"]
    verified = cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", price_asset, "1")
    cli(w, "prices", "set", "SOL", "150")
    quote = cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    key = team().key("bob")
    assert cli(w, "queue", "approve", str(cid), "--key", str(key))["status"] == "approved"
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    return cid, verified, quote


def test_spl_misdeposit_full_life(sol):
    w = sol
    authority = Keypair()
    w.devnet.airdrop(authority.pubkey(), SOL)
    mint = w.devnet.create_mint(authority, 6)
    w.devnet.mint_to(authority, mint, w.user.pubkey(), 1_000 * 10**6)
    tx = w.devnet.transfer_spl(w.user, mint, w.deposit.pubkey(), 600 * 10**6)
    station_before = w.devnet.balance(w.station.pubkey())
    cid, verified, quote = life(w, tx, f"solana-litesvm:{mint}")
    assert verified["classification"] == "unlisted_token" and verified["facts"][0]["amount"] == str(600 * 10**6)
    net, fee, cost = int(quote["net"]), int(quote["fee"]), int(quote["network_cost_in_asset"])
    assert net + fee + cost == 600 * 10**6
    ret_ata = w.devnet.token_account(w.devnet.ata(w.ret.pubkey(), mint))
    fee_ata = w.devnet.token_account(w.devnet.ata(w.collector.pubkey(), mint))
    assert int(ret_ata["amount"]) == net and int(fee_ata["amount"]) == fee + cost
    assert w.devnet.token_account(w.devnet.ata(w.deposit.pubkey(), mint)) is None  # closed
    assert w.devnet.balance(w.deposit.pubkey()) == 0
    # the gas station paid the fee and the two new accounts' rent, and got the closed account's rent back
    assert station_before - w.devnet.balance(w.station.pubkey()) == int(quote["network_cost_native"]) - 2039280


def test_sol_misdeposit_leaves_zero_lamports(sol):
    w = sol
    csv = w.tmp / "retire.csv"  # SOL to an active address is a normal deposit; to a retired one, a case
    csv.write_text("network,address,derivation_path,account,status\n"
                   f"solana-litesvm,{w.deposit.pubkey()},m/44'/501'/0'/7',u7,retired\n")
    assert cli(w, "addresses", "import", str(csv))["updated"] == 1
    tx = w.devnet.transfer_sol(w.user, w.deposit.pubkey(), 3 * SOL)
    ret_before = w.devnet.balance(w.ret.pubkey())
    cid, verified, quote = life(w, tx, "SOL")
    assert verified["classification"] == "retired_address" and verified["facts"][0]["amount"] == str(3 * SOL)
    assert int(quote["net"]) + int(quote["fee"]) + int(quote["network_cost_in_asset"]) == 3 * SOL
    assert w.devnet.balance(w.deposit.pubkey()) == 0
    assert w.devnet.balance(w.ret.pubkey()) - ret_before == int(quote["net"])


def test_expired_signature_can_be_signed_again_before_anything_is_sent(sol):
    w = sol
    authority = Keypair()
    w.devnet.airdrop(authority.pubkey(), SOL)
    mint = w.devnet.create_mint(authority, 6)
    w.devnet.mint_to(authority, mint, w.user.pubkey(), 1_000 * 10**6)
    tx = w.devnet.transfer_spl(w.user, mint, w.deposit.pubkey(), 600 * 10**6)
    cid = cli(w, "case", "open", "--network", "solana-litesvm", "--tx", tx,
              "--return-address", str(w.ret.pubkey()))["id"]
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", f"solana-litesvm:{mint}", "1")
    cli(w, "prices", "set", "SOL", "150")
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    key = team().key("bob")
    cli(w, "queue", "approve", str(cid), "--key", str(key))
    first = cli(w, "case", "sign", str(cid))
    with w.devnet.lock:  # time passes: the blockhash the transaction was signed with expires
        w.devnet.svm.expire_blockhash()
    err = cli(w, "case", "broadcast", str(cid), expect=6)
    assert err["code"] == "blockhash_expired"
    again = cli(w, "case", "sign", str(cid))   # same plan, same approvals, fresh blockhash
    assert again["transactions"][0]["txid"] != first["transactions"][0]["txid"]
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert cli(w, "case", "sign", str(cid), expect=5)["code"] == "not_approved"
    actions = [e["action"] for e in cli(w, "case", "show", str(cid))["audit"]]
    assert actions.count("signed") == 1 and actions.count("resigned") == 1


def test_ownership_proof_by_ed25519_signature(sol):

    w = sol
    conf = w.tmp / "conf"
    conf.mkdir()
    text = (REPO / "chain_configs" / "solana-litesvm.toml").read_text()
    text = text.replace('recovery_class = "direct"', 'recovery_class = "conditional"\nconditions = ["ownership_proof"]\n'
                                                       'reason = "test: proof of ownership by signature"')
    (conf / "solana-litesvm.toml").write_text(text)
    w.env = {**w.env, "RECOVER_CONFIG_DIR": str(conf)}
    authority = Keypair()
    w.devnet.airdrop(authority.pubkey(), SOL)
    mint = w.devnet.create_mint(authority, 6)
    w.devnet.mint_to(authority, mint, w.user.pubkey(), 1_000 * 10**6)
    tx = w.devnet.transfer_spl(w.user, mint, w.deposit.pubkey(), 600 * 10**6)
    cid = cli(w, "case", "open", "--network", "solana-litesvm", "--tx", tx, "--return-address",
              str(w.ret.pubkey()))["id"]
    facts = cli(w, "case", "verify", str(cid))["facts"]
    assert facts[0]["sender"] == str(w.user.pubkey())
    message = cli(w, "case", "show", str(cid))["conditions"]["ownership_message"]
    bad = str(Keypair().sign_message(message.encode()))
    assert cli(w, "case", "prove", str(cid), "--signature", bad, expect=7)["code"] == "ownership_not_proven"
    good = str(w.user.sign_message(message.encode()))
    assert cli(w, "case", "prove", str(cid), "--signature", good)["evidence"]["scheme"] == "ed25519"
