"""Quote rules and anchor schedules, with hand-computed numbers (arithmetic in the comments)."""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fees import (
    DictPriceSource,
    FeePolicy,
    InvalidQuoteInput,
    PolicyRefused,
    Price,
    StalePrice,
    Unpriced,
    compute_quote,
    quote_from_source,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
USDC = Price("USDC", Decimal("1"), NOW - timedelta(minutes=5))
ETH = Price("ETH", Decimal("2000"), NOW - timedelta(minutes=5))
GAS = 21_000 * 20 * 10**9  # 21000 gas x 20 gwei = 4.2e14 wei = 0.00042 ETH = 0.84 USD at 2000

COINBASE = {"percent": "5", "percent_above_usd": "100"}
BYBIT = {"flat_usd": "200", "min_value_usd": "500"}
CLAMPED = {"percent": "5", "min_usd": "10", "max_usd": "1000"}


def policy(table):
    return FeePolicy.from_table(table, "test.toml [fee]")


def token_quote(gross, table, *, price=USDC, decimals=6, cost=0, native=ETH, **kw):
    kw.setdefault("now", NOW)
    return compute_quote(
        gross=gross,
        decimals=decimals,
        price=price,
        is_native=False,
        native_price=native,
        native_decimals=18,
        network_cost_native=cost,
        policy=policy(table) if not isinstance(table, FeePolicy) else table,
        **kw,
    )


def conserved(q):
    return q.net + q.fee + q.network_cost_in_asset == q.gross and q.net >= 0 and q.fee >= 0


@pytest.mark.parametrize(
    "table, gross, fee, net, refusal",
    [
        # Coinbase-style: free up to 100 USD, 5% of the part above. USDC at 1 USD, 6 decimals.
        (COINBASE, 50_000000, 0, 50_000000, None),  # 50 USD <= 100: fee 0
        (COINBASE, 100_000000, 0, 100_000000, None),  # exactly 100: 5% x 0 = 0
        (COINBASE, 300_000000, 10_000000, 290_000000, None),  # 5% x (300-100) = 10 USD
        (COINBASE, 1000_500000, 45_025000, 955_475000, None),  # 5% x 900.5 = 45.025 USD
        # Bybit-style: flat 200 USD, refused below 500 USD of value.
        (BYBIT, 600_000000, 200_000000, 400_000000, None),  # 600 - 200 = 400
        (BYBIT, 500_000000, 200_000000, 300_000000, None),  # exactly the minimum value: accepted
        (BYBIT, 499_999999, 200_000000, 299_999999, "below_min_value"),  # 499.999999 < 500
        # 5%, min 10, max 1000 USD.
        (CLAMPED, 100_000000, 10_000000, 90_000000, None),  # 5% x 100 = 5 -> raised to 10
        (CLAMPED, 1000_000000, 50_000000, 950_000000, None),  # 5% x 1000 = 50, inside the clamps
        (CLAMPED, 30000_000000, 1000_000000, 29000_000000, None),  # 5% x 30000 = 1500 -> capped 1000
        (CLAMPED, 10_000000, 10_000000, 0, "uneconomical"),  # fee 10 USD == value 10 USD
        (CLAMPED, 5_000000, 5_000000, 0, "uneconomical"),  # fee 10 USD > value 5: clamped to gross
        # Default policy: 5%.
        (None, 1_000000, 50000, 950000, None),  # 5% x 1 USD = 0.05 USD = 50000 units
    ],
)
def test_anchor_schedules(table, gross, fee, net, refusal):
    q = token_quote(gross, table)
    assert (q.fee, q.net, q.network_cost_in_asset) == (fee, net, 0)
    assert (q.refusal.code if q.refusal else None) == refusal
    assert q.economical is (refusal is None)
    assert conserved(q)


def test_bybit_with_a_non_dollar_token():
    # Token at 2 USD, 18 decimals; 300 tokens = 600 USD; flat 200 USD = 100 tokens (200 / 2).
    tok = Price("TOK", Decimal("2"), NOW)
    q = token_quote(300 * 10**18, BYBIT, price=tok, decimals=18)
    assert q.value_usd == Decimal(600)
    assert q.fee == 100 * 10**18 and q.net == 200 * 10**18
    assert any("flat fee" in line for line in q.lines)


def test_fee_rounds_up_to_the_base_unit():
    # decimals 0, price 3 USD, 7 units = 21 USD; 5% = 1.05 USD = 0.35 units -> fee 1 unit, net 6.
    q = token_quote(7, {"percent": "5"}, price=Price("W", Decimal("3"), NOW), decimals=0)
    assert (q.fee, q.net) == (1, 6)
    # decimals 2, 1 base unit = 0.01 USD; 5% = 0.0005 USD = 0.05 units -> 1 unit == gross: uneconomical.
    q = token_quote(1, {"percent": "5"}, decimals=2)
    assert (q.fee, q.net, q.refusal.code) == (1, 0, "uneconomical")


def test_network_cost_deducted_from_a_token():
    # 0.84 USD of gas at USDC 1 USD = 840000 units. 100 USDC, 5% = 5 USDC.
    # net = 100000000 - 5000000 - 840000 = 94160000
    q = token_quote(100_000000, {"percent": "5"}, cost=GAS)
    assert q.network_cost_native == GAS
    assert q.network_cost_usd == Decimal("0.84")
    assert (q.fee, q.network_cost_in_asset, q.net) == (5_000000, 840000, 94_160000)
    assert q.network_cost_mode == "deduct"
    assert [p.asset for p in q.prices_used] == ["USDC", "ETH"]


def test_network_cost_conversion_rounds_up():
    # token at 0.9 USD: 0.84 / 0.9 = 0.93333... tokens = 933333.33 units -> 933334.
    q = token_quote(100_000000, {"percent": "0"}, price=Price("T", Decimal("0.9"), NOW), cost=GAS)
    assert q.network_cost_in_asset == 933334
    assert q.net == 100_000000 - 933334
    assert q.fee == 0


def test_network_cost_absorbed():
    q = token_quote(100_000000, {"percent": "5", "network_cost": "absorb"}, cost=GAS)
    assert (q.fee, q.network_cost_in_asset, q.net) == (5_000000, 0, 95_000000)
    assert q.network_cost_native == GAS and q.network_cost_mode == "absorb"


def test_native_asset_cost_in_kind():
    # 1 ETH at 2000 = 2000 USD; 5% = 100 USD = 0.05 ETH = 5e16 wei; cost 4.2e14 wei in kind.
    # net = 1e18 - 5e16 - 4.2e14 = 949580000000000000
    q = compute_quote(
        gross=10**18, decimals=18, price=ETH, is_native=True, native_price=None, native_decimals=18,
        network_cost_native=GAS, policy=FeePolicy.default(), now=NOW,
    )
    assert (q.fee, q.network_cost_in_asset, q.net) == (5 * 10**16, GAS, 949580000000000000)
    assert q.prices_used == (ETH,)


def test_uneconomical_when_fee_plus_cost_reaches_value():
    # 0.88 USDC: fee 5% = 44000, cost 840000; 884000 >= 880000 -> refused; cost clamped to 836000.
    q = token_quote(880000, None, cost=GAS)
    assert q.refusal.code == "uneconomical" and not q.economical
    assert (q.fee, q.network_cost_in_asset, q.net) == (44000, 836000, 0)
    # 0.90 USDC: 45000 + 840000 = 885000 < 900000 -> ok, net 15000.
    q = token_quote(900000, None, cost=GAS)
    assert q.refusal is None and q.net == 15000
    # Absorbed cost still counts against the value: same 0.88 USDC is refused, nothing deducted.
    q = token_quote(880000, {"percent": "5", "network_cost": "absorb"}, cost=GAS)
    assert q.refusal.code == "uneconomical" and (q.fee, q.network_cost_in_asset, q.net) == (44000, 0, 836000)
    with pytest.raises(PolicyRefused) as info:
        q.raise_if_refused()
    assert info.value.code == "uneconomical" and info.value.exit_code == 7


def test_unpriced_percent_only():
    # No price: 5% in kind, no USD rules, cost absorbed. 999 units: 49.95 -> 50, net 949.
    q = token_quote(999, {"percent": "5", "flat_usd": "200", "min_value_usd": "500"}, price=None, decimals=0,
                    cost=GAS, native=None, asset="JUNK")
    assert (q.fee, q.network_cost_in_asset, q.net) == (50, 0, 949)
    assert q.value_usd is None and q.refusal is None and q.network_cost_mode == "absorb"
    assert any("flat_usd" in line and "min_value_usd" in line for line in q.lines)


@pytest.mark.parametrize("network_cost,mode,cost_in_asset,net", [
    ("deduct", "deduct", 2_240, 1_000_000 - 50_000 - 2_240),  # the gas is paid in kind from the deposit
    ("absorb", "absorb", 0, 1_000_000 - 50_000),
])
def test_unpriced_native_deducts_its_own_network_cost_in_kind(network_cost, mode, cost_in_asset, net):
    """A native coin without a USD price still pays its own network fee in kind (it needs no rate): a
    UTXO sweep, which can only pay from its inputs, can carry this quote out."""
    q = compute_quote(gross=1_000_000, decimals=8, price=None, is_native=True, native_price=None, native_decimals=8,
                      network_cost_native=2_240, policy=policy({"percent": "5", "network_cost": network_cost}),
                      now=NOW)
    assert q.refusal is None and q.network_cost_mode == mode and q.fee == 50_000
    assert (q.network_cost_in_asset, q.net) == (cost_in_asset, net)
    assert q.net + q.fee + q.network_cost_in_asset == 1_000_000


def test_unpriced_refused():
    q = token_quote(1000, {"percent": "5", "unpriced": "refuse"}, price=None, asset="JUNK")
    assert q.refusal.code == "unpriced" and "JUNK" in q.refusal.message
    assert (q.fee, q.network_cost_in_asset, q.net) == (0, 0, 1000)
    with pytest.raises(Unpriced) as info:
        q.raise_if_refused()
    assert info.value.exit_code == 7 and info.value.code == "unpriced"


def test_stale_asset_price_is_refused_naming_it():
    old = Price("USDC", Decimal("1"), NOW - timedelta(hours=2))
    q = token_quote(100_000000, None, price=old)
    assert q.refusal.code == "stale_price"
    assert "USDC" in q.refusal.message and old.at.isoformat() in q.refusal.message
    assert q.prices_used == (old,) and conserved(q)
    with pytest.raises(StalePrice):
        q.raise_if_refused()
    # A longer max age accepts it.
    assert token_quote(100_000000, None, price=old, max_price_age=timedelta(hours=3)).refusal is None


def test_stale_or_missing_native_price():
    old_eth = Price("ETH", Decimal("2000"), NOW - timedelta(days=1))
    q = token_quote(100_000000, None, cost=GAS, native=old_eth)
    assert q.refusal.code == "stale_price" and "ETH" in q.refusal.message
    q = token_quote(100_000000, None, cost=GAS, native=None, native_asset="ETH")
    assert q.refusal.code == "missing_native_price" and "ETH" in q.refusal.message
    # No network cost: no native price needed.
    assert token_quote(100_000000, None, cost=0, native=None).refusal is None


def test_max_age_days():
    table = {"percent": "5", "max_age_days": 90}
    q = token_quote(100_000000, table, deposit_time=NOW - timedelta(days=91))
    assert q.refusal.code == "too_old" and "90" in q.refusal.message
    assert conserved(q) and q.fee == 5_000000  # amounts still shown
    assert token_quote(100_000000, table, deposit_time=NOW - timedelta(days=90)).refusal is None
    with pytest.raises(InvalidQuoteInput, match="deposit_time"):
        token_quote(100_000000, table)


@pytest.mark.parametrize(
    "kw",
    [
        {"gross": -1},
        {"gross": 1.5},
        {"decimals": -1},
        {"network_cost_native": -5},
        {"now": datetime(2025, 1, 1)},
    ],
)
def test_impossible_inputs_raise(kw):
    args = dict(gross=100, decimals=6, price=USDC, is_native=False, native_price=ETH, native_decimals=18,
                network_cost_native=0, policy=FeePolicy.default(), now=NOW)
    args.update(kw)
    with pytest.raises(InvalidQuoteInput) as info:
        compute_quote(**args)
    assert info.value.exit_code == 4


def test_to_dict_is_json_safe_and_has_no_floats():
    q = token_quote(1000_500000, COINBASE, cost=GAS)
    d = q.to_dict()
    text = json.dumps(d)

    def walk(x):
        assert not isinstance(x, float)
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(text))
    assert d["gross"] == "1000500000" and d["fee"] == "45025000"
    assert d["value_usd"] == "1000.5" and d["fee_usd"] == "45.025"
    assert d["network_cost_in_asset"] == "840000" and d["net"] == str(1000_500000 - 45_025000 - 840000)
    assert d["prices_used"][0] == {"asset": "USDC", "usd": "1", "at": USDC.at.isoformat()}
    assert d["refusal"] is None and d["policy"]["percent"] == "5"


def test_lines_explain_every_rule():
    q = token_quote(30000_000000, CLAMPED, cost=GAS)
    text = "\n".join(q.lines)
    for words in ("value:", "percent: 5%", "capped at max_usd 1000", "fee: 1000.00 USD", "network cost", "net to user"):
        assert words in text


def test_quote_from_source():
    src = DictPriceSource([USDC, ETH])
    q = quote_from_source(src, asset="USDC", native_asset="ETH", is_native=False, gross=100_000000, decimals=6,
                          native_decimals=18, network_cost_native=GAS, policy=FeePolicy.default(), now=NOW)
    assert q.net == 94_160000


def test_to_dict_round_trip():
    from fees import Quote

    for q in (token_quote(1000_500000, COINBASE, cost=GAS), token_quote(10_000000, CLAMPED),
              token_quote(1000, {"unpriced": "refuse"}, price=None)):
        assert Quote.from_dict(json.loads(json.dumps(q.to_dict()))) == q
