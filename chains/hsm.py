"""Wallet keys held in an HSM, reached over PKCS#11 (python-pkcs11).

An HSM cannot derive BIP-32 children, so only the exchange's own wallet keys live here (the gas
station, the shared wallet that pays refunds, Solana's fee payer); per-deposit keys stay with the HD
seed or the offline signer.  A key is found by its label on a token found by its label; the token
never hands out the private key, it signs:

- secp256k1 (EVM, UTXO, Cosmos): ``CKM_ECDSA`` over a 32-byte digest the family computed, giving raw
  ``r || s``.  :func:`low_s` and :func:`recovery_id` are the finishing steps every secp256k1 family
  needs (each family then encodes the signature its own way).
- Ed25519 (Solana, Stellar): ``CKM_EDDSA`` over the message itself, giving the 64-byte signature.

Nothing here logs or echoes the PIN; errors name the token, the key label and what to set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chains.errors import ChainError

# Imports inside functions: python-pkcs11 (and the module it loads) only on a host that uses a token.

SECP256K1 = "secp256k1"
ED25519 = "ed25519"
_CURVE_OIDS = {"1.3.132.0.10": SECP256K1, "1.3.101.112": ED25519}
_CURVE_NAMES = {"edwards25519": ED25519, "secp256k1": SECP256K1}  # printable-string EC_PARAMS some tokens keep
# the order of the secp256k1 group: a signature with s above half of it is malleable (and refused by EVM
# nodes, Cosmos SDK and Bitcoin's standardness rules), so a token's s is folded below it
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class HsmError(ChainError):
    """The token or its key cannot be used as configured (exit 4: configuration of this host)."""

    code = "hsm_error"
    exit_code = 4


class HsmKeyMissing(ChainError):
    """The token holds no usable private key under the label (exit 7, as a missing keystore file)."""

    code = "signer_missing_key"
    exit_code = 7


@dataclass(frozen=True)
class Token:
    """Where a token is: the PKCS#11 module (a shared library), the token's label and its user PIN."""

    module: str
    label: str
    pin: str = field(repr=False)


@dataclass(frozen=True)
class HsmKey:
    """One key pair on a token: its label, curve and public key (secp256k1: 33 bytes compressed;
    Ed25519: the 32 raw bytes).  Signing opens a session on the token for each call."""

    token: Token
    label: str
    curve: str
    public_key: bytes

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        """``(r, s)`` of an ECDSA signature over a 32-byte ``digest``, ``s`` folded low."""
        if self.curve != SECP256K1 or len(digest) != 32:
            raise HsmError(f"key {self.label!r} on token {self.token.label!r} is {self.curve}: it cannot sign a "
                           "secp256k1 digest", code="hsm_wrong_curve")
        raw = _sign(self, digest, "ECDSA")
        if len(raw) != 64:
            raise HsmError(f"token {self.token.label!r} returned a {len(raw)}-byte ECDSA signature", code="hsm_error")
        return low_s(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    def sign_ed25519(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        if self.curve != ED25519:
            raise HsmError(f"key {self.label!r} on token {self.token.label!r} is {self.curve}: it cannot sign "
                           "Ed25519", code="hsm_wrong_curve")
        raw = _sign(self, bytes(message), "EDDSA")
        if len(raw) != 64:
            raise HsmError(f"token {self.token.label!r} returned a {len(raw)}-byte Ed25519 signature", code="hsm_error")
        return raw


def low_s(r: int, s: int) -> tuple[int, int]:
    """The canonical form of a secp256k1 signature: ``s`` at most half the group order (BIP-62,
    EIP-2): ``(r, n - s)`` signs the same digest with the same key."""
    return (r, SECP256K1_N - s) if s > SECP256K1_N // 2 else (r, s)


def recovery_id(digest: bytes, r: int, s: int, public_key: bytes) -> int:
    """The recovery id (0 or 1) under which ``(r, s)`` over ``digest`` recovers ``public_key`` (33 bytes
    compressed): a token does not say it, so both are tried.  Raises when neither recovers the key
    (the token signed with another key than the one it showed)."""
    from coincurve import PublicKey

    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for rec in (0, 1):
        try:
            got = PublicKey.from_signature_and_message(sig + bytes([rec]), digest, hasher=None)
        except Exception:
            continue
        if got.format(compressed=True) == public_key:
            return rec
    raise HsmError("the token's signature does not recover the key it showed", code="hsm_bad_signature")


# -- the token (I/O) ----------------------------------------------------------------------------
_LIBS: dict[str, object] = {}
_LOCK = threading.Lock()


def _lib(module: str):
    """The loaded PKCS#11 module (one per path per process: C_Initialize runs once)."""
    import pkcs11

    with _LOCK:
        if module not in _LIBS:
            try:
                _LIBS[module] = pkcs11.lib(module)
            except Exception as exc:
                raise HsmError(f"cannot load the PKCS#11 module {module}: {type(exc).__name__}",
                               code="hsm_unavailable", details={"module": module}) from None
        return _LIBS[module]


def _open(token: Token):
    """A read-only user session on the token (logged in with its PIN)."""
    import pkcs11
    from pkcs11 import exceptions as px

    lib = _lib(token.module)
    try:
        tok = lib.get_token(token_label=token.label)
    except (px.NoSuchToken, px.MultipleTokensReturned):
        raise HsmError(f"no token labelled {token.label!r} in {token.module} (or more than one)", code="hsm_token_missing",
                       details={"token": token.label, "module": token.module}) from None
    try:
        return tok.open(user_pin=token.pin)
    except px.PinIncorrect:
        raise HsmError(f"token {token.label!r} refused the PIN (RECOVER_PKCS11_PIN / RECOVER_PKCS11_PIN_FILE)",
                       code="hsm_pin_incorrect", details={"token": token.label}) from None
    except px.PinLocked:
        raise HsmError(f"token {token.label!r}: its user PIN is locked (too many wrong PINs); the token's security "
                       "officer must reset it", code="hsm_pin_locked", details={"token": token.label}) from None
    except pkcs11.PKCS11Error as exc:
        raise HsmError(f"cannot open token {token.label!r}: {type(exc).__name__}", code="hsm_unavailable",
                       details={"token": token.label}) from None


def _curve_of(params: bytes) -> str | None:
    """The curve an ``EC_PARAMS`` attribute names (an OID, or a printable name some tokens keep)."""
    from asn1crypto.core import Asn1Value, ObjectIdentifier, PrintableString

    try:
        value = Asn1Value.load(bytes(params))
    except Exception:
        return None
    if isinstance(value, ObjectIdentifier) or getattr(value, "tag", None) == 6:
        return _CURVE_OIDS.get(ObjectIdentifier.load(bytes(params)).dotted)
    try:
        return _CURVE_NAMES.get(PrintableString.load(bytes(params)).native)
    except Exception:
        return None


def _public_key(curve: str, point: bytes) -> bytes | None:
    """The family-neutral public key of an ``EC_POINT`` (DER OCTET STRING, or the bare point)."""
    from asn1crypto.core import OctetString

    try:
        raw = OctetString.load(bytes(point)).native
    except Exception:
        raw = bytes(point)
    if curve == ED25519:
        return raw if len(raw) == 32 else None
    try:
        from coincurve import PublicKey

        return PublicKey(raw).format(compressed=True)
    except Exception:
        return None


def _keys(session, token: Token, label: str | None = None) -> list[HsmKey]:
    from pkcs11 import Attribute, ObjectClass

    query = {Attribute.CLASS: ObjectClass.PUBLIC_KEY}
    if label is not None:
        query[Attribute.LABEL] = label
    out = []
    for pub in session.get_objects(query):
        try:
            curve = _curve_of(pub[Attribute.EC_PARAMS])
            key = _public_key(curve, pub[Attribute.EC_POINT]) if curve else None
        except Exception:  # not an EC key (RSA, ...): not a wallet key
            continue
        if key is not None:
            out.append(HsmKey(token=token, label=pub.label, curve=curve, public_key=key))
    return out


def _private(session, key: HsmKey):
    from pkcs11 import Attribute, ObjectClass

    found = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key.label}))
    if len(found) != 1:
        raise HsmKeyMissing(f"token {key.token.label!r} holds {len(found)} private keys labelled {key.label!r} "
                            "(exactly one is needed)", details={"token": key.token.label, "label": key.label})
    return found[0]


def _sign(key: HsmKey, data: bytes, mechanism: str) -> bytes:
    import pkcs11
    from pkcs11 import Mechanism

    with _open(key.token) as session:
        private = _private(session, key)
        try:
            return bytes(private.sign(data, mechanism=getattr(Mechanism, mechanism)))
        except pkcs11.PKCS11Error as exc:
            raise HsmError(f"token {key.token.label!r} could not sign with {key.label!r}: {type(exc).__name__}",
                           code="hsm_sign_failed") from None


def open_key(token: Token, label: str) -> HsmKey:
    """The key pair labelled ``label`` on the token (its public half read now; signing is later).
    Raises ``HsmKeyMissing`` when the token has no such key pair (public and private halves)."""
    with _open(token) as session:
        found = _keys(session, token, label)
        if len(found) != 1:
            raise HsmKeyMissing(f"token {token.label!r} holds no secp256k1 or Ed25519 key pair labelled {label!r}"
                                if not found else f"token {token.label!r} holds {len(found)} keys labelled {label!r}",
                                details={"token": token.label, "label": label})
        _private(session, found[0])
        return found[0]


def token_keys(token: Token) -> list[HsmKey]:
    """Every secp256k1 and Ed25519 public key on the token, by label."""
    with _open(token) as session:
        return sorted(_keys(session, token), key=lambda k: k.label or "")
