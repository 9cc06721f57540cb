"""HD keys of UTXO deposit addresses (BIP-32 from a BIP-39 mnemonic, with bitcoinlib).

The script type of a deposit address follows its derivation path's purpose:

* ``m/44'/...``: P2PKH (``p2pkh``), base58
* ``m/49'/...``: P2SH-P2WPKH (``p2sh-p2wpkh``), base58 ``3.../M.../Q...``
* ``m/84'/...``: P2WPKH (``p2wpkh``), bech32

:func:`derive_from_seed` (``seed`` the 64-byte BIP-39 seed of :func:`chains.keys.mnemonic_seed`,
the one mnemonic path of every family) and ``derive_utxo_key(mnemonic, path, network)`` (the same
through that seed) return ``(UtxoKey, address)``; a :class:`UtxoKey` is
what a signer's ``key_for_path(path)`` should hand to :meth:`chains.utxo.UtxoAdapter.sign` (which
also takes a bitcoinlib ``Key``/``HDKey``, a WIF string or 32-byte private key hex).  ``network`` is
bitcoinlib's network name, the network config's ``[utxo] address_network`` (``litecoin_regtest``
and ``dash`` are registered, lazily and once, by :func:`chains.utxo.networks.register_networks`).  The private key never appears in
``repr``/``str``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chains.keys import mnemonic_seed
from chains.utxo.networks import register_networks

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = [
    "SCRIPT_TYPES",
    "UtxoKey",
    "derive_utxo_key",
    "derive_from_seed",
    "script_type_for_path",
    "address_for_pubkey",
    "as_utxo_key",
    "derive_utxo_key_for_address",
]

SCRIPT_TYPES = ("p2pkh", "p2sh-p2wpkh", "p2wpkh")
_PURPOSE = {44: "p2pkh", 49: "p2sh-p2wpkh", 84: "p2wpkh"}
_PATH = re.compile(r"^m(/\d+'?)+$")


def script_type_for_path(path: str) -> str:
    """``p2pkh`` / ``p2sh-p2wpkh`` / ``p2wpkh`` from a BIP-44/49/84 path (ValueError otherwise)."""
    p = path.replace("h", "'").replace("H", "'")
    if not _PATH.match(p):
        raise ValueError(f"{path!r} is not a BIP-32 derivation path like m/84'/0'/0'/0/0")
    purpose = p.split("/")[1]
    if not purpose.endswith("'") or int(purpose[:-1]) not in _PURPOSE:
        raise ValueError(f"{path!r}: the purpose must be 44', 49' or 84' (P2PKH, P2SH-P2WPKH, P2WPKH)")
    return _PURPOSE[int(purpose[:-1])]


def address_for_pubkey(public_key: bytes | str, script_type: str, network: str) -> str:
    """The address of a compressed public key for a script type on a bitcoinlib network."""
    from bitcoinlib.keys import Address

    register_networks()
    pub = bytes.fromhex(public_key) if isinstance(public_key, str) else bytes(public_key)
    if len(pub) != 33:
        raise ValueError("only compressed public keys (33 bytes) are supported")
    if script_type == "p2pkh":
        return Address(pub, script_type="p2pkh", encoding="base58", witness_type="legacy", network=network).address
    if script_type == "p2sh-p2wpkh":
        return Address(pub, script_type="p2sh_p2wpkh", encoding="base58", witness_type="p2sh-segwit",
                       network=network).address
    if script_type == "p2wpkh":
        return Address(pub, script_type="p2wpkh", encoding="bech32", witness_type="segwit", network=network).address
    raise ValueError(f"unsupported script type {script_type!r}; expected one of {', '.join(SCRIPT_TYPES)}")


@dataclass(frozen=True)
class UtxoKey:
    """A private key with the script type and network of the address it controls."""

    path: str | None
    network: str
    script_type: str
    address: str
    public_hex: str
    _secret: bytes = field(repr=False)

    def __repr__(self) -> str:  # never show the key
        return f"UtxoKey(path={self.path!r}, network={self.network!r}, address={self.address!r})"

    __str__ = __repr__

    @property
    def secret(self) -> bytes:
        return self._secret

    def bitcoinlib_key(self):
        from bitcoinlib.keys import Key

        return Key(self._secret.hex(), network=self.network, compressed=True, is_private=True)

    def wif(self) -> str:
        return self.bitcoinlib_key().wif()

    def address_for(self, script_type: str, network: str | None = None) -> str:
        return address_for_pubkey(self.public_hex, script_type, network or self.network)


@lru_cache(maxsize=8)
def _seed(mnemonic: str, passphrase: str) -> bytes:
    return mnemonic_seed(mnemonic, passphrase)


def derive_from_seed(seed: bytes, path: str, network: str, *, script_type: str | None = None
                     ) -> tuple[UtxoKey, str]:
    """The key at ``path`` of the BIP-32 tree of a BIP-39 ``seed`` (bitcoinlib ``HDKey.from_seed``) and
    the address it controls on ``network``; the script type follows the path's purpose (44/49/84)
    unless ``script_type`` is given."""
    from bitcoinlib.keys import HDKey

    register_networks()
    st = script_type or script_type_for_path(path)
    if st not in SCRIPT_TYPES:
        raise ValueError(f"unsupported script type {st!r}")
    if not isinstance(seed, (bytes, bytearray)) or len(seed) not in (16, 32, 64):
        raise ValueError("a BIP-39 seed is 64 bytes")
    master = HDKey.from_seed(bytes(seed), network=network)
    child = master.key_for_path(path.replace("h", "'").replace("H", "'"))
    secret = bytes.fromhex(child.private_hex)
    pub = child.public_hex
    address = address_for_pubkey(pub, st, network)
    return UtxoKey(path=path, network=network, script_type=st, address=address, public_hex=pub,
                   _secret=secret), address


def derive_utxo_key(mnemonic: str, path: str, network: str, *, script_type: str | None = None,
                    passphrase: str = "") -> tuple[UtxoKey, str]:
    """The key at ``path`` of the mnemonic's BIP-32 tree and the address it controls on ``network``.

    ``script_type`` defaults to the path's purpose (44/49/84); give it to override (e.g. a legacy
    fork-chain address derived at a BIP-84 path is not a thing, but a P2PKH one at 84' may be).
    """
    return derive_from_seed(_seed(mnemonic, passphrase), path, network, script_type=script_type)


def derive_utxo_key_for_address(mnemonic: str, path: str, expected_address: str, *,
                                passphrase: str = "") -> UtxoKey:
    """The key at ``path`` if it controls ``expected_address`` (for a signer that knows the address a
    plan spends from but not the bitcoinlib network); raises ``ValueError`` otherwise.  The networks
    tried are those whose prefixes the address carries; the script type is the path's purpose."""
    from bitcoinlib.keys import deserialize_address

    register_networks()
    try:
        info = deserialize_address(expected_address)
    except Exception as exc:
        raise ValueError(f"{expected_address!r} is not a UTXO address: {exc}") from None
    st = script_type_for_path(path)
    for network in info.get("networks") or []:
        key, address = derive_utxo_key(mnemonic, path, network, script_type=st, passphrase=passphrase)
        if address == expected_address:
            return key
    raise ValueError(f"the key derived at {path} does not control {expected_address}")


def as_utxo_key(key: Any, network: str, script_type: str) -> UtxoKey:
    """Normalise what a signer returned (``UtxoKey``, bitcoinlib ``Key``/``HDKey``, WIF, 32-byte hex,
    bytes) to a :class:`UtxoKey` for ``network`` and ``script_type``."""
    from bitcoinlib.keys import Key

    register_networks()
    if isinstance(key, UtxoKey):
        secret = key.secret
    elif isinstance(key, (bytes, bytearray)) and len(key) == 32:
        secret = bytes(key)
    elif isinstance(key, str):
        s = key.strip()
        if re.fullmatch(r"[0-9a-fA-F]{64}", s):
            secret = bytes.fromhex(s)
        else:
            k = Key(s, network=network) if _wif_network_ok(s, network) else Key(s)
            if not k.is_private:
                raise ValueError("the signer returned a public key, not a private key")
            if not k.compressed:
                raise ValueError("uncompressed keys are not supported")
            secret = bytes.fromhex(k.private_hex)
    elif hasattr(key, "private_hex") and getattr(key, "private_hex", None):
        if getattr(key, "compressed", True) is False:
            raise ValueError("uncompressed keys are not supported")
        secret = bytes.fromhex(key.private_hex)
    else:
        raise TypeError(f"cannot use a {type(key).__name__} as a UTXO private key")
    k = Key(secret.hex(), network=network, compressed=True, is_private=True)
    pub = k.public_hex
    return UtxoKey(path=getattr(key, "path", None) if isinstance(key, UtxoKey) else None, network=network,
                   script_type=script_type, address=address_for_pubkey(pub, script_type, network),
                   public_hex=pub, _secret=secret)


def _wif_network_ok(wif: str, network: str) -> bool:
    try:
        from bitcoinlib.keys import Key

        Key(wif, network=network)
        return True
    except Exception:
        return False


def verify_signed_message(message: str, signature: str, address: str, network: str) -> bool:
    """Whether ``signature`` (base64, the Bitcoin ``signmessage`` format) by ``address`` signs ``message``,
    with the network's message magic (``Litecoin Signed Message:`` ...)."""
    from bitcoinlib.keys import verify_message

    register_networks()
    try:
        return bool(verify_message(message, signature.strip(), address, network=network))
    except Exception:  # malformed base64, wrong length, unknown recovery id...
        return False
