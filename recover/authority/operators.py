"""Enrolled operators: a person's Ed25519 key with roles, enrolled and revoked by an admin quorum.

An operator row is a view of two signed statements: ``operator_enroll`` (name, public key, roles,
person) and, later, ``operator_revoke``, which names the enrollment it ends (by hash) and the key
that enrollment enrolled (never a row's key, which anyone who can write to the database could swap
for a decoy before the admins sign).  Each needs signatures by a quorum of the trust root's admins.
:func:`operator_status` re-derives an operator from its statements against the root, so an operator
inserted, edited or "un-revoked" directly in the database does not count; a revocation hidden by
deleting or re-labelling its row breaks the statement log (``recover.authority.statement_log``).  One person
(ids compared normalised: case, width and surrounding blanks do not make a new person) has at most
one active approving key (roles ``approver`` or ``senior``): aliases do not add up.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from sqlmodel import Session, select

from recover.authority.admin_statements import admin_attest
from recover.authority.enrollment import (
    admin_statement,
    enrolled_passkey_in,
    operator_status_in,
    revocation_of,
    statement_of,
)
from recover.authority.keyfile import public_hex, write_encrypted
from recover.authority.passkey_check import enrolled_passkey
from recover.authority.session_store import SessionStore
from recover.authority.statement_log import append, log_head, sealed
from recover.authority.statements import Statement, require_quorum
from recover.authority.trust import TrustRoot
from recover.errors import DuplicateClaim, IllegalTransition, InvalidInput, NotFound, PolicyRefused
from recover.life.operations import APPROVING, ROLES
from recover.storage.audit import append_event
from recover.storage.models import Operator, StatementRecord, utcnow

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def valid_name(name: str) -> bool:
    """Whether ``name`` can be an operator's name (letters, digits, . _ @ -; at most 128)."""
    return bool(_NAME.match(name or ""))


def normalize_person(text: str) -> str:
    """One spelling per person: Unicode NFKC, surrounding blanks removed, case folded."""
    return unicodedata.normalize("NFKC", text or "").strip().casefold()


def parse_roles(text: str) -> tuple[str, ...]:
    roles = tuple(sorted({r.strip() for r in (text or "").split(",") if r.strip()}))
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise InvalidInput(f"roles must be one or more of {', '.join(ROLES)}"
                           + (f" (unknown: {', '.join(unknown)})" if unknown else ""), code="invalid_role")
    return roles


def _public_hex(text: str) -> str:
    return public_hex(text)


def keygen(name: str, out) -> str:
    """A new operator key pair: the private key sealed in ``out`` (0600), the public key returned for
    the admins to enroll."""
    from nacl.signing import SigningKey

    if not valid_name(name):
        raise InvalidInput(f"operator name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    key = SigningKey.generate()
    public = key.verify_key.encode().hex()
    write_encrypted(Path(out), bytes(key.encode()), public, name=name)
    return public


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def enrollment_statement(root: TrustRoot, name: str, public_key: str | None, roles: tuple[str, ...], person: str,
                         admin_keys: list, *, head, passkey=None) -> Statement:
    """The ``operator_enroll`` statement, sealed at ``head`` of the statement log and signed by
    ``admin_keys`` (checked: a quorum of ``root``).  With ``passkey`` (a ``recover.authority.passkeys.Passkey``)
    the key is that WebAuthn credential: the body adds ``scheme``, ``cose_key``, ``credential_id`` and
    the relying party (``rp_id``, ``origin``) it was made for, and its ``public_key`` is the key's
    fingerprint."""
    if passkey is not None:
        extra = {"scheme": "webauthn", "cose_key": passkey.cose_key, "credential_id": passkey.credential_id,
                 "rp_id": passkey.rp_id, "origin": passkey.origin}
        public = passkey.fingerprint
    else:
        extra, public = {}, _public_hex(public_key)
    body = {"name": name, "public_key": public, "roles": list(roles), "person": normalize_person(person),
            "time": _now(), **extra}
    statement = Statement("operator_enroll", sealed(body, deployment=root.deployment, head=head,
                                                    kind="operator_enroll", subject=name))
    for key in admin_keys:
        statement = statement.signed_by(key)
    require_quorum(statement, root.admin_keys, root.quorum)
    return statement


def enroll(session: Session, root: TrustRoot, name: str, public_key: str | None, roles: tuple[str, ...], person: str,
           admin_keys: list, *, passkey=None) -> Operator:
    if not valid_name(name):  # before anything is signed
        raise InvalidInput(f"operator name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    statement = enrollment_statement(root, name, public_key, roles, person, admin_keys, head=log_head(session),
                                     passkey=passkey)
    return apply_enrollment(session, root, statement)


def _enrolled_public(body: dict) -> str:
    """The operator key an enrollment names: an Ed25519 key, or a passkey's fingerprint (checked
    against its COSE key, which must be one, made for a relying party the enrollment names)."""
    scheme = body.get("scheme", "ed25519")
    if scheme == "ed25519":
        return _public_hex(str(body.get("public_key")))
    if scheme != "webauthn":
        raise InvalidInput(f"unknown key scheme {scheme!r}", code="invalid_public_key")
    passkey = enrolled_passkey(body, check=True)
    if str(body.get("public_key")) != passkey.fingerprint:
        raise InvalidInput("the passkey's public_key is not the fingerprint of its COSE key", code="invalid_passkey")
    return passkey.fingerprint


def enrolled_passkey_of(session: Session, row: Operator):
    """The passkey an operator's enrollment statement enrolls, or None for an Ed25519 key (the row
    was checked against that statement by :func:`operator_status`)."""
    return enrolled_passkey_in(SessionStore(session), row)


def apply_enrollment(session: Session, root: TrustRoot, statement: Statement) -> Operator:
    """Store an admin-signed enrollment and its operator row, after every check (a statement signed
    elsewhere, e.g. at an offline admin ceremony, goes through here too)."""
    body = statement.body
    if statement.kind != "operator_enroll":
        raise InvalidInput("not an operator enrollment", code="bad_statement")
    name, public, person = str(body.get("name")), _enrolled_public(body), str(body.get("person"))
    roles = tuple(body.get("roles") or ())
    if list(roles) != sorted(set(roles)) or not roles or any(r not in ROLES for r in roles):
        raise InvalidInput("the enrollment's roles are not a sorted list of known roles", code="invalid_role")
    if not valid_name(name):
        raise InvalidInput(f"operator name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    if not _PERSON.match(person or "") or person != normalize_person(person):
        raise InvalidInput(f"--person {person!r} is not a valid person id", code="invalid_person")
    if (body.get("log") or {}).get("subject") != name:
        raise InvalidInput("the enrollment is not about the operator it enrolls", code="bad_statement")
    if public in root.admin_keys:
        raise InvalidInput("an admin key of the trust root cannot also be an operator key",
                           code="admin_key_as_operator")
    if session.exec(select(Operator).where(Operator.name == name)).first():
        raise DuplicateClaim(f"operator {name} is already enrolled", code="duplicate_operator")
    if session.exec(select(Operator).where(Operator.public_key == public)).first():
        raise DuplicateClaim("this public key is already enrolled", code="duplicate_key")
    if APPROVING & set(roles):
        for other in session.exec(select(Operator).where(Operator.revoked_at.is_(None))):
            if normalize_person(other.person) == person and APPROVING & set(other.roles.split(",")):
                raise PolicyRefused(f"person {person} already has an active approving key ({other.name}): one "
                                    "person approves with one key, so that aliases do not add up",
                                    code="person_has_approving_key")
    signers = require_quorum(statement, root.admin_keys, root.quorum)
    record = append(session, statement, deployment=root.deployment)
    row = Operator(name=name, public_key=public, roles=",".join(roles), person=person, enrolled_by=record.hash)
    session.add(row)
    session.flush()
    append_event(session, actor="+".join(sorted(root.name_of(k) or k[:8] for k in signers)),
                 action="operator_enrolled", details={"name": name, "roles": list(roles), "person": person,
                                                      "public_key": public, "statement": record.hash})
    return row


def _admin_statement(record: StatementRecord | None, root: TrustRoot, kind: str) -> Statement | None:
    """The admin statement a row holds when it checks out in full (:func:`recover.authority.enrollment.admin_statement`)."""
    return admin_statement(record, root, kind)


def enrollment_of(session: Session, root: TrustRoot, name: str) -> tuple[str, Statement]:
    """``(hash, statement)`` of the valid enrollment of operator ``name`` (exit 3 when there is none)."""
    found = None
    for record in session.exec(select(StatementRecord).where(StatementRecord.kind == "operator_enroll",
                                                             StatementRecord.subject == name)
                               .order_by(StatementRecord.seq)):
        statement = _admin_statement(record, root, "operator_enroll")
        if statement is not None and statement.body.get("name") == name:
            found = (record.hash, statement)
    if found is None:
        raise NotFound(f"no operator {name} is enrolled by a quorum of the trust root's admins",
                       code="operator_not_found")
    return found


def revoke(session: Session, root: TrustRoot, name: str, admin_keys: list) -> Operator:
    """Revoke the key that ``name``'s enrollment statement enrolled (never the row's key: a row can be
    edited).  The revocation names that enrollment by hash."""
    enrollment, statement = enrollment_of(session, root, name)
    public = str(statement.body.get("public_key"))
    if _revocation_of(session, root, name, enrollment, public) is not None:
        raise IllegalTransition(f"operator {name} is already revoked", code="already_revoked")
    record, signers = admin_attest(session, root, "operator_revoke", name,
                                   {"name": name, "public_key": public, "enrollment": enrollment}, admin_keys)
    row = session.exec(select(Operator).where(Operator.enrolled_by == enrollment)).first()
    if row is not None:
        row.revoked_at, row.revoked_by = utcnow(), record.hash
        session.add(row)
    append_event(session, actor="+".join(sorted(root.name_of(k) or k[:8] for k in signers)),
                 action="operator_revoked", details={"name": name, "public_key": public, "enrollment": enrollment,
                                                     "statement": record.hash})
    return row if row is not None else Operator(name=name, public_key=public, roles=",".join(statement.body["roles"]),
                                                person=str(statement.body.get("person")), enrolled_by=enrollment,
                                                revoked_by=record.hash, revoked_at=utcnow())


def _revocation_of(session: Session, root: TrustRoot, name: str, enrollment: str, public: str) -> tuple[str, int] | None:
    """``(hash, seq)`` of the first valid revocation of this enrollment (or of its key), if any was
    ever made: what was revoked stays revoked."""
    return revocation_of(SessionStore(session), root, name, enrollment, public)


def operator_status(session: Session, root: TrustRoot, public_key: str) -> tuple[Operator, int | None]:
    """``(operator, revoked_at_seq)`` of ``public_key``, re-derived from its signed statements against
    ``root`` (``revoked_at_seq``: the log place of its revocation, None while active); ``PolicyRefused``
    (exit 7) for an unknown key, or one no admin quorum enrolled.  The rules are
    :func:`recover.authority.enrollment.operator_status_in`, which the read path runs over plain rows."""
    return operator_status_in(SessionStore(session), root, public_key)


def check_operator(session: Session, root: TrustRoot, public_key: str) -> Operator:
    """The active operator of ``public_key``; ``PolicyRefused`` (exit 7) for an unknown, unauthorised
    or revoked key."""
    row, revoked = operator_status(session, root, public_key)
    if revoked is not None:
        raise PolicyRefused(f"operator {row.name} is revoked", code="operator_revoked")
    return row


def _statement_of(record: StatementRecord | None) -> Statement | None:
    return statement_of(record)
