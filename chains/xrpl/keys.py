"""XRP Ledger keys from the BIP-39 seed, and signed-message ownership proofs (xrpl-py keypairs).

* ``secp256k1``: BIP-32 at ``m/44'/144'/0'/0/N`` (XRPL's standard path, as xrpl.js ``Wallet.fromMnemonic``),
  by eth-account's ``key_from_seed`` (the derivation the EVM and Cosmos families use).  xrpl-py writes the
  private key as ``"00" + 32 bytes`` hex and the public key compressed (33 bytes).
* ``ed25519``: SLIP-10 (hardened steps only) by solders, as the Solana family; xrpl-py writes both keys
  with an ``"ED"`` prefix.

The classic address is xrpl-py's ``derive_classic_address`` of the public key (also of a key held on an HSM
token: :func:`public_key_hex` writes the token's key as xrpl-py does).  Ownership proofs are JSON
``{"public_key": hex, "signature": hex}``: a signature over the UTF-8 bytes of the message by the
sending account's key (xrpl-py ``keypairs.sign`` / ``is_valid_message``).  Nothing here logs or stores
key material; exceptions never include it.
"""

# Imports inside functions: xrpl-py, coincurve, PyNaCl and solders load on first use: the proof helpers
# serve claimants' tooling without the adapter, and importing the family loads no SDK.

from __future__ import annotations

import json
from dataclasses import dataclass, field

from chains.errors import InvalidRequest
from chains.keys import SeedError

SECP256K1 = "secp256k1"
ED25519 = "ed25519"
SCHEME = "xrpl-keypairs"


class XrplKeyError(SeedError):
    code = "bad_key"


@dataclass(frozen=True)
class XrplKey:
    """A private key (xrpl-py's hex form) and what it controls; the key is never in ``repr``."""

    private_key: str = field(repr=False)
    public_key: str
    address: str

    def sign(self, message: bytes) -> str:
        from xrpl.core import keypairs

        return keypairs.sign(message, self.private_key)


def _key(private_hex: str) -> XrplKey:
    """The key, its public key (``ED`` + 32 bytes for ed25519 by PyNaCl; compressed secp256k1 by coincurve)
    and classic address (xrpl-py)."""
    from xrpl.core import keypairs

    raw = bytes.fromhex(private_hex[2:])
    if private_hex.startswith("ED"):
        from nacl.signing import SigningKey

        public = "ED" + SigningKey(raw).verify_key.encode().hex().upper()
    else:
        from coincurve import PrivateKey

        try:
            public = PrivateKey(raw).public_key.format(compressed=True).hex().upper()
        except Exception:
            raise XrplKeyError("not a usable secp256k1 private key") from None
    return XrplKey(private_hex, public, keypairs.derive_classic_address(public))


def derive(seed: bytes, path: str, key_type: str) -> XrplKey:
    """The key at ``path`` of a 64-byte BIP-39 ``seed`` by ``key_type``."""
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != 64:
        raise XrplKeyError("the seed must be the 64-byte BIP-39 seed", code="bad_seed")
    if key_type == ED25519:
        from chains.solana.keys import SolanaKeyError, derive_keypair

        try:
            secret = bytes(derive_keypair(bytes(seed), path).secret())
        except SolanaKeyError as exc:
            raise XrplKeyError(str(exc).replace("Solana", "XRP Ledger"), code=exc.code) from None
        return _key("ED" + secret.hex().upper())
    from eth_account.hdaccount import key_from_seed

    try:
        secret = bytes(key_from_seed(bytes(seed), path))
    except Exception as exc:  # its messages may echo the input: never chain them
        raise XrplKeyError(f"cannot derive an XRP Ledger key at {path}: {type(exc).__name__}",
                           code="bad_path") from None
    return _key("00" + secret.hex().upper())


def from_secret(secret: bytes, key_type: str) -> XrplKey:
    raw = bytes(secret) if isinstance(secret, (bytes, bytearray)) else b""
    if len(raw) != 32:
        raise XrplKeyError(f"an XRP Ledger private key is 32 bytes, not {len(raw)}")
    return _key(("ED" if key_type == ED25519 else "00") + raw.hex().upper())


def public_key_hex(curve: str, public_key: bytes) -> str:
    """xrpl-py's hex form of a raw public key (an HSM token's): compressed secp256k1 as is (33 bytes), Ed25519
    prefixed ``ED`` (32 bytes), upper case, as ``SigningPubKey`` carries it and the address is derived from.
    Another curve is ``hsm_wrong_curve``."""
    raw = bytes(public_key)
    if curve == SECP256K1 and len(raw) == 33 and raw[0] in (2, 3):
        return raw.hex().upper()
    if curve == ED25519 and len(raw) == 32:
        return "ED" + raw.hex().upper()
    if curve not in (SECP256K1, ED25519):
        raise XrplKeyError(f"an XRP Ledger key is secp256k1 or Ed25519, not {curve}", code="hsm_wrong_curve")
    raise XrplKeyError(f"not a {curve} public key ({len(raw)} bytes)")


def address_of_public_key(curve: str, public_key: bytes) -> str:
    """The classic address of a raw public key (read from an HSM token), by xrpl-py's keypairs."""
    from xrpl.core import keypairs

    return keypairs.derive_classic_address(public_key_hex(curve, public_key))


def sign_message(key: XrplKey, message: str) -> str:
    """The ownership proof of ``message`` by ``key`` (what a claimant's tooling sends; pure)."""
    return json.dumps({"public_key": key.public_key, "signature": key.sign(message.encode("utf-8"))})


def verify_message(message: str, proof: str, sender: str) -> tuple[bool, str | None]:
    """``(ok, signer)``: the proof's public key must give ``sender``'s classic address and its signature
    verify over the message's UTF-8 bytes.  A proof that is not the JSON form raises ``bad_signature``."""
    from xrpl.core import keypairs

    try:
        doc = json.loads(proof)
        public, signature = str(doc["public_key"]), str(doc["signature"])
        bytes.fromhex(public), bytes.fromhex(signature)
    except (ValueError, TypeError, KeyError):
        raise InvalidRequest('the ownership proof is not JSON {"public_key": hex, "signature": hex}',
                             code="bad_signature") from None
    try:
        signer = keypairs.derive_classic_address(public.upper())
        ok = keypairs.is_valid_message(message.encode("utf-8"), bytes.fromhex(signature), public.upper())
    except Exception:  # not a key of either algorithm, or a malformed signature
        return False, None
    return bool(ok) and signer == sender, signer
