"""Signer backends: where keys come from.  Keys live only in memory, never in the database or logs.

- ``HDSigner``: a BIP-39 mnemonic in ``RECOVER_SEED``; derives the key of each deposit address
  (its registered derivation path) and of the gas station (the network's ``gas_station_path``).
- ``KeystoreSigner``: web3 keystore v3 files in ``RECOVER_KEYSTORE_DIR`` decrypted with
  ``RECOVER_KEYSTORE_PASSPHRASE``, found by address.

Every backend refuses to hand out a key whose address is not the one the plan spends from.
Derivation is a chain-SDK call, so it happens in ``chains`` (``chains.evm_keys``).
"""

from __future__ import annotations

import os
from typing import Protocol

from recover.errors import InvalidInput, PolicyRefused


class Signer(Protocol):
    def address_for(self, family: str, path: str) -> str: ...

    def key_for(self, family: str, path: str, expected_address: str): ...


def _evm_only(family: str) -> None:
    if family != "evm":
        raise InvalidInput(f"this signer backend does not sign {family} transactions yet", code="signer_family")


def _same(family: str, a: str, b: str) -> bool:
    """EVM addresses compare case-insensitively; base58/bech32 ones exactly."""
    return a.lower() == b.lower() if family == "evm" else a == b


class HDSigner:
    """Keys derived from one BIP-39 mnemonic: BIP-44 secp256k1 for EVM, SLIP-10 ed25519 for Solana."""

    def __init__(self, mnemonic: str):
        if not mnemonic or len(mnemonic.split()) not in (12, 15, 18, 21, 24):
            raise InvalidInput("RECOVER_SEED must be a BIP-39 mnemonic of 12 to 24 words", code="bad_seed")
        self._mnemonic = mnemonic

    def __repr__(self) -> str:  # never show the seed
        return "HDSigner(<seed>)"

    def _derive(self, family: str, path: str):
        """(key object the adapter signs with, its address)."""
        if family == "evm":
            from chains.evm_keys import derive_evm_account

            account = derive_evm_account(self._mnemonic, path)
            return account, account.address
        if family == "solana":
            from chains.solana_keys import derive_solana_keypair

            keypair = derive_solana_keypair(self._mnemonic, path)
            return keypair, str(keypair.pubkey())
        raise InvalidInput(f"the HD signer does not derive {family} keys yet", code="signer_family")

    def address_for(self, family: str, path: str) -> str:
        return self._derive(family, path)[1]

    def key_for(self, family: str, path: str, expected_address: str):
        if family == "utxo":  # the address type follows the path (BIP-44/49/84), the network the address
            from chains.utxo_keys import derive_utxo_key_for_address

            try:
                return derive_utxo_key_for_address(self._mnemonic, path, expected_address)
            except ValueError as exc:
                raise PolicyRefused(f"the key derived at {path} does not control {expected_address}: {exc}",
                                    code="signer_mismatch") from None
        key, address = self._derive(family, path)
        if not _same(family, address, expected_address):
            raise PolicyRefused(
                f"the key derived at {path} controls {address}, not {expected_address}: refusing to sign",
                code="signer_mismatch",
            )
        return key


class KeystoreSigner:
    def __init__(self, folder: str, passphrase: str):
        self.folder = folder
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return f"KeystoreSigner({self.folder!r})"

    def _files(self) -> dict[str, str]:
        import json
        from pathlib import Path

        out = {}
        for p in Path(self.folder).glob("*"):
            try:
                addr = json.loads(p.read_text()).get("address", "")
            except (OSError, ValueError):
                continue
            if addr:
                out[addr.lower().removeprefix("0x")] = str(p)
        return out

    def address_for(self, family: str, path: str) -> str:
        raise InvalidInput("the keystore backend cannot derive paths; configure the gas station address",
                           code="signer_backend")

    def key_for(self, family: str, path: str, expected_address: str):
        _evm_only(family)
        from chains.evm_keys import load_keystore

        file = self._files().get(expected_address.lower().removeprefix("0x"))
        if file is None:
            raise PolicyRefused(f"no keystore file for {expected_address} in {self.folder}", code="signer_missing_key")
        account = load_keystore(file, self._passphrase)
        if account.address.lower() != expected_address.lower():
            raise PolicyRefused(f"keystore {file} holds {account.address}, not {expected_address}",
                                code="signer_mismatch")
        return account


def signer_from_env(env: dict | None = None) -> Signer:
    env = os.environ if env is None else env
    if env.get("RECOVER_SEED"):
        return HDSigner(env["RECOVER_SEED"])
    if env.get("RECOVER_KEYSTORE_DIR"):
        if not env.get("RECOVER_KEYSTORE_PASSPHRASE"):
            raise InvalidInput("RECOVER_KEYSTORE_DIR is set but RECOVER_KEYSTORE_PASSPHRASE is not", code="signer_config")
        return KeystoreSigner(env["RECOVER_KEYSTORE_DIR"], env["RECOVER_KEYSTORE_PASSPHRASE"])
    raise InvalidInput("no signer configured: set RECOVER_SEED (HD seed) or RECOVER_KEYSTORE_DIR and "
                       "RECOVER_KEYSTORE_PASSPHRASE", code="signer_config")
