"""Pure fee engine: fee policies, USD prices and recovery quotes.

No I/O, no node, no database: callers pass amounts, prices (with their times) and the policy,
and get back a Quote that explains every number. See ``quote.compute_quote``.

The fee policy and the quote (pydantic models) load when first used: ``fees.amounts`` alone (exact
USD arithmetic, which the read path of ``case show`` and ``queue list`` needs) stays light.
"""

import importlib

from .amounts import format_units
from .errors import (
    BelowMinValue,
    BelowMinWithdrawal,
    FeeError,
    InvalidFeePolicy,
    InvalidPrice,
    InvalidQuoteInput,
    MissingNativePrice,
    PolicyRefused,
    StalePrice,
    TooOld,
    Uneconomical,
    Unpriced,
    refusal_error,
)
from .prices import DEFAULT_MAX_PRICE_AGE, DictPriceSource, Price, PriceSource, parse_usd_price

_LAZY = {"FeePolicy": ".policy", "Quote": ".quote", "Refusal": ".quote", "compute_quote": ".quote",
         "quote_from_source": ".quote"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'fees' has no attribute {name!r}")

__all__ = [
    "BelowMinValue",
    "BelowMinWithdrawal",
    "DEFAULT_MAX_PRICE_AGE",
    "DictPriceSource",
    "FeeError",
    "FeePolicy",
    "InvalidFeePolicy",
    "InvalidPrice",
    "InvalidQuoteInput",
    "MissingNativePrice",
    "PolicyRefused",
    "Price",
    "PriceSource",
    "Quote",
    "Refusal",
    "StalePrice",
    "TooOld",
    "Uneconomical",
    "Unpriced",
    "compute_quote",
    "format_units",
    "parse_usd_price",
    "quote_from_source",
    "refusal_error",
]
