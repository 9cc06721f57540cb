"""The one BIP-39 path for every family: a mnemonic becomes a 64-byte seed here, and each family
derives its keys from that seed (EVM BIP-32 secp256k1, UTXO BIP-32 with its script type, Solana
SLIP-10 ed25519).  Nothing here logs or echoes words, entropy or keys."""

from __future__ import annotations

import json
from pathlib import Path

from chains.errors import ChainError

# Imports inside functions: a chain SDK loads on first use: a command for one family never imports another's.


class SeedError(ChainError):
    """The mnemonic or keystore cannot be used (the message never contains secrets)."""

    code = "bad_seed"
    exit_code = 4


def mnemonic_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """The BIP-39 seed of an English mnemonic whose words and checksum are valid."""
    from eth_account.hdaccount import seed_from_mnemonic

    words = " ".join(mnemonic.split()) if isinstance(mnemonic, str) else ""
    try:
        return seed_from_mnemonic(words, passphrase)
    except Exception:  # its messages may quote the words: never chain them
        raise SeedError("not a valid BIP-39 mnemonic (12 to 24 English words with a valid checksum)") from None


def decrypt_keystore(path: str | Path, passphrase: str) -> bytes:
    """The private key bytes of a web3 keystore v3 file (scrypt or pbkdf2, by eth-account)."""
    from eth_account import Account

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedError(f"cannot read keystore {path}: {type(exc).__name__}", code="bad_keystore") from None
    try:
        return bytes(Account.decrypt(data, passphrase))
    except Exception:
        raise SeedError(f"cannot decrypt keystore {path}: wrong passphrase or corrupt file",
                        code="bad_keystore") from None


def keystore_address(path: str | Path) -> str | None:
    """The address a keystore file declares (without decrypting it), as written."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return str(data["address"]) if data.get("address") else None
    except Exception:
        return None
