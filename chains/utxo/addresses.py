"""Bitcoin-family addresses (base58check and bech32 checksums, by bitcoinlib) and txids."""

from __future__ import annotations

import re

from chains.errors import InvalidAddress, InvalidTxid
from chains.utxo.networks import register_networks

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def validate_utxo_address(address: str, address_network: str, *, what: str = "address",
                          legacy_only: bool = False) -> str:
    """Return the address if bitcoinlib decodes it (base58check or bech32 checksum) for the network.

    ``legacy_only`` is for the fork chains (Bitcoin Cash, Bitcoin SV): they share Bitcoin's base58
    addresses but have no segwit, so a ``bc1`` address there would burn the funds.
    """
    from bitcoinlib.encoding import EncodingError
    from bitcoinlib.keys import deserialize_address

    register_networks()
    if not isinstance(address, str) or not 14 <= len(address) <= 90:
        raise InvalidAddress(f"{what} {address!r} is not a {address_network} address")
    try:
        info = deserialize_address(address)
    except (EncodingError, ValueError, KeyError, TypeError) as exc:
        raise InvalidAddress(f"{what} {address!r} is not a valid address (bad checksum or format: {exc})") from None
    networks = info.get("networks") or [info.get("network")]
    if address_network not in networks:
        raise InvalidAddress(
            f"{what} {address!r} is an address of {', '.join(n for n in networks if n) or 'another network'}, "
            f"not of {address_network}"
        )
    if legacy_only and info.get("encoding") != "base58":
        raise InvalidAddress(f"{what} {address!r} is a segwit address; this network only has legacy addresses")
    return address


def validate_address(address: str, *, what: str = "address", network=None) -> str:
    opts = getattr(network, "utxo", None)
    return validate_utxo_address(address, opts.address_network if opts else "bitcoin", what=what,
                                 legacy_only=bool(opts and opts.fork_id))


def normalize_txid(txid: str) -> str:
    if not _HEX64.match(txid):
        raise InvalidTxid(f"transaction id {txid!r} is not 64 hex digits")
    return txid.lower()


def address_key(address: str) -> str:
    return address
