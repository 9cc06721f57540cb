"""Address and transaction-id checks for any family, by the family's own rules (checksums where the
format has one).  Each family implements them in ``chains/<family>/addresses.py``; this module only
finds the family (:mod:`chains.registry`), so callers never branch on it.  No chain SDK is imported
before a check needs it, so listing cases never loads web3, bitcoinlib or solders.
"""

from __future__ import annotations

from chains.errors import InvalidAddress, InvalidTxid
from chains.registry import family as _family


def validate_address(family: str, address: str, *, what: str = "address", network=None) -> str:
    """Return ``address`` if it is valid for the family (and ``network``'s options), else raise
    ``InvalidAddress``."""
    try:
        fam = _family(family)
    except ValueError as exc:
        raise InvalidAddress(str(exc)) from None
    return fam.validate_address(address, what=what, network=network)


def normalize_txid(family: str, txid: str) -> str:
    """The canonical spelling of a transaction id, or ``InvalidTxid``."""
    if not isinstance(txid, str):
        raise InvalidTxid("transaction id must be text")
    try:
        fam = _family(family)
    except ValueError as exc:
        raise InvalidTxid(str(exc)) from None
    return fam.normalize_txid(txid.strip())


def address_key(family: str, address: str) -> str:
    """The form used to compare and store addresses (EVM: case-insensitive; others exact)."""
    return _family(family).address_key(address)
