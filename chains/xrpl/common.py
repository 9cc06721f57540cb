"""What the XRPL modules share: amounts (drops as int, issued currencies as ``CUR.issuer``), times, the
node answer guard (the Cosmos family's)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from chains.assets import NATIVE
from chains.cosmos.common import reads_node  # noqa: F401 - the same guard: malformed answers are retryable
from chains.errors import PermanentChainError

DROPS_PER_XRP = 1_000_000
#: issued-currency amounts are decimals with 15 significant digits: kept as int units of 10^-15
IOU_DECIMALS = 15
RIPPLE_EPOCH = 946684800  # 2000-01-01T00:00:00Z in Unix seconds
LSF_REQUIRE_DEST_TAG = 0x00020000


def xrp_to_drops(value) -> int:
    """An XRP figure as the node prints it (a ``Decimal``, int or text) -> drops, exactly."""
    drops = Decimal(str(value)) * DROPS_PER_XRP
    if drops != drops.to_integral_value():
        raise ValueError(f"{value} XRP is not a whole number of drops")
    return int(drops)


def amount_of(amount) -> tuple[str, int]:
    """``(asset, base units)`` of a ledger amount: drops text -> (NATIVE, drops); an issued currency
    object -> (``CUR.issuer``, value x 10^15, refused when not exact)."""
    if isinstance(amount, str):
        return NATIVE, int(amount)
    if isinstance(amount, dict) and "currency" in amount and "issuer" in amount:
        units = Decimal(str(amount["value"])).scaleb(IOU_DECIMALS)
        if units != units.to_integral_value():
            raise PermanentChainError(f"the amount {amount['value']} {amount['currency']} has more than "
                                      f"{IOU_DECIMALS} decimals")
        return f"{amount['currency']}.{amount['issuer']}", int(units)
    raise PermanentChainError(f"the amount {amount!r} is not XRP or an issued currency (an MPT?)")


def ripple_time(seconds) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds) + RIPPLE_EPOCH, tz=timezone.utc)
