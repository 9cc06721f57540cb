"""Signer backends: where keys come from.  Keys live only in memory, never in the database or logs.

- ``HDSigner``: a BIP-39 mnemonic in ``RECOVER_SEED``; the chain adapter derives the key of each
  deposit address (its registered derivation path) and of the gas station (the network's
  ``gas_station_path``) from its one BIP-39 seed (:func:`chains.keys.mnemonic_seed`).
- ``KeystoreSigner``: web3 keystore v3 files in ``RECOVER_KEYSTORE_DIR`` decrypted with
  ``RECOVER_KEYSTORE_PASSPHRASE``, found by the address they declare.
- Wallet keys on an HSM (:func:`hsm_wallet_key`): a key named ``hsm:<label>`` in a plan (the gas
  station, a shared wallet) is signed with by the network file's PKCS#11 token, whatever the backend
  of the deposit keys; its public key is read from the token and must control the address the
  network file writes for that label, which must be the one the plan names.

Every backend refuses to hand out a key whose address is not the one the plan spends from.  How a
family derives keys is the adapter's business (``derive_key``, ``key_from_secret``): nothing here
knows a family.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from chains.config import hsm_label
from chains.errors import ChainError
from chains.keys import decrypt_keystore, keystore_address, mnemonic_seed
from recover.errors import InvalidInput, PolicyRefused
from recover.networks.hsm_token import PIN_ENV, PIN_FILE_ENV, hsm_token

# Imports inside functions: chains.hsm (python-pkcs11) only when a plan needs an HSM wallet key.


class Signer(Protocol):
    def address_for(self, chain, path: str) -> str: ...

    def key_for(self, chain, path: str, expected_address: str): ...


def _checked(chain, derived, path: str, expected_address: str):
    if not chain.same_address(derived.address, expected_address):
        raise PolicyRefused(
            f"the key derived at {path} controls {derived.address}, not {expected_address}: refusing to sign",
            code="signer_mismatch",
        )
    return derived.key


class HDSigner:
    """Keys derived from one BIP-39 mnemonic, by the chain adapter of each plan."""

    def __init__(self, mnemonic: str):
        try:
            self._seed = mnemonic_seed(mnemonic or "")
        except ChainError:  # the message names no word and no entropy
            raise InvalidInput("RECOVER_SEED is not a valid BIP-39 mnemonic (12 to 24 English words with a "
                               "valid checksum)", code="bad_seed") from None

    def __repr__(self) -> str:  # never show the seed
        return "HDSigner(<seed>)"

    def _derive(self, chain, path: str):
        try:
            return chain.derive_key(self._seed, path)
        except ChainError as exc:
            raise InvalidInput(f"cannot derive a key at {path}: {exc}", code="bad_derivation_path") from None

    def address_for(self, chain, path: str) -> str:
        return self._derive(chain, path).address

    def key_for(self, chain, path: str, expected_address: str):
        return _checked(chain, self._derive(chain, path), path, expected_address)


class KeystoreSigner:
    def __init__(self, folder: str, passphrase: str):
        self.folder = folder
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return f"KeystoreSigner({self.folder!r})"

    def _file_for(self, chain, address: str) -> str | None:
        wanted = chain.address_key(address).lower().removeprefix("0x")
        for p in sorted(Path(self.folder).glob("*")):
            declared = keystore_address(p)
            if declared and chain.address_key(declared).lower().removeprefix("0x") == wanted:
                return str(p)
        return None

    def address_for(self, chain, path: str) -> str:
        raise InvalidInput("the keystore backend cannot derive paths; configure the gas station address "
                           "(RECOVER_GAS_STATION_ADDRESS)", code="signer_backend")

    def key_for(self, chain, path: str, expected_address: str):
        file = self._file_for(chain, expected_address)
        if file is None:
            raise PolicyRefused(f"no keystore file for {expected_address} in {self.folder}", code="signer_missing_key")
        try:
            derived = chain.key_from_secret(decrypt_keystore(file, self._passphrase))
        except ChainError as exc:
            # A wrong passphrase or an unreadable file (``bad_keystore``) or a family that cannot load a
            # raw key (``signer_backend``) is configuration: exit 4, as documented; nothing else is.
            if exc.exit_code == InvalidInput.exit_code:
                raise InvalidInput(str(exc), code=exc.code) from None
            raise PolicyRefused(str(exc), code=exc.code) from None
        return _checked(chain, derived, path, expected_address)


class NoDepositKeys:
    """A host whose only keys are on an HSM (``RECOVER_PKCS11_PIN`` set, no seed, no keystore): it signs
    plans whose every key is an HSM wallet key (a shared wallet's refund) and nothing else."""

    def __repr__(self) -> str:
        return "NoDepositKeys()"

    def address_for(self, chain, path: str) -> str:
        raise InvalidInput(f"this host holds no HD seed: it cannot derive {path}", code="signer_backend")

    def key_for(self, chain, path: str, expected_address: str):
        raise InvalidInput(f"the plan needs the key of {expected_address} at {path}, and this host holds only HSM "
                           "wallet keys: set RECOVER_SEED (HD seed) or RECOVER_KEYSTORE_DIR and "
                           "RECOVER_KEYSTORE_PASSPHRASE", code="signer_config")


def hsm_wallet_key(chain, path: str, expected_address: str, env: dict | None = None):
    """The token's key for the wallet key name ``hsm:<label>``, after three checks: the network file
    lists the label, its address there is the one the plan names, and the public key the token holds
    under that label controls that address on this network (exit 7 ``signer_mismatch`` otherwise)."""
    from chains.hsm import open_key

    net = chain.network
    configured = net.hsm_address(path)
    if configured is None:
        raise PolicyRefused(f"the plan signs with {path}, which [hsm.keys] of {net.source} does not list",
                            code="signer_mismatch", details={"path": path})
    if "${" in configured:
        configured = net.resolved(env, wallets=()).hsm_address(path)
    if not chain.same_address(configured, expected_address):
        raise PolicyRefused(f"the plan signs {expected_address} with {path}, but {net.source} says {path} controls "
                            f"{configured}: refusing to sign", code="signer_mismatch",
                            details={"path": path, "expected": expected_address, "configured": configured})
    key = open_key(hsm_token(net, env), hsm_label(path))
    held = chain.address_of_public_key(key.curve, key.public_key)
    if not chain.same_address(held, configured):
        raise PolicyRefused(f"key {key.label!r} on token {key.token.label!r} controls {held} on {net.key}, not "
                            f"{configured} as {net.source} says: refusing to sign", code="signer_mismatch",
                            details={"path": path, "configured": configured, "token_address": held})
    return key


def keys_for_plan(chain, plan, signer, env: dict | None = None):
    """``key_for_path`` for ``chain.sign``: every key the plan needs (the adapter says which,
    fee payers included), each checked to control the address the plan names for it: HSM wallet
    keys (``hsm:<label>``) from the token, the others from ``signer``."""
    wanted = chain.signing_keys(plan)

    def key_for_path(path: str):
        if path not in wanted:
            raise PolicyRefused(f"the plan asks for a key at {path}, which none of its steps names",
                                code="signer_mismatch")
        if hsm_label(path) is not None:
            return hsm_wallet_key(chain, path, wanted[path], env)
        return signer.key_for(chain, path, wanted[path])

    return key_for_path


def signer_from_env(env: dict | None = None) -> Signer:
    env = os.environ if env is None else env
    if env.get("RECOVER_SEED"):
        return HDSigner(env["RECOVER_SEED"])
    if env.get("RECOVER_KEYSTORE_DIR"):
        if not env.get("RECOVER_KEYSTORE_PASSPHRASE"):
            raise InvalidInput("RECOVER_KEYSTORE_DIR is set but RECOVER_KEYSTORE_PASSPHRASE is not", code="signer_config")
        return KeystoreSigner(env["RECOVER_KEYSTORE_DIR"], env["RECOVER_KEYSTORE_PASSPHRASE"])
    if env.get(PIN_ENV) or env.get(PIN_FILE_ENV):
        return NoDepositKeys()
    raise InvalidInput("no signer configured: set RECOVER_SEED (HD seed) or RECOVER_KEYSTORE_DIR and "
                       "RECOVER_KEYSTORE_PASSPHRASE (and RECOVER_PKCS11_PIN for wallet keys on an HSM)",
                       code="signer_config")
