"""Solana keys for the signer backends: BIP-39 seed and SLIP-10 ed25519 derivation.

Paths are the usual Solana ones (``m/44'/501'/0'/0'``, as Phantom, Solflare and ``solana-keygen``
with ``--derivation-path`` use): SLIP-10 for ed25519 allows only hardened steps, so every step must
end with ``'`` (or ``h``).  The derivation here is the standard-library SLIP-10 (HMAC-SHA512 with
key ``b"ed25519 seed"``); it equals ``solders``' ``Keypair.from_seed_and_derivation_path`` (checked
by the tests) but never lets a pyo3 panic or an echo of the input escape.

Nothing here logs, prints or stores key material; exceptions never include the mnemonic or the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from solders.keypair import Keypair

HARDENED = 0x8000_0000
_STEP = re.compile(r"^(\d+)['hH]$")


class SolanaKeyError(ValueError):
    """A key could not be derived (the message never contains secrets)."""


def parse_path(path: str) -> list[int]:
    """``m/44'/501'/0'/0'`` -> hardened indexes; refuses a non-hardened step (SLIP-10 ed25519)."""
    parts = path.strip().split("/") if isinstance(path, str) else []
    if not parts or parts[0] != "m":
        raise SolanaKeyError(f"derivation path {path!r} must start with 'm'")
    out = []
    for part in parts[1:]:
        m = _STEP.match(part)
        if not m:
            raise SolanaKeyError(f"derivation path {path!r}: step {part!r} is not hardened "
                                 "(ed25519 derivation allows only hardened steps such as 0')")
        index = int(m.group(1))
        if index >= HARDENED:
            raise SolanaKeyError(f"derivation path {path!r}: index {index} is too large")
        out.append(index | HARDENED)
    return out


def mnemonic_to_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed; the mnemonic's words and checksum are checked (English list)."""
    words = " ".join(mnemonic.split()) if isinstance(mnemonic, str) else ""
    try:
        from eth_account.hdaccount.mnemonic import Language, Mnemonic

        valid = Mnemonic(Language.ENGLISH).is_mnemonic_valid(words)
    except Exception:
        valid = False
    if not valid:
        raise SolanaKeyError("the mnemonic is not a valid BIP-39 English mnemonic (words or checksum)")
    norm = unicodedata.normalize("NFKD", words).encode("utf-8")
    salt = unicodedata.normalize("NFKD", "mnemonic" + passphrase).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha512", norm, salt, 2048, 64)


def slip10_ed25519(seed: bytes, path: str) -> bytes:
    """The 32-byte ed25519 private seed at ``path`` (SLIP-10)."""
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain = digest[:32], digest[32:]
    for index in parse_path(path):
        digest = hmac.new(chain, b"\x00" + key + index.to_bytes(4, "big"), hashlib.sha512).digest()
        key, chain = digest[:32], digest[32:]
    return key


def derive_solana_keypair(mnemonic: str, path: str, passphrase: str = "") -> Keypair:
    """The keypair at ``path`` of a BIP-39 ``mnemonic`` (a solders ``Keypair``)."""
    secret = slip10_ed25519(mnemonic_to_seed(mnemonic, passphrase), path)
    try:
        return Keypair.from_seed(secret)
    except BaseException as exc:  # pyo3 panics are BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise SolanaKeyError(f"cannot build a Solana key at {path}: {type(exc).__name__}") from None


def solana_address(mnemonic: str, path: str) -> str:
    return str(derive_solana_keypair(mnemonic, path).pubkey())


def verify_signed_message(message: str, signature: str, address: str) -> bool:
    """Whether ``signature`` (base58, ed25519) by ``address`` signs the UTF-8 bytes of ``message``."""
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    try:
        return bool(Signature.from_string(signature.strip()).verify(Pubkey.from_string(address), message.encode()))
    except BaseException as exc:  # solders may raise a pyo3 PanicException (a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return False
