"""ERC-20 call data and answers, by eth-abi (no hand-padded words): ``balanceOf``, ``decimals``,
``symbol``, ``transfer`` and the ``Transfer`` event.

The hot one-word reads (a ``uint256`` answer, a ``Transfer`` log, ``balanceOf`` call data) use
eth-abi's own coders for those types, taken from its registry once: ``eth_abi.decode`` of a tuple of
static types first runs every element's decoder once to check head pointers (a static tuple has
none) and then again to decode, and looks the coders up per call.  The coders, and so every check
(length, padding), are the library's; only that repetition is gone."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.decoding import ContextFramesBytesIO
from eth_abi.registry import registry as abi_registry
from eth_utils import function_signature_to_4byte_selector, keccak

from chains.evm.common import cs, hexbytes
from chains.transport import RpcError

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
_TRANSFER = function_signature_to_4byte_selector("transfer(address,uint256)")
DECIMALS_DATA = "0x" + function_signature_to_4byte_selector("decimals()").hex()
SYMBOL_DATA = "0x" + function_signature_to_4byte_selector("symbol()").hex()
# static (one-word) coders of the default registry, the ones eth_abi.encode/decode use for these types
_ADDRESS_ENCODER = abi_registry.get_encoder("address")
_ADDRESS_DECODER = abi_registry.get_decoder("address")
_UINT256_DECODER = abi_registry.get_decoder("uint256")


@lru_cache(maxsize=1 << 16)
def balance_of_data(owner: str) -> str:
    return "0x" + (_BALANCE_OF + _ADDRESS_ENCODER(owner.lower())).hex()


def transfer_data(to: str, amount: int) -> str:
    return "0x" + (_TRANSFER + abi_encode(["address", "uint256"], [to.lower(), amount])).hex()


def transfer_args(data: Any) -> tuple[str, int] | None:
    """(to, amount) of ``transfer`` call data (None: not a transfer call)."""
    raw = hexbytes(data)
    if raw[:4] != _TRANSFER:
        return None
    try:
        to, amount = abi_decode(["address", "uint256"], raw[4:])
    except Exception:
        return None
    return cs(to), int(amount)


def uint_result(value: Any) -> int | None:
    """An ``eth_call`` answer holding one uint256 (None: an error or not a well-formed answer)."""
    if isinstance(value, RpcError) or value is None:
        return None
    try:  # as abi_decode(["uint256"], data, strict=False)[0]: the first word; shorter data is refused
        return int(_UINT256_DECODER(ContextFramesBytesIO(hexbytes(value))))
    except Exception:
        return None


def symbol_result(value: Any) -> str | None:
    """``symbol()``: an ABI string, or a bytes32 (MKR style); None when unreadable or unprintable."""
    if isinstance(value, RpcError) or value is None:
        return None
    raw = hexbytes(value)
    if not raw:
        return None
    try:
        text = abi_decode(["string"], raw)[0]
    except Exception:
        text = None
        if len(raw) == 32:
            try:
                text = abi_decode(["bytes32"], raw)[0].rstrip(b"\x00").decode("utf-8")
            except (UnicodeDecodeError, Exception):
                return None
    if text is None:
        return None
    text = text.strip("\x00").strip()
    return text if text and text.isprintable() else None


def transfer_log(log: dict) -> tuple[str, str, int] | None:
    """(from, to, amount) of an ERC-20 ``Transfer`` log; None for any other log (or a removed one)."""
    topics = log.get("topics") or []
    if log.get("removed") or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
        return None
    data = hexbytes(log.get("data"))
    if len(data) != 32:
        return None
    try:  # the indexed (from, to) words, then the data word: one ABI (address, address, uint256)
        stream = ContextFramesBytesIO(hexbytes(topics[1]) + hexbytes(topics[2]) + data)
        frm, dst, amount = _ADDRESS_DECODER(stream), _ADDRESS_DECODER(stream), _UINT256_DECODER(stream)
    except Exception:
        return None
    return cs(frm), cs(dst), int(amount)
