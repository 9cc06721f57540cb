"""Typed fee-engine errors with the ``code``/``exit_code`` convention of DESIGN.md.

``fees`` does not import ``recover``; the CLI maps any exception carrying these attributes to its
exit code, so config mistakes (4) and policy refusals (7) reach the user with a stable code.
"""

from __future__ import annotations

EXIT_INVALID = 4
EXIT_POLICY = 7


class FeeError(Exception):
    """Base of every deliberate fee-engine error."""

    code = "fee_error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details = details or {}

    @property
    def message(self) -> str:
        return str(self)


class InvalidFeePolicy(FeeError):
    """A ``[fee]`` table is wrong; the message names the source file and the key."""

    code = "invalid_fee_policy"
    exit_code = EXIT_INVALID


class InvalidPrice(FeeError):
    """A USD price could not be accepted (negative, zero, NaN, infinite, not a number, naive time)."""

    code = "invalid_price"
    exit_code = EXIT_INVALID


class InvalidQuoteInput(FeeError):
    """The caller passed impossible quote inputs (negative amount, naive datetime...): a bug upstream."""

    code = "invalid_quote_input"
    exit_code = EXIT_INVALID


class PolicyRefused(FeeError):
    """The fee policy refuses the recovery; ``refusal`` is the quote's Refusal when raised from one."""

    code = "policy_refused"
    exit_code = EXIT_POLICY

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None, refusal=None):
        super().__init__(message, code=code, details=details)
        self.refusal = refusal


class TooOld(PolicyRefused):
    code = "too_old"


class Unpriced(PolicyRefused):
    code = "unpriced"


class StalePrice(PolicyRefused):
    code = "stale_price"


class MissingNativePrice(PolicyRefused):
    code = "missing_native_price"


class BelowMinValue(PolicyRefused):
    code = "below_min_value"


class Uneconomical(PolicyRefused):
    code = "uneconomical"


REFUSAL_ERRORS: dict[str, type[PolicyRefused]] = {
    cls.code: cls for cls in (TooOld, Unpriced, StalePrice, MissingNativePrice, BelowMinValue, Uneconomical)
}


def refusal_error(code: str, message: str, refusal=None) -> PolicyRefused:
    """The exception for a refusal code (unknown codes fall back to plain PolicyRefused)."""
    cls = REFUSAL_ERRORS.get(code)
    if cls is None:
        return PolicyRefused(message, code=code, details={"refusal": code}, refusal=refusal)
    return cls(message, details={"refusal": code}, refusal=refusal)
