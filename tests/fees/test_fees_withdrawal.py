"""Shared-wallet refunds: "N x the withdrawal fee", refused below the minimum withdrawal.

ATOM is the native coin (6 decimals, 8 USD); USDC a token on its chain (6 decimals). Arithmetic in
the comments.
"""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fees import BelowMinWithdrawal, FeePolicy, Price, Quote, compute_quote, refusal_error

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
ATOM = Price("ATOM", Decimal("8"), NOW - timedelta(minutes=5))
USDC = Price("USDC", Decimal("1"), NOW - timedelta(minutes=5))
REFUND = {"withdrawal_fee": 1000, "withdrawal_fee_multiple": "5"}  # 5 x 1000 uatom = 5000 uatom
LINE = "withdrawal fee: 5 x 1000 base units = 5000 base units"


def policy(table):
    return FeePolicy.from_table(table, "test.toml [fee]")


def native(gross, table, *, price=ATOM, cost=0):
    return compute_quote(gross=gross, decimals=6, price=price, is_native=True, native_price=None, native_decimals=6,
                         network_cost_native=cost, policy=policy(table), now=NOW, label="ATOM")


def token(gross, table, *, price=USDC, native_price=ATOM, cost=0):
    return compute_quote(gross=gross, decimals=6, price=price, is_native=False, native_price=native_price,
                         native_decimals=6, network_cost_native=cost, policy=policy(table), now=NOW,
                         label="USDC", native_asset="ATOM")


def conserved(q):
    return q.net + q.fee + q.network_cost_in_asset == q.gross and min(q.net, q.fee, q.network_cost_in_asset) >= 0


@pytest.mark.parametrize("price", [ATOM, None], ids=["priced", "unpriced"])
def test_native_pays_five_times_the_withdrawal_fee_exactly(price):
    q = native(10_000000, REFUND, price=price, cost=2000)
    assert (q.fee, q.network_cost_in_asset, q.net) == (5000, 2000, 10_000000 - 5000 - 2000)
    assert q.refusal is None and conserved(q)
    assert any(line.startswith(LINE) for line in q.lines)


def test_native_priced_line_says_it_comes_after_the_usd_rules():
    q = native(10_000000, REFUND)
    line = next(line for line in q.lines if line.startswith("withdrawal fee"))
    # 5000 uatom = 0.005 ATOM x 8 USD = 0.04 USD
    assert line == f"{LINE} (0.005000 ATOM = 0.04 USD), added after min_usd/max_usd (they bound the USD part only)"
    assert q.fee_usd == Decimal("0.04")


def test_native_with_percent_and_min_usd():
    # 10 ATOM = 80 USD; 1% = 0.80 USD raised to min_usd 1 USD = 125000 uatom; + 5000 uatom on top.
    q = native(10_000000, {**REFUND, "percent": "1", "min_usd": "1"})
    assert q.fee == 130000 and q.fee_usd == Decimal("1.04") and conserved(q)
    text = "\n".join(q.lines)
    assert text.index("raised to min_usd 1 USD") < text.index(LINE) < text.index("fee: 1.04 USD")


def test_max_usd_does_not_cap_the_withdrawal_fee():
    # 100 ATOM = 800 USD; 5% = 40 USD capped at 1 USD = 125000 uatom; + 5000 uatom after the cap.
    q = native(100_000000, {**REFUND, "percent": "5", "max_usd": "1"})
    assert q.fee == 130000 and conserved(q)


def test_native_unpriced_adds_it_in_kind_to_the_percent():
    # 5% of 1000000 = 50000; + 5000 = 55000, no price needed.
    q = native(1_000000, {**REFUND, "percent": "5"}, price=None)
    assert q.fee == 55000 and q.refusal is None and conserved(q)
    assert f"{LINE}, added in kind: fee 50000 + 5000 = 55000 base units" in q.lines


def test_fractional_multiple_rounds_up():
    q = native(1_000000, {"withdrawal_fee": 3, "withdrawal_fee_multiple": "2.5"}, price=None)
    assert q.fee == 8  # 2.5 x 3 = 7.5 -> 8
    assert any(line.startswith("withdrawal fee: 2.5 x 3 base units = 8 base units (rounded up)") for line in q.lines)


def test_withdrawal_fee_counts_against_the_deposit():
    q = native(5000, REFUND)  # fee 5000 == gross
    assert q.refusal.code == "uneconomical" and (q.fee, q.net) == (5000, 0) and conserved(q)


@pytest.mark.parametrize("price", [ATOM, None], ids=["priced", "unpriced"])
def test_native_below_min_withdrawal_is_refused_and_conserves(price):
    table = {**REFUND, "min_withdrawal": 20000}
    q = native(19999, table, price=price, cost=100)
    assert q.refusal.code == "below_min_withdrawal" and not q.economical
    assert "19999" in q.refusal.message and "20000" in q.refusal.message
    assert "minimum withdrawal: 19999 base units < 20000 base units: refused" in q.lines
    assert (q.fee, q.network_cost_in_asset, q.net) == (5000, 100, 19999 - 5100) and conserved(q)
    with pytest.raises(BelowMinWithdrawal) as info:
        q.raise_if_refused()
    assert info.value.exit_code == 7 and info.value.code == "below_min_withdrawal"
    # Exactly the minimum is accepted.
    q = native(20000, table, price=price)
    assert q.refusal is None and "minimum withdrawal: 20000 base units >= 20000 base units: ok" in q.lines


def test_refusal_order_min_value_then_min_withdrawal_then_uneconomical():
    # 4000 uatom = 0.032 USD: below min_value_usd, below min_withdrawal, and the fee reaches the deposit.
    table = {**REFUND, "min_withdrawal": 20000, "min_value_usd": "1"}
    assert native(4000, table).refusal.code == "below_min_value"
    assert native(4000, {**REFUND, "min_withdrawal": 20000}).refusal.code == "below_min_withdrawal"


def test_token_priced_converts_through_usd():
    # 5000 uatom = 0.005 ATOM x 8 USD = 0.04 USD = 40000 USDC units at 1 USD.
    q = token(100_000000, REFUND)
    assert q.fee == 40000 and q.fee_usd == Decimal("0.04") and conserved(q)
    assert [p.asset for p in q.prices_used] == ["USDC", "ATOM"]
    assert any(line.startswith("withdrawal fee: 5 x 1000 ATOM base units = 5000 ATOM base units = 0.005000 ATOM x 8 USD")
               for line in q.lines)


def test_token_conversion_rounds_up_once():
    # Token at 0.9 USD: 0.04 / 0.9 = 0.0444... = 44444.44 units -> 44445.
    q = token(100_000000, REFUND, price=Price("USDC", Decimal("0.9"), NOW))
    assert q.fee == 44445 and conserved(q)
    # With 1%: 0.9 USD + 0.04 USD = 0.94 USD / 0.9 = 1044444.44 units -> 1044445 (one rounding, not two).
    q = token(100_000000, {**REFUND, "percent": "1"}, price=Price("USDC", Decimal("0.9"), NOW))
    assert q.fee == 1044445


def test_token_priced_min_withdrawal_through_usd():
    # 1 ATOM minimum = 8 USD of USDC.
    table = {**REFUND, "min_withdrawal": 1_000000}
    q = token(7_999999, table)
    assert q.refusal.code == "below_min_withdrawal" and "8.00 USD" in q.refusal.message and conserved(q)
    assert token(8_000000, table).refusal is None


def test_token_needs_the_native_price_for_the_withdrawal_fee():
    q = token(100_000000, REFUND, native_price=None)
    assert q.refusal.code == "missing_native_price" and "withdrawal fee of 5000 base units" in q.refusal.message
    stale = Price("ATOM", Decimal("8"), NOW - timedelta(days=1))
    assert token(100_000000, {"min_withdrawal": 5}, native_price=stale).refusal.code == "stale_price"
    # Zero amounts need no price.
    q = token(100_000000, {"withdrawal_fee": 0, "withdrawal_fee_multiple": "5", "min_withdrawal": 0}, native_price=None)
    assert q.refusal is None and q.fee == 0


def test_token_unpriced_does_not_apply_them_and_says_so():
    q = token(1000, {**REFUND, "percent": "5", "min_withdrawal": 10**9}, price=None)
    assert (q.fee, q.net) == (50, 950) and q.refusal is None  # 5% in kind only, no minimum
    assert "not applied without a price: withdrawal_fee, min_withdrawal" in q.lines


def test_refusal_error_maps_the_new_code():
    err = refusal_error("below_min_withdrawal", "too small")
    assert isinstance(err, BelowMinWithdrawal) and err.exit_code == 7 and err.code == "below_min_withdrawal"


def test_round_trip_and_json_safe():
    table = {**REFUND, "percent": "1", "min_withdrawal": "20000"}
    for q in (native(10_000000, table), native(19999, table, price=None), token(100_000000, table)):
        d = json.loads(json.dumps(q.to_dict()))
        assert d["policy"]["withdrawal_fee"] == "1000" and d["policy"]["withdrawal_fee_multiple"] == "5"
        assert d["policy"]["min_withdrawal"] == "20000"
        assert Quote.from_dict(d) == q
