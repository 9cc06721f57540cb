"""A Litecoin regtest desk for case tests: the node (bitcoind_devnet.py), a fee collector and a hot
wallet of the node's wallet, deposit addresses registered on demand; ``cli`` runs the installed CLI."""

from __future__ import annotations

import itertools

import pytest

from bitcoind_devnet import start_litecoind
from chains.utxo.keys import derive_utxo_key
from clihelp import cli_json

MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
NETWORK = "litecoin_regtest"
wallet_index = itertools.count(40)  # derivation indexes not used yet in this process


@pytest.fixture(scope="module")
def ltc():
    node = start_litecoind()
    yield node
    node.stop()


@pytest.fixture
def u(ltc, sqlite_db_url, tmp_path):
    w = type("U", (), {})()
    w.ltc, w.db, w.tmp = ltc, sqlite_db_url, tmp_path
    w.collector, w.hot = ltc.new_address("legacy"), ltc.new_address("bech32")
    w.env = {"LTC_REGTEST_URL": ltc.url, "LTC_REGTEST_FEE_COLLECTOR": w.collector,
             "LTC_REGTEST_HOT_WALLET": w.hot, "RECOVER_SEED": MNEMONIC}
    return w


def cli(w, *args, expect=0):
    return cli_json(*args, db=w.db, env=w.env, expect=expect)


def deposit_address(w, path_fmt="m/84'/1'/0'/0/{i}", status="active"):
    path = path_fmt.format(i=next(wallet_index))
    address = derive_utxo_key(MNEMONIC, path, NETWORK)[1]
    csv = w.tmp / f"a{next(wallet_index)}.csv"
    csv.write_text(f"network,address,derivation_path,account,status\nltc-regtest,{address},{path},u,{status}\n")
    cli(w, "addresses", "import", str(csv))
    return address
