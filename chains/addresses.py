"""Address and transaction-id validation per chain family, with checksums where the format has one.

Each SDK is imported inside the function that needs it, so listing cases never loads web3,
bitcoinlib or solders.
"""

from __future__ import annotations

import re

from chains.errors import InvalidAddress, InvalidTxid

_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX64_0X = re.compile(r"^0x[0-9a-fA-F]{64}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def validate_evm_address(address: str, *, what: str = "address") -> str:
    """Return the address if it is a 20-byte hex address carrying a valid EIP-55 checksum.

    An all-lowercase or all-uppercase address carries no checksum, so a typo in it cannot be
    caught: for a tool that moves money that is refused too.
    """
    from eth_utils import is_checksum_address

    if not isinstance(address, str) or not _HEX40.match(address):
        raise InvalidAddress(f"{what} {address!r} is not an EVM address (0x followed by 40 hex digits)")
    if is_checksum_address(address):
        return address  # includes the rare addresses whose checksummed form is all one case
    body = address[2:]
    if body.lower() == body or body.upper() == body:
        raise InvalidAddress(
            f"{what} {address!r} has no EIP-55 checksum (all one case); "
            "give it in its checksummed mixed-case form"
        )
    raise InvalidAddress(f"{what} {address!r} fails its EIP-55 checksum: check for a typo")


def validate_utxo_address(address: str, address_network: str, *, what: str = "address",
                          legacy_only: bool = False) -> str:
    """Return the address if bitcoinlib decodes it (base58check or bech32 checksum) for the network.

    ``legacy_only`` is for the fork chains (Bitcoin Cash, Bitcoin SV): they share Bitcoin's base58
    addresses but have no segwit, so a ``bc1`` address there would burn the funds.
    """
    from bitcoinlib.encoding import EncodingError
    from bitcoinlib.keys import deserialize_address

    import chains.utxo_networks  # noqa: F401  (litecoin_regtest, dash: registered in bitcoinlib)

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


def validate_solana_address(address: str, *, what: str = "address") -> str:
    """Return the address if it is base58 for 32 bytes (Solana addresses carry no checksum)."""
    from solders.pubkey import Pubkey

    if not isinstance(address, str) or not 32 <= len(address) <= 44:
        raise InvalidAddress(f"{what} {address!r} is not a Solana address (base58, 32 bytes)")
    try:
        key = Pubkey.from_string(address)
    except BaseException as exc:  # solders raises ValueError, pyo3 may raise PanicException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise InvalidAddress(f"{what} {address!r} is not a Solana address (base58, 32 bytes)") from None
    if str(key) != address:
        raise InvalidAddress(f"{what} {address!r} is not in canonical base58 form")
    return address


def validate_address(family: str, address: str, *, address_network: str | None = None, what: str = "address",
                     legacy_only: bool = False) -> str:
    if family == "evm":
        return validate_evm_address(address, what=what)
    if family == "utxo":
        return validate_utxo_address(address, address_network or "bitcoin", what=what, legacy_only=legacy_only)
    if family == "solana":
        return validate_solana_address(address, what=what)
    raise InvalidAddress(f"unknown chain family {family!r}")


def normalize_txid(family: str, txid: str) -> str:
    """Return the canonical spelling of a transaction id, or raise ``InvalidTxid``."""
    if not isinstance(txid, str):
        raise InvalidTxid("transaction id must be text")
    txid = txid.strip()
    if family == "evm":
        if not _HEX64_0X.match(txid):
            raise InvalidTxid(f"transaction hash {txid!r} is not 0x followed by 64 hex digits")
        return txid.lower()
    if family == "utxo":
        if not _HEX64.match(txid):
            raise InvalidTxid(f"transaction id {txid!r} is not 64 hex digits")
        return txid.lower()
    if family == "solana":
        from solders.signature import Signature

        if not 64 <= len(txid) <= 90:
            raise InvalidTxid(f"transaction signature {txid!r} is not a base58 Solana signature (64 bytes)")
        try:
            sig = Signature.from_string(txid)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise InvalidTxid(f"transaction signature {txid!r} is not a base58 Solana signature (64 bytes)") from None
        if str(sig) != txid:
            raise InvalidTxid(f"transaction signature {txid!r} is not in canonical base58 form")
        return txid
    raise InvalidTxid(f"unknown chain family {family!r}")


def address_key(family: str, address: str) -> str:
    """The form used to compare addresses: EVM addresses are case-insensitive, others are not."""
    return address.lower() if family == "evm" else address
