"""Exact money arithmetic: Decimal for USD, int for base units, never float.

USD values are products of bounded-precision inputs, so a wide local context keeps them exact.
The only inexact step, USD -> base units, goes through integer ratios so rounding up or down
is exact (no context rounding can push a fee one unit the wrong way).
"""

from __future__ import annotations

import decimal
from decimal import Decimal

# Inputs are bounded (MAX_DIGITS significant digits, exponent within +-MAX_EXPONENT, amounts up to
# ~10^30, decimals up to MAX_DECIMALS), so every USD product and sum fits in this precision exactly.
CONTEXT = decimal.Context(
    prec=300,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=10_000,
    Emin=-10_000,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
MAX_DIGITS = 40
MAX_EXPONENT = 40
MAX_DECIMALS = 36


def exact_context():
    """A local decimal context wide enough that USD arithmetic on our inputs never rounds."""
    return decimal.localcontext(CONTEXT)


def parse_decimal(value: object, what: str) -> Decimal:
    """Parse a money value from a string (or int / Decimal); raise ValueError saying what is wrong.

    Floats are refused: a binary float cannot hold 0.1 and money must not drift.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a decimal string like \"5\", not a boolean")
    if isinstance(value, float):
        raise ValueError(f"{what} must be a decimal string like \"5\", not a float ({value!r}): floats lose precision")
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"{what} is empty")
        try:
            result = Decimal(text)
        except decimal.InvalidOperation:
            raise ValueError(f"{what} is not a number: {value!r}") from None
    else:
        raise ValueError(f"{what} must be a decimal string, not {type(value).__name__}")
    if result.is_nan():
        raise ValueError(f"{what} is not a number: {value!r}")
    if result.is_infinite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    if result.is_zero():
        return Decimal(0)
    if len(result.as_tuple().digits) > MAX_DIGITS or abs(result.adjusted()) > MAX_EXPONENT:
        raise ValueError(f"{what} is out of range or has too many digits: {value!r}")
    return result


def ceil_ratio(num: Decimal, den: Decimal) -> int:
    """ceil(num / den) exactly, for den > 0."""
    n1, d1 = num.as_integer_ratio()
    n2, d2 = den.as_integer_ratio()
    return -((-n1 * d2) // (d1 * n2))


def floor_ratio(num: Decimal, den: Decimal) -> int:
    """floor(num / den) exactly, for den > 0."""
    n1, d1 = num.as_integer_ratio()
    n2, d2 = den.as_integer_ratio()
    return (n1 * d2) // (d1 * n2)


def to_usd(units: int, decimals: int, usd_price: Decimal) -> Decimal:
    """Exact USD value of ``units`` base units of an asset with ``decimals`` at ``usd_price``."""
    with exact_context():
        return (Decimal(units) * usd_price).scaleb(-decimals)


def usd_to_units_ceil(usd: Decimal, decimals: int, usd_price: Decimal) -> int:
    """Base units worth at least ``usd`` (rounded up to the base unit)."""
    with exact_context():
        return ceil_ratio(usd.scaleb(decimals), usd_price)


def format_units(units: int, decimals: int) -> str:
    """Human form of base units: 1500000 with 6 decimals -> '1.500000'."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def plain(value: Decimal) -> str:
    """A Decimal as a plain exact string, no exponent, no trailing zeros: 1E+2 -> '100', 1.50 -> '1.5'."""
    with exact_context():
        return format(value.normalize(), "f")


def format_usd(value: Decimal) -> str:
    """USD for explanation lines: exact up to 6 places, '~' marks a rounded display."""
    with exact_context():
        shown = value.quantize(Decimal("0.000001"), rounding=decimal.ROUND_HALF_EVEN)
        text = format(shown.normalize(), "f")
        if "." in text:
            whole, frac = text.split(".")
            text = f"{whole}.{frac.ljust(2, '0')}"
        else:
            text = f"{text}.00"
        return text if shown == value else f"~{text}"
