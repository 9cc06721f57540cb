"""Passkeys (WebAuthn): one more kind of operator key, checked with the ``webauthn`` library.

An admin quorum enrolls a passkey credential like an Ed25519 key (``operators enroll --passkey
FILE``): the ``operator_enroll`` body then carries ``"scheme": "webauthn"``, the credential's COSE
public key (hex) and its id (base64url); the operator's ``public_key`` is the SHA-256 fingerprint of
the COSE key, so rows and signatures name a passkey the way they name an Ed25519 key.

A statement signed with a passkey is a WebAuthn assertion whose challenge is the SHA-256 of the
statement's payload (its hash): the authenticator signs ``authenticatorData || SHA-256(clientDataJSON)``
and the client data names that challenge, so the assertion is bound to every byte of the body (case,
plan hash, decision, reason, operator, time).  The assertion is stored as the statement's signature
and verified again, from the payload, wherever statements are read back (``Verifier.check``), so the
signer at ``case sign`` checks a passkey approval exactly as an Ed25519 one.  The relying party
(RP id and origin) a credential was made for is part of its admin-signed enrollment, so every host
verifies an assertion the same way, whatever its own ``RECOVER_WEB_RP_ID`` / ``RECOVER_WEB_ORIGIN``
say (those configure the web queue that asks browsers for credentials and assertions; ``serve`` warns
when they differ from an enrolled passkey's).  Sign counters are not tracked (each statement is checked on its own, counter 0 accepted): what binds
an approval is its challenge, not the counter.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from recover.authority import Acting
from recover.errors import InvalidInput, PolicyRefused
from recover.passkey_check import (DEFAULT_ORIGIN, DEFAULT_RP_ID, SCHEME, Passkey, assertion_valid,  # noqa: F401
                                    challenge_of, credential_of, enrolled_passkey, verify)
from recover.statements import Signature, Statement

RP_ID_ENV, ORIGIN_ENV = "RECOVER_WEB_RP_ID", "RECOVER_WEB_ORIGIN"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
FRESH_SECONDS = 300  # a decision's assertion must come back within this long after its body was made
_B64URL = re.compile(r"^[A-Za-z0-9_-]{16,1400}$")


def relying_party() -> tuple[str, str]:
    """``(rp_id, origin)`` of this deployment (the web app and every verifier use the same)."""
    return (os.environ.get(RP_ID_ENV) or DEFAULT_RP_ID).strip(), (os.environ.get(ORIGIN_ENV) or DEFAULT_ORIGIN).strip()


_RP_ID = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(:[0-9]{1,5})?$")


def check_relying_party(rp_id: str, origin: str) -> tuple[str, str]:
    """An RP id (a host name) and the origin (scheme, host, port) of a page on it; exit 4 otherwise."""
    from urllib.parse import urlsplit

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


def load_passkey_file(path) -> Passkey:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read passkey file {path}: {type(exc).__name__}", code="bad_file") from None
    return parse_passkey(doc)


# -- assertions -----------------------------------------------------------------------------------
def signature_of(passkey: Passkey, credential: dict) -> Signature:
    """The stored form of a browser's assertion (``PublicKeyCredential.toJSON()``)."""
    from webauthn.helpers import base64url_to_bytes

    try:
        resp = credential["response"]
        sig = base64url_to_bytes(str(resp["signature"])).hex()
        assertion = {"credential_id": str(credential["id"]),
                     "authenticator_data": str(resp["authenticatorData"]),
                     "client_data_json": str(resp["clientDataJSON"])}
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("not a WebAuthn assertion", code="invalid_assertion") from None
    return Signature(passkey.fingerprint, sig, SCHEME, assertion)


# -- acting with a passkey (the web queue) --------------------------------------------------------
class NeedsAssertion(Exception):
    """Raised by :class:`PasskeyActing` without an assertion: every rule of the service passed and
    ``statement`` is what the passkey must sign (its hash is the challenge).  Not an error: the
    caller rolls back and asks the browser for the assertion."""

    def __init__(self, statement: Statement):
        super().__init__("an assertion over this statement is needed")
        self.statement = statement


def _now() -> datetime:
    return datetime.now(timezone.utc)


class PasskeyActing(Acting):
    """The operator of an enrolled passkey, acting in a service (e.g. ``approvals.submit``).

    Without ``statement`` its ``attest`` raises :class:`NeedsAssertion` with the statement to sign;
    with the statement and the browser's ``credential`` it checks that the service asks for that
    very statement (same kind and body: the case's current plan, decision, reason), that it is
    fresh, and that the assertion verifies, then stores it.  So the rules live in the service only."""

    def __new__(cls, operator, passkey: Passkey, *, statement: Statement | None = None,
                credential: dict | None = None, now=_now, deployment: str | None = None):
        if deployment is None:
            from recover.trust import load_trust_root

            deployment = load_trust_root().deployment
        obj = super().__new__(cls, operator.name, person=operator.person, roles=frozenset(operator.roles.split(",")),
                              public_key=operator.public_key, signing_key=None, deployment=deployment)
        obj.passkey, obj.statement, obj.credential, obj.now = passkey, statement, credential, now
        return obj

    def attest(self, session, kind, subject, body):
        from recover.statement_log import append, log_head, sealed

        if self.statement is None:
            full = {**body, "by": self.name, "time": self.now().strftime(TIME_FORMAT), "nonce": secrets.token_hex(8)}
            full = sealed(full, deployment=self.deployment, head=log_head(session, lock=False), kind=kind,
                          subject=subject)
            raise NeedsAssertion(Statement(kind, full))
        st = self.statement
        asked = {k: v for k, v in st.body.items() if k not in ("by", "time", "nonce", "log")}
        if st.kind != kind or asked != body or st.body.get("by") != self.name or \
                (st.body.get("log") or {}).get("subject") != subject:
            raise PolicyRefused("the statement the passkey signed is not the one this action needs now (the plan or "
                                "the case changed since the page asked): reload and sign again", code="stale_statement")
        try:
            made = datetime.strptime(str(st.body.get("time")), TIME_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            raise PolicyRefused("the signed statement has no valid time", code="stale_statement") from None
        if not timedelta(0) <= self.now() - made <= timedelta(seconds=FRESH_SECONDS):
            raise PolicyRefused(f"the signed statement is older than {FRESH_SECONDS} s: sign again",
                                code="stale_statement")
        sig = signature_of(self.passkey, self.credential or {})
        signed = Statement(st.kind, st.body, (sig,))
        if not assertion_valid(self.passkey, signed.payload, sig):
            raise PolicyRefused("the passkey assertion does not verify for this statement", code="passkey_invalid")
        return append(session, signed, deployment=self.deployment)
