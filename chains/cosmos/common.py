"""What the Cosmos modules share: the node answer guard, coin strings, denominations, REST paths."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import quote

from chains.assets import NATIVE
from chains.transport import reads_node  # noqa: F401 - the family's adapters import it from here

_COIN = re.compile(r"^([0-9]+)([a-zA-Z][a-zA-Z0-9/:._-]*)$")
#: Cosmos SDK's default ``MaxMemoCharacters`` (auth params): a longer memo is refused at CheckTx
MAX_MEMO = 256


def parse_coins(text: str) -> list[tuple[str, int]]:
    """``"700inj,5ibc/AB.."`` (an event's ``amount``) -> ``[("inj", 700), ("ibc/AB..", 5)]``."""
    out = []
    for part in (text or "").split(","):
        m = _COIN.match(part.strip())
        if m:
            out.append((m.group(2), int(m.group(1))))
    return out


def denom_of(network, asset: str) -> str:
    """The bank denomination an ``asset`` names (``NATIVE``: the network's native denom)."""
    return network.cosmos.native_denom if asset == NATIVE else asset


def asset_of(network, denom: str) -> str:
    """The ``asset`` of a denomination as every family names assets: ``NATIVE`` for the network's own
    coin (so that the domain's rules for the native coin apply), the denomination itself otherwise."""
    return NATIVE if denom == network.cosmos.native_denom else denom


def hex_hash(b64: str | None) -> str | None:
    """A block id hash as the REST API prints it (base64) -> upper-case hex, as explorers show it."""
    return base64.b64decode(b64).hex().upper() if b64 else None


def parse_time(text: str | None) -> datetime | None:
    """RFC 3339 with nanoseconds (``2026-12-07T11:47:17.235581516Z``) -> an aware datetime (microseconds)."""
    if not text:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}").astimezone(timezone.utc)


def ceil_int(value: Decimal) -> int:
    """The smallest integer at or above ``value`` (exact: Decimal, never float)."""
    return int(value.to_integral_value(rounding="ROUND_CEILING"))


def path_part(value: str) -> str:
    """An address or hash as one URL path segment."""
    return quote(value, safe="")
