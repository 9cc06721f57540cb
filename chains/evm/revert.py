"""Readable reasons for revert data: ``Error(string)``, ``Panic(uint256)``, custom errors (by eth-abi)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

from chains.evm.common import cs, hexbytes

_ERROR_STRING = function_signature_to_4byte_selector("Error(string)")
_PANIC = function_signature_to_4byte_selector("Panic(uint256)")

_PANIC_CODES = {
    0x00: "generic panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized function",
}
# custom errors of common token contracts (OpenZeppelin 5, blacklist/pause variants)
_KNOWN_ERRORS = (
    "EnforcedPause()",
    "ExpectedPause()",
    "AccountBlacklisted(address)",
    "Blacklisted(address)",
    "BlacklistedAddress(address)",
    "ERC20InsufficientBalance(address,uint256,uint256)",
    "ERC20InvalidSender(address)",
    "ERC20InvalidReceiver(address)",
    "ERC20InsufficientAllowance(address,uint256,uint256)",
    "ERC20InvalidApprover(address)",
    "ERC20InvalidSpender(address)",
    "OwnableUnauthorizedAccount(address)",
    "OwnableInvalidOwner(address)",
    "AccessControlUnauthorizedAccount(address,bytes32)",
    "ReentrancyGuardReentrantCall()",
)


def _signature_table(signatures: Sequence[str]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for sig in signatures:
        name, _, rest = sig.partition("(")
        types = _split_types(rest[:-1])
        table[function_signature_to_4byte_selector(sig)] = (name, types)
    return table


def _split_types(text: str) -> list[str]:
    """Top-level comma split of a type list that holds tuples."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur:
        out.append(cur)
    return out


@lru_cache(maxsize=1)
def _known_errors() -> dict[bytes, tuple[str, list[str]]]:
    return _signature_table(_KNOWN_ERRORS)


def _abi_errors(abi: Sequence[dict] | None) -> dict[bytes, tuple[str, list[str]]]:
    sigs = [f"{item['name']}({','.join(_abi_type(i) for i in item.get('inputs', []))})"
            for item in abi or () if item.get("type") == "error"]
    return _signature_table(sigs)


def _abi_type(param: dict) -> str:
    t = param["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[len("tuple"):]
    return t


def _fmt_arg(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return cs(value)
    return str(value)


def decode_revert(data: bytes | str | None, abi: Sequence[dict] | None = None) -> str:
    """A readable reason for revert ``data``: the ``Error(string)`` text, ``Panic(0x11): ...``, a custom
    error's name and arguments (from ``abi`` or a table of common token errors), else its selector."""
    try:
        raw = hexbytes(data)
    except Exception:
        return f"reverted with undecodable data {str(data)[:80]!r}"
    if not raw:
        return "reverted without a reason"
    if len(raw) < 4:
        return f"reverted with data 0x{raw.hex()}"
    selector, payload = raw[:4], raw[4:]
    try:
        if selector == _ERROR_STRING:
            return str(abi_decode(["string"], payload)[0])
        if selector == _PANIC:
            code = abi_decode(["uint256"], payload)[0]
            return f"Panic(0x{code:02x}): {_PANIC_CODES.get(code, 'unknown panic code')}"
    except Exception:
        return f"reverted with malformed data 0x{raw.hex()}"
    table = {**_known_errors(), **_abi_errors(abi)}
    if selector in table:
        name, types = table[selector]
        try:
            args = abi_decode(types, payload) if types else ()
            return f"{name}({', '.join(_fmt_arg(a) for a in args)})"
        except Exception:
            return f"{name}(...)"
    return f"custom error 0x{selector.hex()}" + (f" (data 0x{payload.hex()})" if payload else "")
