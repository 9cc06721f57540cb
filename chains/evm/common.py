"""Small pieces the EVM modules share: checksums (eth-utils, cached), JSON-RPC quantities and hex
bytes (eth-utils), and a batch of deduplicated calls."""

from __future__ import annotations

import json
import threading
from typing import Any

from eth_utils import decode_hex, to_checksum_address

from chains.transport import JsonRpcClient

_CHECKSUMS: dict[Any, str] = {}  # any accepted spelling -> its EIP-55 form; the EIP-55 form maps to itself
_CHECKSUMS_MAX = 1 << 16
_CHECKSUMS_LOCK = threading.Lock()


def cs(address: str) -> str:
    """The EIP-55 form of ``address`` (eth-utils; cached: batch verification checksums a lot).

    The cache also knows each answer as its own key, so checksumming an address this function
    returned (an observed recipient, proved next) does not normalise and hash it a second time.
    Bounded: the oldest entries go first.  Only what eth-utils accepted is cached."""
    known = _CHECKSUMS.get(address)
    if known is not None:
        return known
    checksummed = to_checksum_address(address)
    with _CHECKSUMS_LOCK:
        while len(_CHECKSUMS) >= _CHECKSUMS_MAX - 1:
            del _CHECKSUMS[next(iter(_CHECKSUMS))]
        _CHECKSUMS[address] = checksummed
        _CHECKSUMS[checksummed] = checksummed
    return checksummed


def qty(value: Any) -> int | None:
    """A JSON-RPC quantity (``"0x1a"``) as int (None stays None)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(value, 16)


def hexbytes(value: Any) -> bytes:
    """``0x``-hex data (or bytes) as bytes; None is empty."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return decode_hex(value)


_CALL_KEY = json.JSONEncoder(sort_keys=True).encode  # = json.dumps(.., sort_keys=True), its encoder built once


class Batch:
    """Collects JSON-RPC calls, deduplicating identical ones; ``run`` answers by handle."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []
        self._index: dict[str, int] = {}

    def add(self, method: str, params: list) -> int:
        key = _CALL_KEY([method, params])
        if key not in self._index:
            self._index[key] = len(self.calls)
            self.calls.append((method, params))
        return self._index[key]

    def run(self, client: JsonRpcClient) -> list[Any]:
        return client.batch(self.calls)
