"""Cosmos account addresses (bech32 of 20 bytes under the network's prefix, by the ``bech32`` package)
and transaction hashes (64 hex digits, the SHA-256 of the signed bytes, upper case as nodes print them).

An address's data part is 20 bytes whatever the key type: RIPEMD-160(SHA-256(compressed key)) for
``secp256k1``, the last 20 bytes of Keccak-256 for ``eth_secp256k1``.  Module accounts (32 bytes) are
never a user's or ours, so they are refused here.
"""

from __future__ import annotations

import re

from chains.errors import InvalidAddress, InvalidTxid

# Imports inside functions: nothing but the small bech32 package is needed, and it loads on first use.

_TXID = re.compile(r"^[0-9A-Fa-f]{64}$")
ADDRESS_BYTES = 20


def decode(address: str) -> tuple[str, bytes] | None:
    """``(prefix, 20-or-more data bytes)`` of a bech32 string whose checksum holds, else None."""
    import bech32

    if not isinstance(address, str) or not address or len(address) > 90:
        return None
    hrp, data = bech32.bech32_decode(address)
    if hrp is None or data is None:
        return None
    raw = bech32.convertbits(data, 5, 8, False)
    return None if raw is None else (hrp, bytes(raw))


def encode(prefix: str, raw: bytes) -> str:
    """The bech32 address of ``raw`` (20 bytes) under ``prefix``."""
    import bech32

    return bech32.bech32_encode(prefix, bech32.convertbits(list(raw), 8, 5, True))


def validate_address(address: str, *, what: str = "address", network=None) -> str:
    """Return ``address`` if it is bech32 with a valid checksum, lower case, 20 bytes of data and (when
    ``network`` is given) the network's ``bech32_prefix``; else ``InvalidAddress`` naming ``what``."""
    decoded = decode(address)
    if decoded is None:
        raise InvalidAddress(f"{what} {address!r} is not a bech32 address (bad characters or checksum)")
    hrp, raw = decoded
    if address != address.lower():
        raise InvalidAddress(f"{what} {address!r}: write Cosmos addresses in lower case")
    if len(raw) != ADDRESS_BYTES:
        raise InvalidAddress(f"{what} {address!r} holds {len(raw)} bytes, not an account's {ADDRESS_BYTES}")
    opts = getattr(network, "cosmos", None)
    if opts is not None and hrp != opts.bech32_prefix:
        raise InvalidAddress(f"{what} {address!r} has prefix {hrp!r}: {network.key} addresses start with "
                             f"{opts.bech32_prefix}1")
    return address


def normalize_txid(txid: str) -> str:
    """64 hex digits, in upper case (as Cosmos nodes and explorers print hashes)."""
    if not isinstance(txid, str) or not _TXID.match(txid):
        raise InvalidTxid(f"transaction hash {txid!r} is not 64 hex digits")
    return txid.upper()


def address_key(address: str) -> str:
    """bech32 is case-insensitive by definition; the canonical form is lower case."""
    return address.lower() if isinstance(address, str) else address


_DENOM = re.compile(r"^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$")  # the bank module's denomination rule (SDK 0.50)


def validate_asset(denom: str, *, network=None) -> str:
    """An asset on a Cosmos chain is a bank denomination (``uatom``, ``ibc/<hash>``, ``factory/<addr>/<sub>``),
    not an address: checked by the bank module's own rule."""
    if not isinstance(denom, str) or not _DENOM.match(denom):
        raise InvalidAddress(f"asset {denom!r} is not a bank denomination (a letter, then 2 to 127 letters, digits "
                             "or / : . _ -)")
    return denom
