"""USD prices: the value type, the source interface, and strict parsing.

The quote needs to know which price it used and when it was taken, so a Price is always
(asset, usd, aware UTC time); the DB-backed source lives in ``recover`` behind ``PriceSource``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .amounts import parse_decimal, plain
from .errors import InvalidPrice

DEFAULT_MAX_PRICE_AGE = timedelta(hours=1)
# A price stamped this far in the future is treated as stale: a clock that wrong is not trusted.
FUTURE_SKEW = timedelta(minutes=5)


def parse_usd_price(text: object, asset: str | None = None) -> Decimal:
    """Parse a USD price (e.g. "1.0003"); refuse negative, zero, NaN, infinite and non-numeric input.

    Raises InvalidPrice (code "invalid_price", exit 4) with a message saying what is wrong.
    """
    what = f"USD price of {asset}" if asset else "USD price"
    try:
        value = parse_decimal(text, what)
    except ValueError as exc:
        raise InvalidPrice(str(exc), details={"asset": asset, "value": str(text)}) from None
    if value < 0:
        raise InvalidPrice(f"{what} must not be negative, got {text!r}", details={"asset": asset, "value": str(text)})
    if value == 0:
        raise InvalidPrice(
            f"{what} must be greater than 0, got {text!r} (a zero price cannot convert a USD fee into the asset)",
            details={"asset": asset, "value": str(text)},
        )
    return value


def _utc(at: datetime, what: str) -> datetime:
    if not isinstance(at, datetime):
        raise InvalidPrice(f"{what} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidPrice(f"{what} must be timezone-aware (UTC), got naive {at.isoformat()}")
    return at.astimezone(timezone.utc)


@dataclass(frozen=True)
class Price:
    """A USD price of one asset at one moment; validated on construction."""

    asset: str
    usd: Decimal
    at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.asset, str) or not self.asset.strip():
            raise InvalidPrice("price asset must be a non-empty string")
        object.__setattr__(self, "usd", parse_usd_price(self.usd, self.asset))
        object.__setattr__(self, "at", _utc(self.at, f"time of the {self.asset} price"))

    @classmethod
    def parse(cls, asset: str, usd_text: str, at: datetime) -> "Price":
        """Build a Price from user text (CLI ``prices set`` / CSV import)."""
        return cls(asset, parse_usd_price(usd_text, asset), at)

    def age(self, now: datetime) -> timedelta:
        return now - self.at

    def is_stale(self, now: datetime, max_age: timedelta = DEFAULT_MAX_PRICE_AGE) -> bool:
        """Older than ``max_age`` at ``now``, or stamped implausibly far in the future."""
        age = self.age(now)
        return age > max_age or age < -FUTURE_SKEW

    def to_dict(self) -> dict:
        return {"asset": self.asset, "usd": plain(self.usd), "at": self.at.isoformat()}


@runtime_checkable
class PriceSource(Protocol):
    """Where quotes get prices: ``get`` returns the latest known Price of an asset, or None."""

    def get(self, asset: str) -> Price | None: ...


class DictPriceSource:
    """In-memory PriceSource for tests, the demo and scripts."""

    def __init__(self, prices: Mapping[str, Price] | Iterable[Price] = ()):
        self._prices: dict[str, Price] = {}
        items = prices.values() if isinstance(prices, Mapping) else prices
        for price in items:
            self.set(price)

    def set(self, price: Price) -> None:
        if not isinstance(price, Price):
            raise InvalidPrice(f"expected a Price, got {type(price).__name__}")
        self._prices[price.asset] = price

    def get(self, asset: str) -> Price | None:
        return self._prices.get(asset)
