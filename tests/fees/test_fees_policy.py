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


# Shared-wallet refunds: "N x the withdrawal fee", refused below the minimum withdrawal.

def test_withdrawal_keys_parse_ints_and_digit_strings():
    table = tomllib.loads(
        """
        [fee]
        withdrawal_fee = 1000
        withdrawal_fee_multiple = "5"
        min_withdrawal = "20000"
        """
    )["fee"]
    p = FeePolicy.from_table(table, SRC)
    assert p.withdrawal_fee == 1000 and p.min_withdrawal == 20000
    assert p.withdrawal_fee_multiple == Decimal("5") and isinstance(p.withdrawal_fee_multiple, Decimal)
    assert p.withdrawal_fee_native == 5000


def test_withdrawal_fee_native_rounds_up():
    p = FeePolicy.from_table({"withdrawal_fee": "3", "withdrawal_fee_multiple": "2.5"}, SRC)
    assert p.withdrawal_fee_native == 8  # 2.5 x 3 = 7.5 -> 8
    assert FeePolicy.default().withdrawal_fee_native is None


def test_withdrawal_keys_round_trip_as_strings():
    p = FeePolicy.from_table({"withdrawal_fee": 10**30, "withdrawal_fee_multiple": "1.50", "min_withdrawal": 0}, SRC)
    d = p.to_dict()
    assert (d["withdrawal_fee"], d["withdrawal_fee_multiple"], d["min_withdrawal"]) == (str(10**30), "1.5", "0")
    assert FeePolicy.model_validate(d) == p
    assert FeePolicy.default().to_dict()["withdrawal_fee"] is None


@pytest.mark.parametrize(
    "toml_text, key, words",
    [
        ('withdrawal_fee = 1000.0\nwithdrawal_fee_multiple = "5"', "withdrawal_fee", "float"),
        ('withdrawal_fee = 1000\nwithdrawal_fee_multiple = 5.0', "withdrawal_fee_multiple", "float"),
        ('min_withdrawal = 0.5', "min_withdrawal", "float"),
        ('withdrawal_fee = -1\nwithdrawal_fee_multiple = "5"', "withdrawal_fee", "negative"),
        ('withdrawal_fee = "-1"\nwithdrawal_fee_multiple = "5"', "withdrawal_fee", "negative"),
        ('withdrawal_fee = 1\nwithdrawal_fee_multiple = "-5"', "withdrawal_fee_multiple", "negative"),
        ('min_withdrawal = -7', "min_withdrawal", "negative"),
        ('min_withdrawal = "1e3"', "min_withdrawal", "whole number"),
        ('min_withdrawal = true', "min_withdrawal", "whole number"),
        ('withdrawal_fee = 1\nwithdrawal_fee_multiple = "five"', "withdrawal_fee_multiple", "not a number"),
        ('withdrawl_fee = 1000', "withdrawl_fee", "unknown key"),
    ],
)
def test_bad_withdrawal_keys_name_file_and_key(toml_text, key, words):
    test_bad_tables_name_file_and_key(toml_text, key, words)


@pytest.mark.parametrize("table", [{"withdrawal_fee": 1000}, {"withdrawal_fee_multiple": "5"}])
def test_withdrawal_fee_and_multiple_go_together(table):
    with pytest.raises(InvalidFeePolicy) as info:
        FeePolicy.from_table({**table, "min_withdrawal": 1}, SRC)
    text = str(info.value)
    assert SRC in text and "withdrawal_fee " in text and "withdrawal_fee_multiple" in text
    assert info.value.exit_code == 4
