"""EVM keys: BIP-32 secp256k1 derivation from a BIP-39 seed (eth-account's ``key_from_seed``), raw keys
from a keystore, and EIP-191 ``personal_sign`` checks.

The seed comes from :func:`chains.keys.mnemonic_seed` (the one BIP-39 path of every family); no
eth-account feature flag is needed, so nothing is switched on at import.  Nothing here logs, prints
or stores key material; exceptions never include the mnemonic, the passphrase or the key.
"""

from __future__ import annotations

from pathlib import Path

from chains.base import DerivedKey, OwnershipCheck
from chains.errors import InvalidRequest
from chains.keys import SeedError, decrypt_keystore, mnemonic_seed
from chains.keys import keystore_address as declared

# Imports inside functions: web3 / eth-account / eth-utils load on first use: importing the family (to
# validate an address) loads no SDK.

EIP191 = "EIP-191"


class EvmKeyError(InvalidRequest, ValueError):
    """A key could not be derived or decrypted (the message never contains secrets; exit 4)."""

    code = "bad_key"


def derive_key(seed: bytes, path: str) -> DerivedKey:
    """The key at BIP-44 ``path`` (e.g. ``m/44'/60'/0'/0/3``) of a 64-byte BIP-39 ``seed``; ``key`` is
    an eth-account ``LocalAccount``."""
    from eth_account import Account
    from eth_account.hdaccount import key_from_seed

    try:
        account = Account.from_key(key_from_seed(bytes(seed), path))
    except Exception as exc:  # its messages may echo the input: do not chain them
        raise EvmKeyError(f"cannot derive an EVM key at {path}: {type(exc).__name__}") from None
    return DerivedKey(account, account.address)


def key_from_secret(secret: bytes) -> DerivedKey:
    """A key from raw private-key bytes (a decrypted keystore)."""
    from eth_account import Account

    try:
        account = Account.from_key(bytes(secret))
    except Exception as exc:
        raise EvmKeyError(f"not a usable secp256k1 private key: {type(exc).__name__}") from None
    return DerivedKey(account, account.address)


def address_of_public_key(curve: str, public_key: bytes) -> str:
    """The checksummed address of a secp256k1 public key (33 compressed bytes, e.g. read from an HSM)."""
    from eth_keys import keys

    if curve != "secp256k1":
        raise EvmKeyError(f"an EVM address is a secp256k1 key's, not an {curve} key's", code="hsm_wrong_curve")
    try:
        return keys.PublicKey.from_compressed_bytes(bytes(public_key)).to_checksum_address()
    except Exception as exc:
        raise EvmKeyError(f"not a secp256k1 public key: {type(exc).__name__}") from None


def derive_evm_account(mnemonic: str, path: str):
    """The account (``LocalAccount``) at ``path`` of a BIP-39 ``mnemonic``."""
    return derive_key(mnemonic_seed(mnemonic), path).key


def load_keystore(path: str | Path, passphrase: str):
    """Decrypt a web3 keystore v3 JSON file into a ``LocalAccount``."""
    try:
        return key_from_secret(decrypt_keystore(path, passphrase)).key
    except SeedError as exc:
        raise EvmKeyError(str(exc)) from None


def keystore_address(path: str | Path) -> str | None:
    """The (checksummed) address a keystore file declares, without decrypting it."""
    from eth_utils import to_checksum_address

    try:
        address = declared(path)
        return to_checksum_address(address) if address else None
    except Exception:
        return None


def recover_personal_sign(message: str, signature: str) -> str:
    """The address that made an EIP-191 ``personal_sign`` signature over ``message``."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        return Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception as exc:  # malformed signature bytes, bad v, ...
        raise EvmKeyError(f"not a valid EIP-191 signature: {type(exc).__name__}") from None


def verify_ownership(message: str, signature: str, sender: str) -> OwnershipCheck:
    """EIP-191 ``personal_sign``: ok when ``signature`` over ``message`` recovers to ``sender``.

    Malformed signatures raise ``InvalidRequest`` (code ``bad_signature``, exit 4); a well-formed
    signature by someone else is ``ok=False`` with the ``signer`` it recovers to.
    """
    try:
        signer = recover_personal_sign(message, signature)
    except EvmKeyError as exc:
        raise InvalidRequest(str(exc), code="bad_signature") from None
    ok = bool(sender) and signer.lower() == str(sender).lower()
    return OwnershipCheck(ok, EIP191, signer)
