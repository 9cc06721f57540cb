"""What the Stellar modules share: amounts (Horizon prints 7-decimal text; stroops are ints), asset names,
memos as the toolkit records them, and the node answer guard."""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal

from chains.assets import NATIVE
from chains.transport import reads_node  # noqa: F401 - the family's adapters import it from here

# Imports inside functions: stellar-sdk's Asset loads on first use, not when the family is imported.

DECIMALS = 7  # XLM and every credit asset: amounts are int64 stroops, shown with 7 decimals
_SCALE = Decimal(10) ** DECIMALS


def to_stroops(text: str) -> int:
    """``"100.5000000"`` -> 1005000000 (exact: Decimal; more than 7 decimals is refused, never rounded)."""
    value = Decimal(str(text)) * _SCALE
    if value != value.to_integral_value():
        raise ValueError(f"amount {text!r} has more than {DECIMALS} decimals")
    return int(value)


def from_stroops(stroops: int) -> str:
    """1005000000 -> ``"100.5000000"`` (what stellar-sdk's operations take)."""
    return str((Decimal(int(stroops)) / _SCALE).quantize(Decimal(1) / _SCALE))


def asset_of(record: dict, prefix: str = "") -> str:
    """A Horizon record's asset fields (``asset_type``, ``asset_code``, ``asset_issuer``) -> ``NATIVE`` or
    ``CODE:ISSUER``."""
    if record[f"{prefix}asset_type"] == "native":
        return NATIVE
    return f"{record[f'{prefix}asset_code']}:{record[f'{prefix}asset_issuer']}"


def sdk_asset(asset: str):
    """The stellar-sdk ``Asset`` of ``NATIVE`` or ``CODE:ISSUER``."""
    from stellar_sdk import Asset

    if asset == NATIVE:
        return Asset.native()
    code, _, issuer = asset.partition(":")
    return Asset(code, issuer)


def memo_text(memo_type: str | None, memo: str | None) -> str | None:
    """A Horizon transaction's memo as the toolkit records it: text as is, an id as its decimal text, a hash or
    return hash (base64 in Horizon) as hex; None without one."""
    if memo_type in (None, "none") or memo is None:
        return None
    if memo_type in ("hash", "return"):
        return base64.b64decode(memo).hex()
    return str(memo) or None


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
