"""Solana keys: SLIP-10 ed25519 derivation from a BIP-39 seed, raw keys, signed-message checks.

Paths are the usual Solana ones (``m/44'/501'/0'/0'``, as Phantom, Solflare and ``solana-keygen``
with ``--derivation-path`` use).  SLIP-10 for ed25519 allows only hardened steps, so every step must
end with ``'`` (or ``h``); the path is checked here first, with a clear error, because solders'
``Keypair.from_seed_and_derivation_path`` (which does the derivation) would panic on it.  The seed
comes from :func:`chains.keys.mnemonic_seed`, the one BIP-39 path of every family.

Nothing here logs, prints or stores key material; exceptions never include the mnemonic or the key.
"""

from __future__ import annotations

import re

from chains.keys import SeedError, mnemonic_seed
from chains.solana.common import fatal

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.

HARDENED = 0x8000_0000
_STEP = re.compile(r"^(\d+)['hH]$")


class SolanaKeyError(SeedError):
    """A key could not be derived or loaded (the message never contains secrets; exit 4)."""

    code = "bad_key"


def parse_path(path: str) -> list[int]:
    """``m/44'/501'/0'/0'`` -> hardened indexes; refuses a non-hardened step (SLIP-10 ed25519)."""
    parts = path.strip().split("/") if isinstance(path, str) else []
    if not parts or parts[0] != "m":
        raise SolanaKeyError(f"derivation path {path!r} must start with 'm'", code="bad_path")
    out = []
    for part in parts[1:]:
        m = _STEP.match(part)
        if not m:
            raise SolanaKeyError(f"derivation path {path!r}: step {part!r} is not hardened "
                                 "(ed25519 derivation allows only hardened steps such as 0')", code="bad_path")
        index = int(m.group(1))
        if index >= HARDENED:
            raise SolanaKeyError(f"derivation path {path!r}: index {index} is too large", code="bad_path")
        out.append(index | HARDENED)
    return out


def _canonical(path: str) -> str:
    """The path as solders parses it (``'`` for hardened steps)."""
    return "/".join(["m"] + [f"{i - HARDENED}'" for i in parse_path(path)])


def derive_keypair(seed: bytes, path: str):
    """The solders ``Keypair`` at ``path`` of a 64-byte BIP-39 ``seed`` (SLIP-10 ed25519, by solders)."""
    from solders.keypair import Keypair

    canonical = _canonical(path)
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != 64:
        raise SolanaKeyError("the seed must be the 64-byte BIP-39 seed", code="bad_seed")
    try:
        return Keypair.from_seed_and_derivation_path(bytes(seed), canonical)
    except BaseException as exc:  # pyo3 panics are BaseException; never chain (no seed in messages)
        if fatal(exc):
            raise
        raise SolanaKeyError(f"cannot derive a Solana key at {path}: {type(exc).__name__}") from None


def keypair_from_secret(secret: bytes):
    """A ``Keypair`` from raw key bytes: a 32-byte ed25519 seed or a 64-byte keypair (seed + public key,
    as ``solana-keygen`` files hold; the public half must match)."""
    from solders.keypair import Keypair

    raw = bytes(secret) if isinstance(secret, (bytes, bytearray)) else b""
    if len(raw) not in (32, 64):
        raise SolanaKeyError(f"a Solana secret key is 32 or 64 bytes, not {len(raw)}")
    try:
        key = Keypair.from_seed(raw) if len(raw) == 32 else Keypair.from_bytes(raw)
    except BaseException as exc:
        if fatal(exc):
            raise
        raise SolanaKeyError(f"not a Solana secret key: {type(exc).__name__}") from None
    if len(raw) == 64 and bytes(key.pubkey()) != raw[32:]:
        raise SolanaKeyError("the 64-byte keypair's public half does not belong to its secret half")
    return key


def address_of_public_key(curve: str, public_key: bytes) -> str:
    """The base58 address of an Ed25519 public key (the 32 raw bytes an HSM token holds): on Solana an
    address *is* the public key, so a token key controls exactly that account."""
    from solders.pubkey import Pubkey

    if curve != "ed25519":
        raise SolanaKeyError(f"a Solana address is an Ed25519 key's, not a {curve} key's", code="hsm_wrong_curve")
    raw = bytes(public_key) if isinstance(public_key, (bytes, bytearray)) else b""
    if len(raw) != 32:
        raise SolanaKeyError(f"an Ed25519 public key is 32 bytes, not {len(raw)}", code="bad_key")
    return str(Pubkey.from_bytes(raw))


def derive_solana_keypair(mnemonic: str, path: str, passphrase: str = ""):
    """The keypair at ``path`` of a BIP-39 ``mnemonic`` (seed by :func:`chains.keys.mnemonic_seed`)."""
    return derive_keypair(mnemonic_seed(mnemonic, passphrase), path)


def solana_address(mnemonic: str, path: str) -> str:
    return str(derive_solana_keypair(mnemonic, path).pubkey())


def verify_signed_message(message: str, signature: str, address: str) -> bool:
    """Whether ``signature`` (base58, ed25519) by ``address`` signs the UTF-8 bytes of ``message``."""
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    try:
        return bool(Signature.from_string(signature.strip()).verify(Pubkey.from_string(address), message.encode()))
    except BaseException as exc:  # solders may raise a pyo3 PanicException (a BaseException)
        if fatal(exc):
            raise
        return False
