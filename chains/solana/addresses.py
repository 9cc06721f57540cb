"""Solana addresses (base58 of 32 bytes: no checksum) and transaction signatures, by solders."""

from __future__ import annotations

from chains.errors import InvalidAddress, InvalidTxid

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.


def _fatal(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


def validate_address(address: str, *, what: str = "address", network=None) -> str:
    """Return the address if it is base58 for 32 bytes (Solana addresses carry no checksum)."""
    from solders.pubkey import Pubkey

    if not isinstance(address, str) or not 32 <= len(address) <= 44:
        raise InvalidAddress(f"{what} {address!r} is not a Solana address (base58, 32 bytes)")
    try:
        key = Pubkey.from_string(address)
    except BaseException as exc:  # solders raises ValueError, pyo3 may raise PanicException
        if _fatal(exc):
            raise
        raise InvalidAddress(f"{what} {address!r} is not a Solana address (base58, 32 bytes)") from None
    if str(key) != address:
        raise InvalidAddress(f"{what} {address!r} is not in canonical base58 form")
    return address


def normalize_txid(txid: str) -> str:
    from solders.signature import Signature

    if not 64 <= len(txid) <= 90:
        raise InvalidTxid(f"transaction signature {txid!r} is not a base58 Solana signature (64 bytes)")
    try:
        sig = Signature.from_string(txid)
    except BaseException as exc:
        if _fatal(exc):
            raise
        raise InvalidTxid(f"transaction signature {txid!r} is not a base58 Solana signature (64 bytes)") from None
    if str(sig) != txid:
        raise InvalidTxid(f"transaction signature {txid!r} is not in canonical base58 form")
    return txid


def address_key(address: str) -> str:
    return address


_BURN = {
    "11111111111111111111111111111111": "the system program (the all-zero key)",
    "1nc1nerator11111111111111111111111111111111": "the incinerator (funds sent there are burned)",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "the SPL Token program",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb": "the Token-2022 program",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL": "the associated-token program",
}


def burn_reason(address: str) -> str | None:
    """Why funds sent to ``address`` are gone for good on Solana, or None."""
    return _BURN.get(address)
