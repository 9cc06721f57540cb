"""FeePolicy parsing: strings to Decimal, floats/unknown keys/negatives refused naming file and key."""

import tomllib
from decimal import Decimal

import pytest

from fees import FeePolicy, InvalidFeePolicy

SRC = "chain_configs/x.toml [fee]"


def test_defaults_without_table():
    p = FeePolicy.from_table(None, SRC)
    assert p.percent == Decimal("5")
    assert p.network_cost == "deduct"
    assert p.unpriced == "percent_only"
    assert p.flat_usd is p.min_usd is p.max_usd is p.min_value_usd is p.percent_above_usd is None
    assert p.max_age_days is None


def test_table_sets_only_what_it_says():
    p = FeePolicy.from_table({"flat_usd": "200", "min_value_usd": "500"}, SRC)
    assert p.percent is None
    assert p.flat_usd == Decimal("200") and p.min_value_usd == Decimal("500")
    assert p.network_cost == "deduct" and p.unpriced == "percent_only"


def test_parses_toml_strings_and_ints():
    table = tomllib.loads(
        """
        [fee]
        percent = "5"
        percent_above_usd = "100"
        min_usd = 10
        max_usd = "1000.50"
        network_cost = "absorb"
        unpriced = "refuse"
        max_age_days = 90
        """
    )["fee"]
    p = FeePolicy.from_table(table, SRC)
    assert p.percent == Decimal("5") and isinstance(p.percent, Decimal)
    assert p.min_usd == Decimal("10") and p.max_usd == Decimal("1000.50")
    assert p.max_age_days == 90
    assert p.to_dict()["max_usd"] == "1000.5"


def test_frozen():
    p = FeePolicy.default()
    with pytest.raises(Exception):
        p.percent = Decimal(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    "toml_text, key, words",
    [
        ('percent = 5.0', "percent", "float"),
        ('min_usd = 0.5', "min_usd", "float"),
        ('max_age_days = 90.0', "max_age_days", "float"),
        ('percnt = "5"', "percnt", "unknown key"),
        ('percent = "-1"', "percent", "negative"),
        ('flat_usd = -200', "flat_usd", "negative"),
        ('max_age_days = -1', "max_age_days", "negative"),
        ('percent = "five"', "percent", "not a number"),
        ('percent = "NaN"', "percent", "not a number"),
        ('percent = "Infinity"', "percent", "finite"),
        ('percent = "101"', "percent", "between 0 and 100"),
        ('percent = true', "percent", "boolean"),
        ('network_cost = "pay"', "network_cost", "deduct"),
        ('unpriced = "free"', "unpriced", "refuse"),
    ],
)
def test_bad_tables_name_file_and_key(toml_text, key, words):
    table = tomllib.loads(toml_text)
    with pytest.raises(InvalidFeePolicy) as info:
        FeePolicy.from_table(table, SRC)
    err = info.value
    assert err.code == "invalid_fee_policy" and err.exit_code == 4
    assert SRC in str(err)
    assert f"'{key}'" in str(err)
    assert words in str(err)
    assert err.details["key"] == key


def test_min_above_max_is_an_error():
    with pytest.raises(InvalidFeePolicy, match="min_usd .* above max_usd"):
        FeePolicy.from_table({"min_usd": "10", "max_usd": "5"}, SRC)


def test_percent_above_without_percent_is_an_error():
    with pytest.raises(InvalidFeePolicy, match="percent_above_usd"):
        FeePolicy.from_table({"percent_above_usd": "100"}, SRC)


def test_table_must_be_a_table():
    with pytest.raises(InvalidFeePolicy, match=r"x\.toml"):
        FeePolicy.from_table("5%", SRC)  # type: ignore[arg-type]


def test_direct_construction_refuses_floats():
    with pytest.raises(Exception, match="float"):
        FeePolicy(percent=0.1)  # type: ignore[arg-type]
