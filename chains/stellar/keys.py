"""Stellar keys: SEP-0005 (ed25519 SLIP-10 at ``m/44'/148'/N'`` of the BIP-39 seed, by stellar-sdk's
``StellarMnemonic.derive``), the G-address of an Ed25519 key held on an HSM token (the shared wallet may
live there), and SEP-53 signed messages (``"Stellar Signed Message:\\n"`` + message, SHA-256, ed25519;
stellar-sdk 16's ``Keypair.sign_message`` / ``verify_message``) as ownership proofs.

Nothing here logs, prints or stores key material; exceptions never include it.
"""

from __future__ import annotations

import base64
import binascii
import re

from chains.errors import InvalidRequest
from chains.keys import SeedError

# Imports inside functions: stellar-sdk loads on first use: the SEP-53 helpers serve claimants' tooling without
# the adapter.

_PATH = re.compile(r"^m/44'/148'/([0-9]{1,10})'$")
SEP53 = "sep53"


class StellarKeyError(SeedError):
    code = "bad_key"


def derive(seed: bytes, path: str):
    """The stellar-sdk ``Keypair`` at ``path`` (SEP-0005 ``m/44'/148'/N'``: every step hardened, as SLIP-10
    ed25519 requires) of a 64-byte BIP-39 seed."""
    from stellar_sdk import Keypair
    from stellar_sdk.sep.mnemonic import StellarMnemonic

    m = _PATH.match(path or "")
    if not m or int(m.group(1)) >= 2**31:
        raise StellarKeyError(f"{path!r} is not a SEP-0005 path m/44'/148'/N'")
    return Keypair.from_raw_ed25519_seed(StellarMnemonic.derive(bytes(seed), int(m.group(1))))


def from_secret(secret: bytes):
    """A ``Keypair`` from the 32 raw ed25519 seed bytes."""
    from stellar_sdk import Keypair

    if len(secret) != 32:
        raise StellarKeyError("a Stellar secret is 32 bytes")
    return Keypair.from_raw_ed25519_seed(bytes(secret))


def address_of_public_key(curve: str, public_key: bytes) -> str:
    """The ``G...`` address of a raw Ed25519 public key read from an HSM token (stellar-sdk's StrKey); a
    Stellar account is an Ed25519 key, so another curve is ``hsm_wrong_curve``."""
    from stellar_sdk import Keypair

    if curve != "ed25519":
        raise StellarKeyError(f"a Stellar account is an Ed25519 key, not a {curve} key", code="hsm_wrong_curve")
    if len(bytes(public_key)) != 32:
        raise StellarKeyError(f"not an Ed25519 public key ({len(bytes(public_key))} bytes)")
    return Keypair.from_raw_ed25519_public_key(bytes(public_key)).public_key


def sign_message(secret: str, message: str) -> str:
    from stellar_sdk import Keypair

    return base64.b64encode(Keypair.from_secret(secret).sign_message(message)).decode()


def verify_message(message: str, signature: str, sender: str) -> bool:
    """Whether ``signature`` (base64) is ``sender``'s SEP-53 signature of ``message``; a signature that is
    not base64 of 64 bytes raises ``InvalidRequest`` ``bad_signature``."""
    from stellar_sdk import Keypair
    from stellar_sdk.exceptions import BadSignatureError

    from chains.stellar.addresses import base_account

    try:
        raw = base64.b64decode(signature or "", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise InvalidRequest("the signature is not base64 of a 64-byte ed25519 signature", code="bad_signature")
    try:
        Keypair.from_public_key(base_account(sender)).verify_message(message, raw)
    except BadSignatureError:
        return False
    return True
