"""A network's fee policy: the ``[fee]`` TOML table, validated strictly.

Money values are Decimal parsed from strings (ints tolerated, floats never: a float in a fee
table is a config error, as is an unknown key), so a typo cannot silently change a fee.
Base-unit amounts (``withdrawal_fee``, ``min_withdrawal``) are whole numbers of the network's
native coin, given as TOML integers or digit strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from .amounts import ceil_ratio, exact_context, parse_decimal, plain
from .errors import InvalidFeePolicy

MONEY_FIELDS = ("percent", "percent_above_usd", "flat_usd", "min_usd", "max_usd", "min_value_usd")
#: Decimals parsed like money (strings, no floats, >= 0) that are not USD amounts.
DECIMAL_FIELDS = (*MONEY_FIELDS, "withdrawal_fee_multiple")
#: Whole base units of the native coin; serialised as digit strings like the quote's amounts.
BASE_UNIT_FIELDS = ("withdrawal_fee", "min_withdrawal")
#: Upper bound of a base-unit amount (the quote's own bound on amounts).
MAX_BASE_UNITS = 10**40


class FeePolicy(BaseModel):
    """Fee rules of one network. Unset money fields mean "rule not applied".

    With a ``[fee]`` table, only what the table says applies (``percent`` unset = no percent fee);
    without one, ``FeePolicy.default()`` applies: 5 percent, network cost deducted, unpriced
    assets charged the percent in kind.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    percent: Decimal | None = None
    percent_above_usd: Decimal | None = None
    flat_usd: Decimal | None = None
    min_usd: Decimal | None = None
    max_usd: Decimal | None = None
    min_value_usd: Decimal | None = None
    network_cost: Literal["deduct", "absorb"] = "deduct"
    unpriced: Literal["refuse", "percent_only"] = "percent_only"
    max_age_days: int | None = None
    # Shared-wallet refunds (Cosmos, XRP Ledger, Stellar): exchanges charge "N x the withdrawal
    # fee" and refuse below the minimum withdrawal, both stated in the native coin.
    withdrawal_fee: int | None = None
    withdrawal_fee_multiple: Decimal | None = None
    min_withdrawal: int | None = None

    @field_validator(*DECIMAL_FIELDS, mode="before")
    @classmethod
    def _money(cls, value: Any, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        result = parse_decimal(value, info.field_name or "value")
        if result < 0:
            raise ValueError(f"must not be negative, got {value!r}")
        return result

    @field_validator("percent")
    @classmethod
    def _percent_range(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value > 100:
            raise ValueError(f"a percent must be between 0 and 100, got {plain(value)}")
        return value

    @field_validator("max_age_days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError(f"must be a whole number of days, not {type(value).__name__} {value!r}")
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise ValueError(f"must be a whole number of days, got {value!r}")
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError(f"must be a whole number of days, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value

    @field_validator(*BASE_UNIT_FIELDS, mode="before")
    @classmethod
    def _base_units(cls, value: Any) -> int | None:
        """A whole number of native base units: a float (0.5 of a base unit?) or a sign is a typo."""
        if value is None:
            return None
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError(f"must be a whole number of native base units, not {type(value).__name__} {value!r}")
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("-") and text[1:].isdigit():
                raise ValueError(f"must not be negative, got {value!r}")
            if not (text.isascii() and text.isdigit()):
                raise ValueError(f"must be a whole number of native base units, got {value!r}")
            value = int(text)
        if not isinstance(value, int):
            raise ValueError(f"must be a whole number of native base units, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        if value > MAX_BASE_UNITS:
            raise ValueError(f"is out of range (at most 10^40 base units), got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "FeePolicy":
        if self.min_usd is not None and self.max_usd is not None and self.min_usd > self.max_usd:
            raise ValueError(f"min_usd ({plain(self.min_usd)}) is above max_usd ({plain(self.max_usd)})")
        if self.percent_above_usd is not None and self.percent is None:
            raise ValueError("percent_above_usd is set but percent is not")
        if (self.withdrawal_fee is None) != (self.withdrawal_fee_multiple is None):
            have, missing = (
                ("withdrawal_fee", "withdrawal_fee_multiple")
                if self.withdrawal_fee is not None
                else ("withdrawal_fee_multiple", "withdrawal_fee")
            )
            raise ValueError(
                f"{have} is set but {missing} is not: withdrawal_fee and withdrawal_fee_multiple go together"
            )
        return self

    @property
    def withdrawal_fee_native(self) -> int | None:
        """The refund's withdrawal-fee part in native base units: ceil(multiple x fee), None if unset.

        Rounded up like every fee, so a fractional multiple never undercharges.
        """
        if self.withdrawal_fee is None or self.withdrawal_fee_multiple is None:
            return None
        with exact_context():
            return ceil_ratio(self.withdrawal_fee_multiple * self.withdrawal_fee, Decimal(1))

    @classmethod
    def default(cls) -> "FeePolicy":
        """The policy of a network without a ``[fee]`` table."""
        return cls(percent=Decimal(5), network_cost="deduct", unpriced="percent_only")

    @classmethod
    def from_table(cls, table: dict | None, source: str) -> "FeePolicy":
        """Validate a ``[fee]`` table; errors become InvalidFeePolicy naming ``source`` and the key."""
        if table is None:
            return cls.default()
        if not isinstance(table, dict):
            raise InvalidFeePolicy(
                f"{source}: [fee] must be a table, not {type(table).__name__}", details={"file": source}
            )
        try:
            return cls.model_validate(table)
        except ValidationError as exc:
            raise _policy_error(exc, source) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (Decimals and base units as strings), e.g. to record in a quote.

        Base units are strings like the quote's amounts: 10^40 does not survive a JSON reader
        that uses doubles.
        """
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Decimal):
                value = plain(value)
            elif name in BASE_UNIT_FIELDS and value is not None:
                value = str(value)
            out[name] = value
        return out


def _policy_error(exc: ValidationError, source: str) -> InvalidFeePolicy:
    problems = []
    keys = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err.get("loc", ())) or None
        if err.get("type") == "extra_forbidden":
            text = "unknown key"
        else:
            text = err.get("msg", "invalid").removeprefix("Value error, ")
        if key:
            keys.append(key)
            problems.append(f"key '{key}': {text}")
        else:
            problems.append(text)
    message = f"{source}: invalid fee policy: " + "; ".join(problems)
    return InvalidFeePolicy(message, details={"file": source, "keys": keys, "key": keys[0] if keys else None})
