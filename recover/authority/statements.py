"""Signed statements: an action stored as canonical JSON with the Ed25519 signatures that authorise it.

The database is storage, not a source of trust: what a row says counts only if a statement signed
by the right keys says it too.  A statement is ``{"kind", "body"}``; its bytes are the canonical
JSON of exactly that (``recover.storage.canonical``), its hash the SHA-256 of those bytes, and each
signature an Ed25519 signature over them.  Admin statements (enrolling or revoking an operator) need
signatures by a quorum of distinct admin keys of the trust root (``recover.authority.trust``).

Pure: no database, no files; the services store and re-check.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from recover.errors import InvalidInput, PolicyRefused
from recover.storage.canonical import canonical_json, sha256_text
from recover.text import plural

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

#: Statements signed by a quorum of the trust root's admins (all others by one enrolled operator).
ADMIN_KINDS = ("address", "memo", "policy", "reopen", "operator_enroll", "operator_revoke", "close_by_admins")


@dataclass(frozen=True)
class Signature:
    """One signature over a statement's payload.  ``scheme`` is ``ed25519`` (``public_key`` the key,
    ``signature`` 64 bytes hex) or ``webauthn`` (a passkey: ``public_key`` the SHA-256 fingerprint of
    the enrolled COSE key, ``signature`` the authenticator's DER signature in hex, ``assertion`` the
    ``authenticator_data``, ``client_data_json`` and ``credential_id`` it signed, base64url; see
    ``recover.authority.passkeys``).  An Ed25519 signature serialises exactly as before the scheme existed."""

    public_key: str  # hex, 32 bytes
    signature: str   # hex
    scheme: str = "ed25519"
    assertion: dict | None = None

    def to_dict(self) -> dict:
        doc = {"public_key": self.public_key, "signature": self.signature}
        if self.scheme != "ed25519":
            doc.update(scheme=self.scheme, assertion=dict(self.assertion or {}))
        return doc


@dataclass(frozen=True)
class Statement:
    kind: str
    body: dict
    signatures: tuple[Signature, ...] = ()

    @cached_property
    def payload(self) -> str:
        """The bytes that are signed (as text): canonical JSON of ``{"kind", "body"}``.  Made once per
        statement (signing, hashing and storing each need it): a body is never changed after its
        statement is made, which would void every signature over it."""
        return canonical_json({"kind": self.kind, "body": self.body})

    @property
    def hash(self) -> str:
        """The SHA-256 of :attr:`payload`."""
        return sha256_text(self.payload)

    def signed_by(self, signing_key) -> "Statement":
        """This statement with one more signature (``signing_key``: a PyNaCl ``SigningKey``)."""
        sig = signing_key.sign(self.payload.encode("utf-8")).signature.hex()
        public = signing_key.verify_key.encode().hex()
        return Statement(self.kind, self.body, self.signatures + (Signature(public, sig),))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "body": self.body, "hash": self.hash,
                "signatures": [s.to_dict() for s in self.signatures]}

    @classmethod
    def from_dict(cls, doc: dict) -> "Statement":
        try:
            sigs = tuple(Signature(str(s["public_key"]), str(s["signature"]), str(s.get("scheme") or "ed25519"),
                                   dict(s["assertion"]) if s.get("assertion") is not None else None)
                         for s in doc.get("signatures") or ())
            return cls(str(doc["kind"]), dict(doc["body"]), sigs)
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("not a signed statement", code="bad_statement") from None


def signature_valid(public_hex: str, payload: str, signature_hex: str) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(bytes.fromhex(public_hex)).verify(payload.encode("utf-8"), bytes.fromhex(signature_hex))
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


def valid_signers(statement: Statement, allowed: set[str]) -> list[str]:
    """The distinct public keys among ``allowed`` whose signatures over the statement verify."""
    out: list[str] = []
    for sig in statement.signatures:
        key = sig.public_key.lower()
        if sig.scheme == "ed25519" and key in allowed and key not in out and \
                signature_valid(key, statement.payload, sig.signature):
            out.append(key)
    return out


def require_quorum(statement: Statement, admins: set[str], quorum: int) -> list[str]:
    """The admin keys that signed ``statement``; ``PolicyRefused`` (exit 7) below the quorum."""
    signers = valid_signers(statement, {a.lower() for a in admins})
    if len(signers) < quorum:
        bad = len(statement.signatures) - len(signers)
        raise PolicyRefused(
            f"{statement.kind} needs signatures by {plural(quorum, 'distinct admin')} of the trust root; it has "
            f"{len(signers)}" + (f" ({plural(bad, 'signature')} by keys outside the root, repeated, or invalid)"
                                 if bad else ""),
            code="admin_quorum_missing", details={"needed": quorum, "valid": len(signers)})
    return signers


# -- the signed place in the statement log (``recover.authority.statement_log``) ------------------------------
LOG = "log"


def envelope_of(statement: Statement) -> dict | None:
    """The statement's ``log`` member when it is well formed, else None."""
    env = statement.body.get(LOG)
    if not isinstance(env, dict):
        return None
    admin = statement.kind in ADMIN_KINDS
    keys = {"deployment", "head", "subject"} | ({"admin_seq"} if admin else set())
    if set(env) != keys or not all(isinstance(env[k], str) for k in ("deployment", "head", "subject")):
        return None
    if admin and (isinstance(env["admin_seq"], bool) or not isinstance(env["admin_seq"], int)
                  or env["admin_seq"] < 1):
        return None
    return env


def envelope_problem(statement: Statement, record, deployment: str) -> str | None:
    """Why a stored statement's signed place disagrees with its row or this deployment (None: it agrees)."""
    env = envelope_of(statement)
    if env is None:
        return "it names no place in the statement log (made before the log, or altered)"
    if env["deployment"] != deployment:
        return f"it was made for deployment {env['deployment'][:8]}…, not this one"
    if env["subject"] != record.subject:
        return f"its row says it is about {record.subject!r}, the statement says {env['subject']!r}"
    if env["head"] != record.head:
        return "its row names another head of the log than the statement"
    if env.get("admin_seq") != record.admin_seq:
        return "its row numbers it otherwise than the statement"
    return None
