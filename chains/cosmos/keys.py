"""Cosmos keys: BIP-32 secp256k1 from a BIP-39 seed (eth-account's ``key_from_seed``, the same derivation
the EVM family uses), the address each key type gives, digests signed and checked with coincurve
(libsecp256k1), and ADR-036 ``signArbitrary`` ownership proofs as Keplr makes them.

Two key types (``[cosmos] key_type``):

* ``secp256k1`` (Cosmos Hub, Osmosis; coin type 118): address = RIPEMD-160(SHA-256(compressed key)),
  signatures over SHA-256 of the signed bytes, public key ``/cosmos.crypto.secp256k1.PubKey``;
* ``eth_secp256k1`` (Injective, Evmos; coin type 60): address = last 20 bytes of Keccak-256 of the
  uncompressed key (without its 0x04), signatures over Keccak-256, public key
  ``/injective.crypto.v1beta1.ethsecp256k1.PubKey`` (the same protobuf shape: one ``bytes key``,
  compressed).

Signatures are 64 bytes ``r || s`` with a low ``s`` (libsecp256k1 always makes low-s, and nodes refuse
the other).  Nothing here logs, prints or stores key material; exceptions never include it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from chains.cosmos.addresses import decode, encode
from chains.errors import InvalidRequest
from chains.keys import SeedError

# Imports inside functions: coincurve and eth-utils load on first use: the ADR-036 helpers serve claimants'
# tooling without the adapter, and importing the family loads no SDK.

SECP256K1 = "secp256k1"
ETH_SECP256K1 = "eth_secp256k1"
PUBKEY_TYPE_URL = {SECP256K1: "/cosmos.crypto.secp256k1.PubKey",
                   ETH_SECP256K1: "/injective.crypto.v1beta1.ethsecp256k1.PubKey"}
#: the amino JSON names of public keys Keplr's ``signArbitrary`` returns (ethermint's name is accepted too)
AMINO_PUBKEY_TYPES = {SECP256K1: ("tendermint/PubKeySecp256k1",),
                      ETH_SECP256K1: ("injective/PubKeyEthSecp256k1", "ethermint/PubKeyEthSecp256k1")}
ADR036 = "adr036"


class CosmosKeyError(SeedError):
    """A key could not be derived or loaded (the message never contains secrets; exit 4)."""

    code = "bad_key"


@dataclass(frozen=True)
class CosmosKey:
    """A private key and what it controls; ``secret`` never shows in a repr."""

    secret: bytes = field(repr=False)
    key_type: str
    prefix: str

    @property
    def public_key(self) -> bytes:
        """The 33-byte compressed public key (what the chain stores for both key types)."""
        from coincurve import PrivateKey

        return PrivateKey(self.secret).public_key.format(compressed=True)

    @property
    def address(self) -> str:
        return address_of(self.public_key, self.key_type, self.prefix)

    def sign(self, message: bytes) -> bytes:
        """64 bytes ``r || s`` (low s) over the key type's digest of ``message``."""
        from coincurve import PrivateKey

        return PrivateKey(self.secret).sign_recoverable(digest(message, self.key_type), hasher=None)[:64]


def digest(message: bytes, key_type: str) -> bytes:
    """What a key type signs: SHA-256 (Cosmos) or Keccak-256 (Ethereum-style keys) of the bytes."""
    if key_type == ETH_SECP256K1:
        from eth_utils import keccak

        return keccak(message)
    return hashlib.sha256(message).digest()


def _ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL 3 builds without the legacy provider: pycryptodome (eth-account's) has it
        from Crypto.Hash import RIPEMD160

        return RIPEMD160.new(data).digest()


def address_bytes(public_key: bytes, key_type: str) -> bytes:
    """The 20 address bytes of a (compressed or uncompressed) public key for ``key_type``."""
    from coincurve import PublicKey

    key = PublicKey(bytes(public_key))
    if key_type == ETH_SECP256K1:
        from eth_utils import keccak

        return keccak(key.format(compressed=False)[1:])[-20:]
    return _ripemd160(hashlib.sha256(key.format(compressed=True)).digest())


def address_of(public_key: bytes, key_type: str, prefix: str) -> str:
    return encode(prefix, address_bytes(public_key, key_type))


def address_of_public_key(curve: str, public_key: bytes, key_type: str, prefix: str) -> str:
    """The address of a public key read from an HSM token (33 bytes compressed): secp256k1 only."""
    if curve != SECP256K1:
        raise CosmosKeyError(f"a Cosmos address is a secp256k1 key's, not an {curve} key's", code="hsm_wrong_curve")
    try:
        return address_of(bytes(public_key), key_type, prefix)
    except Exception as exc:
        raise CosmosKeyError(f"not a secp256k1 public key: {type(exc).__name__}") from None


def verify(public_key: bytes, message: bytes, signature: bytes, key_type: str) -> bool:
    """Whether ``signature`` (64 bytes ``r || s``; a trailing recovery byte is ignored as ethermint does)
    by ``public_key`` signs ``message`` under ``key_type``'s digest.  A high ``s`` does not verify."""
    from coincurve import PublicKey
    from coincurve.ecdsa import cdata_to_der, deserialize_compact

    sig = bytes(signature)
    if key_type == ETH_SECP256K1 and len(sig) == 65:
        sig = sig[:64]
    if len(sig) != 64:
        return False
    try:
        der = cdata_to_der(deserialize_compact(sig))
        return bool(PublicKey(bytes(public_key)).verify(der, digest(message, key_type), hasher=None))
    except Exception:  # malformed key or signature bytes: not a valid signature
        return False


# -- derivation --------------------------------------------------------------------------------------
def derive(seed: bytes, path: str, key_type: str, prefix: str) -> CosmosKey:
    """The key at BIP-32 ``path`` of a 64-byte BIP-39 ``seed`` (``m/44'/118'/0'/0/N`` or ``m/44'/60'/...``)."""
    from eth_account.hdaccount import key_from_seed

    if not isinstance(seed, (bytes, bytearray)) or len(seed) != 64:
        raise CosmosKeyError("the seed must be the 64-byte BIP-39 seed", code="bad_seed")
    try:
        secret = bytes(key_from_seed(bytes(seed), path))
    except Exception as exc:  # its messages may echo the input: never chain them
        raise CosmosKeyError(f"cannot derive a Cosmos key at {path}: {type(exc).__name__}", code="bad_path") from None
    return CosmosKey(secret, key_type, prefix)


def from_secret(secret: bytes, key_type: str, prefix: str) -> CosmosKey:
    """A key from 32 raw private-key bytes (a decrypted keystore)."""
    from coincurve import PrivateKey

    raw = bytes(secret) if isinstance(secret, (bytes, bytearray)) else b""
    try:
        if len(raw) != 32:
            raise ValueError
        PrivateKey(raw)
    except Exception:
        raise CosmosKeyError(f"not a usable secp256k1 private key ({len(raw)} bytes)") from None
    return CosmosKey(raw, key_type, prefix)


# -- ADR-036 (Keplr signArbitrary) ---------------------------------------------------------------------
def adr036_sign_bytes(signer: str, message: str | bytes) -> bytes:
    """The amino JSON sign doc Keplr signs for ``signArbitrary(chainId, signer, data)``: keys sorted,
    compact, ``&<>`` escaped as cosmjs's ``serializeSignDoc`` does (keplr-wallet
    ``packages/cosmos/src/adr-36/amino.ts`` ``makeADR36AminoSignDoc``)."""
    data = message.encode() if isinstance(message, str) else bytes(message)
    doc = {"account_number": "0", "chain_id": "", "fee": {"amount": [], "gas": "0"}, "memo": "",
           "msgs": [{"type": "sign/MsgSignData",
                     "value": {"data": base64.b64encode(data).decode(), "signer": signer}}],
           "sequence": "0"}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return text.encode()


def sign_arbitrary(key: CosmosKey, message: str | bytes, signer: str | None = None) -> str:
    """The JSON Keplr's ``signArbitrary`` returns (``{"pub_key": {"type", "value"}, "signature"}``), made
    with ``key`` (claimants' tooling and the tests)."""
    signer = signer or key.address
    sig = key.sign(adr036_sign_bytes(signer, message))
    return json.dumps({"pub_key": {"type": AMINO_PUBKEY_TYPES[key.key_type][0],
                                   "value": base64.b64encode(key.public_key).decode()},
                       "signature": base64.b64encode(sig).decode()}, separators=(",", ":"))


def parse_proof(signature: str) -> tuple[str, bytes, bytes]:
    """``(pub key type, public key bytes, signature bytes)`` of a ``signArbitrary`` JSON answer; a
    malformed one raises ``InvalidRequest`` ``bad_signature``."""
    try:
        doc = json.loads(signature) if isinstance(signature, str) else None
        pub = doc["pub_key"]
        return (str(pub["type"]), base64.b64decode(pub["value"], validate=True),
                base64.b64decode(doc["signature"], validate=True))
    except (ValueError, TypeError, KeyError):
        raise InvalidRequest('not a Keplr signArbitrary answer: expected {"pub_key": {"type", "value"}, '
                             '"signature"} with base64 values', code="bad_signature") from None


def verify_adr036(message: str, signature: str, sender: str, key_type: str, prefix: str) -> tuple[bool, str | None]:
    """``(ok, signer)``: the proof's public key must be of ``key_type``, give ``sender``'s address under
    ``prefix``, and its signature must verify over the ADR-036 sign doc of ``message`` by ``sender``.
    ``signer`` is the address the public key gives (None when the key is malformed)."""
    pub_type, pub, sig = parse_proof(signature)
    try:
        signer = address_of(pub, key_type, prefix)
    except Exception:  # not a secp256k1 point
        return False, None
    if pub_type not in AMINO_PUBKEY_TYPES[key_type] or decode(sender) is None or signer != sender.lower():
        return False, signer
    return verify(pub, adr036_sign_bytes(sender, message), sig, key_type), signer
