"""Stellar account addresses (``G...`` ed25519 public keys and ``M...`` muxed accounts, StrKey with its
CRC16 checksum, checked by stellar-sdk), transaction hashes (64 hex digits, lower case as Horizon prints
them) and credit assets (``CODE:ISSUER``)."""

from __future__ import annotations

import re

from chains.errors import InvalidAddress, InvalidTxid

# Imports inside functions: stellar-sdk's StrKey loads on first use, not when the family is imported.

_TXID = re.compile(r"^[0-9A-Fa-f]{64}$")
_CODE = re.compile(r"^[A-Za-z0-9]{1,12}$")


def base_account(address: str) -> str:
    """The ``G...`` account of a ``G...`` or ``M...`` address (a muxed address pays its base account)."""
    from stellar_sdk import MuxedAccount

    return MuxedAccount.from_account(address).account_id if address.startswith("M") else address


def validate_address(address: str, *, what: str = "address", network=None) -> str:
    """Return ``address`` if it is a ``G...`` account or an ``M...`` muxed account whose StrKey checksum
    holds; else ``InvalidAddress`` naming ``what``."""
    from stellar_sdk import StrKey

    ok = isinstance(address, str) and (
        (address.startswith("G") and StrKey.is_valid_ed25519_public_key(address))
        or (address.startswith("M") and StrKey.is_valid_med25519_public_key(address)))
    if not ok:
        raise InvalidAddress(f"{what} {address!r} is not a Stellar account (G... or M..., with a valid checksum)")
    return address


def normalize_txid(txid: str) -> str:
    """64 hex digits, in lower case (as Horizon and explorers print hashes)."""
    if not isinstance(txid, str) or not _TXID.match(txid):
        raise InvalidTxid(f"transaction hash {txid!r} is not 64 hex digits")
    return txid.lower()


def address_key(address: str) -> str:
    """StrKey is case-sensitive base32 in upper case: addresses compare as written."""
    return address


def validate_asset(value: str, *, network=None) -> str:
    """A non-native Stellar asset is ``CODE:ISSUER``: 1 to 12 letters or digits, and the issuing ``G...``
    account (the code alone names nothing: anyone can issue "USDC")."""
    code, _, issuer = (value or "").partition(":") if isinstance(value, str) else ("", "", "")
    if not _CODE.match(code) or not issuer.startswith("G"):
        raise InvalidAddress(f"asset {value!r} is not CODE:ISSUER (1 to 12 letters or digits, then the issuer's G... "
                             "account)")
    validate_address(issuer, what="asset issuer")
    return value
