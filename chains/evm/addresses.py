"""EVM addresses (EIP-55 checksums, by eth-utils) and transaction hashes."""

from __future__ import annotations

import re
from functools import lru_cache

from chains.errors import InvalidAddress, InvalidTxid

# Imports inside functions: web3 / eth-account / eth-utils load on first use: importing the family (to
# validate an address) loads no SDK.

_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX64_0X = re.compile(r"^0x[0-9a-fA-F]{64}$")


def validate_address(address: str, *, what: str = "address", network=None) -> str:
    """Return the address if it is a 20-byte hex address carrying a valid EIP-55 checksum.

    An all-lowercase or all-uppercase address carries no checksum, so a typo in it cannot be
    caught: for a tool that moves money that is refused too.
    """
    if not isinstance(address, str) or not _HEX40.match(address):
        raise InvalidAddress(f"{what} {address!r} is not an EVM address (0x followed by 40 hex digits)")
    if _checksummed(address):
        return address  # includes the rare addresses whose checksummed form is all one case
    body = address[2:]
    if body.lower() == body or body.upper() == body:
        raise InvalidAddress(
            f"{what} {address!r} has no EIP-55 checksum (all one case); "
            "give it in its checksummed mixed-case form"
        )
    raise InvalidAddress(f"{what} {address!r} fails its EIP-55 checksum: check for a typo")


@lru_cache(maxsize=1 << 14)
def _checksummed(address: str) -> bool:
    """eth-utils' EIP-55 check (a Keccak hash), remembered: ``case import`` checks the same token address
    on every line."""
    from eth_utils import is_checksum_address

    return is_checksum_address(address)


def normalize_txid(txid: str) -> str:
    if not _HEX64_0X.match(txid):
        raise InvalidTxid(f"transaction hash {txid!r} is not 0x followed by 64 hex digits")
    return txid.lower()


def address_key(address: str) -> str:
    """EVM addresses compare case-insensitively."""
    return address.lower()


# 0x01..0x11: the precompiles of Ethereum and its L2s (ecrecover ... BLS12-381), 0x100: P-256 (RIP-7212)
_PRECOMPILES = {i for i in range(1, 0x12)} | {0x100}
_BURN = {"0x000000000000000000000000000000000000dead": "a burn address (0x…dEaD)",
         "0xdead000000000000000042069420694206942069": "a burn address (0xdEaD…)"}


def burn_reason(address: str) -> str | None:
    """Why funds sent to ``address`` are gone for good on an EVM chain, or None."""
    low = address.lower()
    if not _HEX40.match(address):
        return None
    if int(low, 16) == 0:
        return "the zero address"
    if int(low, 16) in _PRECOMPILES:
        return "a precompiled contract (no key, no code that can send funds on)"
    return _BURN.get(low)
