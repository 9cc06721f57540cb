"""Issue 13 item 3 on Solana: ``recover scan`` of a LiteSVM network finds token accounts of our
deposit wallets holding unlisted mints and opens each crediting deposit once across two scans."""

from __future__ import annotations

from solders.keypair import Keypair

from clihelp import snapshot
from paths import REPO
from solanaflow import SOL, cli, sol  # noqa: F401  (fixture and helpers)


def _listed(w, mint) -> None:
    conf = w.tmp / "conf"
    conf.mkdir(exist_ok=True)
    text = (REPO / "chain_configs" / "solana-litesvm.toml").read_text()
    text += f'\n[[listed_tokens]]\nsymbol = "LST"\naddress = "{mint}"\ndecimals = 6\nmin_deposit = 0\n'
    (conf / "solana-litesvm.toml").write_text(text)
    w.env = {**w.env, "RECOVER_CONFIG_DIR": str(conf)}


def test_scan_opens_unlisted_mint_deposits_once_and_the_case_verifies(sol):
    w = sol
    authority = Keypair()
    w.devnet.airdrop(authority.pubkey(), SOL)
    unlisted, listed = w.devnet.create_mint(authority, 6), w.devnet.create_mint(authority, 6)
    _listed(w, listed)
    for mint in (unlisted, listed):
        w.devnet.mint_to(authority, mint, w.user.pubkey(), 1_000 * 10**6)
    first_tx = w.devnet.transfer_spl(w.user, unlisted, w.deposit.pubkey(), 100 * 10**6)
    second_tx = w.devnet.transfer_spl(w.user, unlisted, w.deposit.pubkey(), 50 * 10**6)
    w.devnet.transfer_spl(w.user, listed, w.deposit.pubkey(), 70 * 10**6)  # listed, active wallet: normal
    w.devnet.transfer_spl(w.user, unlisted, Keypair().pubkey(), 10 * 10**6)  # not ours
    first = cli(w, "scan", "--network", "solana-litesvm")
    assert first["kind"] == "holdings" and first["found"] == 2 and len(first["opened"]) == 2, first
    cases = {c["txid"]: c for c in cli(w, "case", "list")}
    assert set(cases) == {first_tx, second_tx}
    again = cli(w, "scan", "--network", "solana-litesvm")
    assert again["found"] == 2 and again["opened"] == [] and again["already_cases"] == 2
    doc = cli(w, "case", "verify", str(cases[second_tx]["id"]))
    assert doc["classification"] == "unlisted_token" and doc["facts"][0]["amount"] == str(50 * 10**6)


def test_scan_range_refusal_changes_nothing(sol):
    w = sol
    before = snapshot(w.db)
    assert cli(w, "scan", "--network", "solana-litesvm", "--from-block", "9", "--to-block", "3",
               expect=4)["code"] == "empty_range"
    assert snapshot(w.db) == before
