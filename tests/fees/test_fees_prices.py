"""Prices: strict parsing, aware UTC times, staleness, the in-memory source."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fees import DictPriceSource, InvalidPrice, Price, PriceSource, parse_usd_price

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [("1", "1"), (" 0.9998 ", "0.9998"), ("65000.12", "65000.12"), ("1e-8", "1E-8")])
def test_parse_good(text, expected):
    assert parse_usd_price(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text, words",
    [
        ("-1", "negative"),
        ("-0.01", "negative"),
        ("0", "greater than 0"),
        ("abc", "not a number"),
        ("", "empty"),
        ("1,000", "not a number"),
        ("NaN", "not a number"),
        ("sNaN", "not a number"),
        ("inf", "finite"),
        ("-Infinity", "finite"),
        (1.5, "float"),
        (None, "not NoneType"),
    ],
)
def test_parse_bad(text, words):
    with pytest.raises(InvalidPrice) as info:
        parse_usd_price(text, "ETH")
    assert info.value.code == "invalid_price" and info.value.exit_code == 4
    assert words in str(info.value)
    assert "ETH" in str(info.value)


def test_price_needs_aware_time_and_normalises_to_utc():
    with pytest.raises(InvalidPrice, match="timezone-aware"):
        Price("ETH", Decimal("3000"), datetime(2025, 1, 1))
    plus2 = timezone(timedelta(hours=2))
    p = Price("ETH", Decimal("3000"), datetime(2025, 1, 1, 14, 0, tzinfo=plus2))
    assert p.at == NOW and p.at.tzinfo == timezone.utc


def test_price_rejects_bad_usd():
    with pytest.raises(InvalidPrice):
        Price("ETH", Decimal("-1"), NOW)
    with pytest.raises(InvalidPrice, match="float"):
        Price("ETH", 3000.0, NOW)  # type: ignore[arg-type]
    assert Price.parse("ETH", "3000.5", NOW).usd == Decimal("3000.5")


def test_staleness():
    p = Price("ETH", Decimal("3000"), NOW - timedelta(minutes=59))
    assert not p.is_stale(NOW)
    assert p.is_stale(NOW, max_age=timedelta(minutes=30))
    assert Price("ETH", Decimal("3000"), NOW - timedelta(hours=1, seconds=1)).is_stale(NOW)
    assert Price("ETH", Decimal("3000"), NOW + timedelta(hours=1)).is_stale(NOW)  # future: not trusted


def test_dict_source():
    src = DictPriceSource([Price("ETH", Decimal("3000"), NOW)])
    assert isinstance(src, PriceSource)
    assert src.get("ETH").usd == Decimal("3000")
    assert src.get("XYZ") is None
    src.set(Price("ETH", Decimal("3100"), NOW))
    assert src.get("ETH").usd == Decimal("3100")
    assert Price("ETH", Decimal("3000"), NOW).to_dict() == {"asset": "ETH", "usd": "3000", "at": "2025-01-01T12:00:00+00:00"}
