"""Pure fee engine: fee policies, USD prices and recovery quotes.

No I/O, no node, no database: callers pass amounts, prices (with their times) and the policy,
and get back a Quote that explains every number. See ``quote.compute_quote``.
"""

from .amounts import format_units
from .errors import (
    BelowMinValue,
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
from .policy import FeePolicy
from .prices import DEFAULT_MAX_PRICE_AGE, DictPriceSource, Price, PriceSource, parse_usd_price
from .quote import Quote, Refusal, compute_quote, quote_from_source

__all__ = [
    "BelowMinValue",
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
