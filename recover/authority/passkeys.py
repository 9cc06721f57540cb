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
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from recover.authority.acting import Acting
from recover.authority.passkey_check import (  # noqa: F401
    DEFAULT_ORIGIN,
    DEFAULT_RP_ID,
    ORIGIN_ENV,
    RP_ID_ENV,
    SCHEME,
    Passkey,
    assertion_valid,
    challenge_of,
    check_relying_party,
    credential_of,
    enrolled_passkey,
    parse_passkey,
    relying_party,
    verify,
)
from recover.authority.statement_log import append, log_head, sealed
from recover.authority.statements import Signature, Statement
from recover.authority.trust import load_trust_root
from recover.errors import InvalidInput, PolicyRefused

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
FRESH_SECONDS = 300  # a decision's assertion must come back within this long after its body was made


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
            deployment = load_trust_root().deployment
        obj = super().__new__(cls, operator.name, person=operator.person, roles=frozenset(operator.roles.split(",")),
                              public_key=operator.public_key, signing_key=None, deployment=deployment)
        obj.passkey, obj.statement, obj.credential, obj.now = passkey, statement, credential, now
        return obj

    def attest(self, session, kind, subject, body):
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
