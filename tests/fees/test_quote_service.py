"""Quoting a verified case against the price table (SQLite and PostgreSQL).

The chain's cost estimate is passed in (``cost_fn``) so these tests need no node; the EVM tests
quote through the real adapter on anvil.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from chains.base import NATIVE, CostEstimate
from clihelp import run, snapshot
from recover import api
from recover.casework.transitions import move
from recover.errors import IllegalTransition
from recover.storage.db import session_scope
from recover.storage.models import Case, DepositFact, Quote
from team import team

DEP = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
RET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
TOKEN = "0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69"
NOW = datetime.now(timezone.utc)


def verified_case(db_url, tmp_path, *, asset=TOKEN, amount=2_000 * 10**6, decimals=6, tx="0x" + "77" * 32):
    csv = tmp_path / "a.csv"
    csv.write_text(f"network,address,derivation_path,account\nethereum,{DEP},m/44'/60'/0'/0/7,u7\n")
    api.import_addresses(csv, db=db_url, admin_keys=team().admin_paths)
    case = api.open_case("ethereum", tx, return_address=RET, db=db_url, key=team().key("alice"))
    with session_scope(db_url) as s:
        s.add(DepositFact(case_id=case.id, network="ethereum", chain="eip155:1", txid=case.txid, deposit_index=4, sender=RET,
                          receiving_address=DEP, asset=asset, asset_symbol="TKN", decimals=decimals, amount=amount,
                          block_number=100, block_time=NOW - timedelta(days=1), confirmations=70,
                          classification="unlisted_token"))
        move(s, s.get(Case, case.id), "verified", actor="alice", action="verified")
    return case.id


def set_price(asset, usd, **kw):
    """A price signed by the pricer (pete)."""
    return api.set_price(asset, usd, key=team().key("pete"), **kw)


def cost(native):
    return lambda case, facts: CostEstimate(native, {"gas_price": "1"})


def test_quote_stores_rules_prices_and_conserves(db_url, tmp_path):
    cid = verified_case(db_url, tmp_path)
    set_price(f"ethereum:{TOKEN}", "1.00", db=db_url)
    set_price("ETH", "3000", db=db_url)
    # ethereum's policy: see chain_configs/ethereum.toml [fee]
    out = api.quote_case(cid, db=db_url, key=team().key("spec"), cost_fn=cost(10**15))  # 0.001 ETH = 3 USD
    q = out.quote
    assert q.gross == 2_000 * 10**6
    assert q.net + q.fee + q.network_cost_in_asset == q.gross
    assert q.network_cost_mode == "deduct"  # ethereum.toml deducts the sweep's cost from the deposit
    assert q.network_cost_in_asset == 3 * 10**6  # 0.001 ETH x 3000 USD / 1 USD per token
    doc = api.show_case(cid, db=db_url)
    assert doc["status"] == "quoted"
    assert doc["quote"]["net"] == str(q.net) and doc["quote"]["details"]["lines"]
    assert {p["asset"] for p in doc["quote"]["details"]["prices_used"]} == {f"ethereum:{TOKEN}", "ETH"}
    assert doc["quote"]["details"]["cost_estimate"]["native_cost"] == str(10**15)


def test_requote_replaces_and_is_audited(db_url, tmp_path):
    cid = verified_case(db_url, tmp_path)
    set_price(f"ethereum:{TOKEN}", "1.00", db=db_url)
    set_price("ETH", "3000", db=db_url)
    first = api.quote_case(cid, db=db_url, cost_fn=cost(10**15)).quote
    set_price("ETH", "6000", db=db_url)
    second = api.quote_case(cid, db=db_url, cost_fn=cost(10**15)).quote
    assert second.network_cost_in_asset == 2 * first.network_cost_in_asset  # ETH price doubled
    assert second.net < first.net
    doc = api.show_case(cid, db=db_url)
    assert doc["quote"]["net"] == str(second.net)
    assert [e["action"] for e in doc["audit"]][-2:] == ["quoted", "requoted"]


def test_stale_price_refused_and_recorded(db_url, tmp_path):
    cid = verified_case(db_url, tmp_path)
    old = (NOW - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    set_price(f"ethereum:{TOKEN}", "1.00", at=old, db=db_url)
    set_price("ETH", "3000", db=db_url)
    with pytest.raises(Exception) as info:
        api.quote_case(cid, db=db_url, cost_fn=cost(10**15))
    assert info.value.exit_code == 7 and info.value.code == "stale_price"
    assert f"ethereum:{TOKEN}" in str(info.value)
    doc = api.show_case(cid, db=db_url)
    assert doc["status"] == "verified"
    assert doc["refusal"]["code"] == "stale_price"
    assert doc["audit"][-1]["action"] == "quote_refused"


def test_uneconomical_refused(db_url, tmp_path):
    cid = verified_case(db_url, tmp_path, amount=5 * 10**6)  # 5 USD of token
    set_price(f"ethereum:{TOKEN}", "1", db=db_url)
    set_price("ETH", "3000", db=db_url)
    with pytest.raises(Exception) as info:
        api.quote_case(cid, db=db_url, cost_fn=cost(10**16))  # 30 USD of gas
    assert info.value.exit_code == 7
    with session_scope(db_url) as s:
        rows = s.exec(select(Quote).where(Quote.case_id == cid)).all()
        assert len(rows) == 1 and not rows[0].economical
        assert rows[0].net + rows[0].fee + rows[0].network_cost_in_asset == rows[0].gross


def test_native_quote(db_url, tmp_path):
    cid = verified_case(db_url, tmp_path, asset=NATIVE, amount=10**18, decimals=18)
    set_price("ETH", "3000", db=db_url)
    q = api.quote_case(cid, db=db_url, cost_fn=cost(42_000 * 10**9)).quote
    assert q.network_cost_in_asset == 42_000 * 10**9
    assert q.net + q.fee + q.network_cost_in_asset == 10**18


def test_open_case_cannot_be_quoted(db_url):
    case = api.open_case("ethereum", "0x" + "78" * 32, return_address=RET, db=db_url)
    with pytest.raises(IllegalTransition):
        api.quote_case(case.id, db=db_url, cost_fn=cost(1))


def test_prices_cli_and_bad_input(db_url, tmp_path):
    r = run("prices", "set", "eth", "3000.50", "--json", db=db_url)
    assert r.code == 0 and r.json["asset"] == "ETH" and r.json["usd"] == "3000.50"
    before = snapshot(db_url)
    r = run("prices", "set", "--json", "--key", team().key("pete"), "--", "ETH", "-1", db=db_url)
    assert r.code == 4 and "negative" in r.error["message"]
    for args in (["ETH", "abc"], ["ETH", "NaN"], ["ETH", "0"],
                 [f"ethereum:{TOKEN.lower()}", "1"], ["nowhere:0x00", "1"], ["ETH", "1", "--at", "2026-01-01T00:00:00"],
                 ["ETH", "1", "--at", "2999-01-01T00:00:00Z"]):
        r = run("prices", "set", *args, "--json", db=db_url)
        assert r.code == 4, (args, r.err)
        assert r.error["message"]
    csv = tmp_path / "p.csv"
    csv.write_text(f"asset,usd,at\nETH,3000,\nethereum:{TOKEN},1.0,2026-11-01T00:00:00Z\nBTC,-5,\n")
    r = run("prices", "import", str(csv), "--json", db=db_url)
    assert r.code == 4 and "p.csv:4" in r.error["message"]
    assert snapshot(db_url) == before
    csv.write_text(f"asset,usd,at\nETH,3000,\nethereum:{TOKEN},1.0,2026-11-01T00:00:00Z\n")
    r = run("prices", "import", str(csv), "--json", db=db_url)
    assert r.code == 0 and r.json["imported"] == 2
