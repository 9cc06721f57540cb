"""Checking a passkey's signature over a statement: the part of ``recover.authority.passkeys`` that every
reader of statements needs (the signer, ``audit verify``, and the read path of ``case show`` and
``queue list``), without the web queue's acting and enrolment code.  The ``webauthn`` library is
imported only when a passkey assertion is actually checked."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from recover.errors import InvalidInput

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

SCHEME = "webauthn"
DEFAULT_RP_ID, DEFAULT_ORIGIN = "localhost", "http://localhost:8080"
RP_ID_ENV, ORIGIN_ENV = "RECOVER_WEB_RP_ID", "RECOVER_WEB_ORIGIN"
_B64URL = re.compile(r"^[A-Za-z0-9_-]{16,1400}$")


@dataclass(frozen=True)
class Passkey:
    """An enrolled (or to-be-enrolled) credential: its id (base64url), COSE public key (hex), and
    the relying party (RP id and origin) the browser made it for and asserts with."""

    credential_id: str
    cose_key: str
    rp_id: str = DEFAULT_RP_ID
    origin: str = DEFAULT_ORIGIN

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.cose_key)).hexdigest()

    def to_dict(self) -> dict:
        return {"scheme": SCHEME, "credential_id": self.credential_id, "cose_key": self.cose_key,
                "fingerprint": self.fingerprint, "rp_id": self.rp_id, "origin": self.origin}


def enrolled_passkey(body: dict, *, check: bool = False) -> Passkey | None:
    """The passkey an ``operator_enroll`` body enrolls, at the relying party it names (None for an
    Ed25519 key).  ``check``: refuse a body whose passkey or relying party is malformed (enrolling)."""
    if body.get("scheme", "ed25519") != SCHEME:
        return None
    doc = {"credential_id": body.get("credential_id"), "cose_key": body.get("cose_key"),
           "rp_id": body.get("rp_id"), "origin": body.get("origin")}
    if check:
        if not body.get("rp_id") or not body.get("origin"):
            raise InvalidInput("a passkey's enrollment names the relying party it was made for (rp_id, origin)",
                               code="invalid_passkey")
        return parse_passkey(doc)
    return Passkey(str(doc["credential_id"] or ""), str(doc["cose_key"] or ""), str(doc["rp_id"] or ""),
                   str(doc["origin"] or ""))


def challenge_of(payload: str) -> bytes:
    """The WebAuthn challenge of a statement: the SHA-256 of its payload (= its hash)."""
    return hashlib.sha256(payload.encode("utf-8")).digest()


def credential_of(sig) -> dict:
    """The assertion of a stored signature, in the JSON form ``verify_authentication_response`` reads."""
    from webauthn.helpers import bytes_to_base64url

    a = sig.assertion or {}
    return {"id": a.get("credential_id"), "rawId": a.get("credential_id"), "type": "public-key",
            "response": {"authenticatorData": a.get("authenticator_data"),
                         "clientDataJSON": a.get("client_data_json"),
                         "signature": bytes_to_base64url(bytes.fromhex(sig.signature))}}


def verify(passkey: Passkey, challenge: bytes, credential: dict):
    """``webauthn.verify_authentication_response`` at the relying party the passkey was enrolled for
    (never this host's settings: a signature's validity is signed data, not a local variable), with
    user verification required; raises ``InvalidAuthenticationResponse``."""
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import InvalidAuthenticationResponse

    if credential.get("id") != passkey.credential_id:
        raise InvalidAuthenticationResponse("the assertion is by another credential")
    if not passkey.rp_id or not passkey.origin:
        raise InvalidAuthenticationResponse("the passkey's enrollment names no relying party")
    return verify_authentication_response(credential=credential, expected_challenge=challenge,
                                          expected_rp_id=passkey.rp_id, expected_origin=passkey.origin,
                                          credential_public_key=bytes.fromhex(passkey.cose_key),
                                          credential_current_sign_count=0, require_user_verification=True)


def assertion_valid(passkey: Passkey, payload: str, sig) -> bool:
    """Whether ``sig`` is an assertion by ``passkey`` over exactly ``payload``."""
    if sig.scheme != SCHEME or sig.public_key.lower() != passkey.fingerprint:
        return False
    try:
        verify(passkey, challenge_of(payload), credential_of(sig))
        return True
    except Exception:  # InvalidAuthenticationResponse, or a malformed field the parser refuses
        return False


# -- what an enrolment names -------------------------------------------------------------------------
def relying_party() -> tuple[str, str]:
    """``(rp_id, origin)`` of this deployment (the web app and every verifier use the same)."""
    return (os.environ.get(RP_ID_ENV) or DEFAULT_RP_ID).strip(), (os.environ.get(ORIGIN_ENV) or DEFAULT_ORIGIN).strip()


_RP_ID = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(:[0-9]{1,5})?$")


def check_relying_party(rp_id: str, origin: str) -> tuple[str, str]:
    """An RP id (a host name) and the origin (scheme, host, port) of a page on it; exit 4 otherwise."""
    rp_id, origin = (rp_id or "").strip().lower(), (origin or "").strip().lower().rstrip("/")
    if not _RP_ID.match(rp_id):
        raise InvalidInput(f"relying party id {rp_id!r} is not a host name", code="invalid_passkey")
    if not _ORIGIN.match(origin):
        raise InvalidInput(f"origin {origin!r} is not like https://queue.example.com", code="invalid_passkey")
    host = urlsplit(origin).hostname or ""
    if host != rp_id and not host.endswith("." + rp_id):
        raise InvalidInput(f"origin {origin} is not on the relying party {rp_id}", code="invalid_passkey")
    return rp_id, origin


def parse_passkey(doc) -> Passkey:
    """A passkey from ``{"credential_id", "cose_key", "rp_id", "origin"}`` (what the enrolment page
    shows), checked: the id is base64url, the key a COSE public key the ``webauthn`` library can
    verify with, the origin a page of the RP id.  A file without ``rp_id`` / ``origin`` takes this
    host's ``RECOVER_WEB_RP_ID`` / ``RECOVER_WEB_ORIGIN``."""
    from webauthn.helpers import decode_credential_public_key

    if not isinstance(doc, dict):
        raise InvalidInput("a passkey file is a JSON object with credential_id and cose_key", code="invalid_passkey")
    cid, key = str(doc.get("credential_id") or ""), str(doc.get("cose_key") or "").lower()
    if not _B64URL.match(cid):
        raise InvalidInput("the passkey's credential_id is not base64url", code="invalid_passkey")
    if not re.fullmatch(r"(?:[0-9a-f]{2}){16,1024}", key):
        raise InvalidInput("the passkey's cose_key is not a hex COSE public key", code="invalid_passkey")
    try:
        decode_credential_public_key(bytes.fromhex(key))
    except Exception:  # the library raises several kinds for a malformed key
        raise InvalidInput("the passkey's cose_key is not a COSE public key", code="invalid_passkey") from None
    here_rp, here_origin = relying_party()
    rp_id, origin = check_relying_party(str(doc.get("rp_id") or here_rp), str(doc.get("origin") or here_origin))
    return Passkey(cid, key, rp_id, origin)
