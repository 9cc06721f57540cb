"""Typed fee-engine errors, on the toolkit's one error root (``chains.errors.ToolkitError``).

``fees`` does not import ``recover``: the root lives at the bottom of the stack, in a module that
imports nothing, so config mistakes (4) and policy refusals (7) reach every surface with a stable code
through the same mapping as every other error.
"""

from __future__ import annotations

from chains.errors import EXIT_INVALID, EXIT_POLICY, ToolkitError


class FeeError(ToolkitError):
    """Base of every deliberate fee-engine error."""

    code = "fee_error"


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


class BelowMinWithdrawal(PolicyRefused):
    code = "below_min_withdrawal"


class Uneconomical(PolicyRefused):
    code = "uneconomical"


REFUSAL_ERRORS: dict[str, type[PolicyRefused]] = {
    cls.code: cls
    for cls in (TooOld, Unpriced, StalePrice, MissingNativePrice, BelowMinValue, BelowMinWithdrawal, Uneconomical)
}


def refusal_error(code: str, message: str, refusal=None) -> PolicyRefused:
    """The exception for a refusal code (unknown codes fall back to plain PolicyRefused)."""
    cls = REFUSAL_ERRORS.get(code)
    if cls is None:
        return PolicyRefused(message, code=code, details={"refusal": code}, refusal=refusal)
    return cls(message, details={"refusal": code}, refusal=refusal)
