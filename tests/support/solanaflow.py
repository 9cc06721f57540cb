"""A Solana desk for case tests: LiteSVM behind JSON-RPC (solana_devnet.py), the gas station, a user,
the hot wallet, the fee collector and one registered deposit address; ``cli`` runs the installed CLI."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from chains.solana.keys import derive_solana_keypair
from clihelp import cli_json, run
from solana_devnet import SolanaDevnet

MNEMONIC = "test test test test test test test test test test test junk"
SOL = 10**9


@pytest.fixture
def sol(sqlite_db_url, tmp_path):
    devnet = SolanaDevnet()
    station = derive_solana_keypair(MNEMONIC, "m/44'/501'/1'/0'")
    user, hot, collector, ret = Keypair(), Keypair(), Keypair(), Keypair()
    devnet.airdrop(station.pubkey(), 10 * SOL)
    devnet.airdrop(user.pubkey(), 100 * SOL)
    env = {"SOLANA_LITESVM_URL": devnet.url, "SOLANA_LITESVM_FEE_COLLECTOR": str(collector.pubkey()),
           "SOLANA_LITESVM_HOT_WALLET": str(hot.pubkey()), "RECOVER_SEED": MNEMONIC}
    w = type("Sol", (), {})()
    w.devnet, w.station, w.user, w.hot, w.collector, w.ret = devnet, station, user, hot, collector, ret
    w.db, w.tmp, w.env = sqlite_db_url, tmp_path, env
    w.deposit = derive_solana_keypair(MNEMONIC, "m/44'/501'/0'/7'")
    csv = tmp_path / "addresses.csv"
    csv.write_text(f"network,address,derivation_path,account\nsolana-litesvm,{w.deposit.pubkey()},m/44'/501'/0'/7',u7\n")
    assert run("addresses", "import", str(csv), db=w.db, env=env).code == 0
    yield w
    devnet.close()


def cli(w, *args, expect=0):
    return cli_json(*args, db=w.db, env=w.env, expect=expect)
