"""Small pieces the EVM modules share: checksums (eth-utils, cached), JSON-RPC quantities and hex
bytes (eth-utils), and a batch of deduplicated calls."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from eth_utils import decode_hex, to_checksum_address

from chains.transport import JsonRpcClient


@lru_cache(maxsize=1 << 16)
def cs(address: str) -> str:
    """The EIP-55 form of ``address`` (eth-utils; cached: batch verification checksums a lot)."""
    return to_checksum_address(address)


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


class Batch:
    """Collects JSON-RPC calls, deduplicating identical ones; ``run`` answers by handle."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []
        self._index: dict[str, int] = {}

    def add(self, method: str, params: list) -> int:
        key = json.dumps([method, params], sort_keys=True)
        if key not in self._index:
            self._index[key] = len(self.calls)
            self.calls.append((method, params))
        return self._index[key]

    def run(self, client: JsonRpcClient) -> list[Any]:
        return client.batch(self.calls)
