"""EVM keys for the signer backends: BIP-39/44 derivation from a mnemonic, and web3 keystore v3 files.

Nothing here logs, prints or stores key material; exceptions never include the mnemonic, the
passphrase or the key.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

Account.enable_unaudited_hdwallet_features()


class EvmKeyError(ValueError):
    """A key could not be derived or decrypted (the message never contains secrets)."""


def derive_evm_account(mnemonic: str, path: str) -> LocalAccount:
    """The account at BIP-44 ``path`` (e.g. ``m/44'/60'/0'/0/3``) of a BIP-39 ``mnemonic``."""
    try:
        return Account.from_mnemonic(" ".join(mnemonic.split()), account_path=path)
    except Exception as exc:  # eth-account's messages may echo the input: do not chain them
        raise EvmKeyError(f"cannot derive an EVM key at {path}: {type(exc).__name__}") from None


def load_keystore(path: str | Path, passphrase: str) -> LocalAccount:
    """Decrypt a web3 keystore v3 JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvmKeyError(f"cannot read keystore {path}: {type(exc).__name__}") from None
    try:
        key = Account.decrypt(data, passphrase)
    except Exception:
        raise EvmKeyError(f"cannot decrypt keystore {path}: wrong passphrase or corrupt file") from None
    return Account.from_key(key)


def keystore_address(path: str | Path) -> str | None:
    """The (checksummed) address a keystore file declares, without decrypting it."""
    from eth_utils import to_checksum_address

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return to_checksum_address(data["address"]) if data.get("address") else None
    except Exception:
        return None


def recover_personal_sign(message: str, signature: str) -> str:
    """The address that made an EIP-191 ``personal_sign`` signature over ``message``."""
    from eth_account.messages import encode_defunct

    try:
        return Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception as exc:  # malformed signature bytes, bad v, ...
        raise EvmKeyError(f"not a valid EIP-191 signature: {type(exc).__name__}") from None
