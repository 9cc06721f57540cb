"""XRP Ledger addresses, transaction hashes and issued-currency assets (pure; xrpl-py's address codec).

* Classic addresses (``r...``, base58 with the ledger's alphabet and a 4-byte checksum) are what the
  ledger stores and what this toolkit keeps.  X-addresses (an address and a destination tag in one
  string) are accepted where an address is only *checked*; :func:`classic_of` splits one.
* A txid is the 64-hex SHA-512Half of the signed blob, upper case as rippled prints it.
* An asset is ``NATIVE`` (XRP, in drops) or an issued currency ``CUR.issuer``: ``CUR`` a 3-character
  code (not "XRP") or 40 hex digits, ``issuer`` a classic address.
"""

from __future__ import annotations

import re

from chains.assets import NATIVE
from chains.errors import InvalidAddress, InvalidTxid

# Imports inside functions: xrpl-py's address codec loads on first use (importing the family loads no SDK).

_TXID = re.compile(r"^[0-9A-Fa-f]{64}$")
_CURRENCY = re.compile(r"^([A-Za-z0-9?!@#$%^&*<>(){}\[\]|]{3}|[0-9A-Fa-f]{40})$")
MAX_TAG = 2 ** 32 - 1


def classic_of(address: str) -> tuple[str, int | None]:
    """``(classic address, tag or None)`` of a classic or X-address; ``InvalidAddress`` otherwise."""
    from xrpl.core import addresscodec

    if isinstance(address, str) and addresscodec.is_valid_classic_address(address):
        return address, None
    if isinstance(address, str) and addresscodec.is_valid_xaddress(address):
        classic, tag, _test = addresscodec.xaddress_to_classic_address(address)
        return classic, (tag if tag is not False else None)
    raise InvalidAddress(f"{address!r} is not an XRP Ledger address (bad characters or checksum)")


def validate_address(address: str, *, what: str = "address", network=None) -> str:
    """``address`` if it is a classic address or an X-address with a valid checksum, else
    ``InvalidAddress`` naming ``what``.  (Plans and refunds use classic addresses: an X-address's tag
    would silently replace ``--return-memo``; see :func:`require_classic`.)"""
    try:
        classic_of(address)
    except InvalidAddress:
        raise InvalidAddress(f"{what} {address!r} is not an XRP Ledger address (bad characters or checksum)") from None
    return address


def require_classic(address: str, *, what: str = "address") -> str:
    """A classic address, refusing an X-address: the tag it carries must be given as the memo instead."""
    classic, tag = classic_of(address)
    if classic != address:
        raise InvalidAddress(f"{what} {address!r} is an X-address (tag {tag}): give the classic address "
                             f"{classic} and the tag as the memo (--return-memo {tag})" if tag is not None else
                             f"{what} {address!r} is an X-address: give the classic address {classic}")
    return address


def normalize_txid(txid: str) -> str:
    if not isinstance(txid, str) or not _TXID.match(txid):
        raise InvalidTxid(f"transaction hash {txid!r} is not 64 hex digits")
    return txid.upper()


def address_key(address: str) -> str:
    """Classic addresses are case-sensitive base58: compared as written."""
    return address


def validate_asset(asset: str, *, network=None) -> str:
    """``NATIVE`` or ``CUR.issuer`` (an issued currency: a 3-character code other than XRP, or 40 hex)."""
    if asset == NATIVE:
        return asset
    cur, _, issuer = asset.partition(".") if isinstance(asset, str) else ("", "", "")
    if not _CURRENCY.match(cur or "") or cur.upper() == "XRP":
        raise InvalidAddress(f"asset {asset!r} is not an issued currency CUR.issuer (CUR: 3 characters other than "
                             "XRP, or 40 hex digits)")
    from xrpl.core import addresscodec

    if not addresscodec.is_valid_classic_address(issuer):
        raise InvalidAddress(f"asset {asset!r}: the issuer {issuer!r} is not a classic XRP Ledger address")
    return asset


def tag_of(memo: str | None) -> int | None:
    """A memo (the domain's text) as a DestinationTag: decimal digits, 0..2^32-1; None for no memo."""
    if memo is None or memo == "":
        return None
    from chains.errors import InvalidRequest

    if not memo.isdigit() or int(memo) > MAX_TAG:
        raise InvalidRequest(f"memo {memo!r} is not a destination tag (an integer 0..{MAX_TAG})", code="bad_memo")
    return int(memo)
