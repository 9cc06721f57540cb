"""Enrolled operators: a person's Ed25519 key with roles, enrolled and revoked by an admin quorum.

An operator row is a view of two signed statements: ``operator_enroll`` (name, public key, roles,
person) and, later, ``operator_revoke``; each needs signatures by a quorum of the trust root's
admins.  :func:`check_operator` re-derives an operator from its statements against the root, so an
operator inserted, edited or "un-revoked" directly in the database does not count.  One person has
at most one active approving key (roles ``approver`` or ``senior``): aliases do not add up.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlmodel import Session, select

from recover.audit import append_event
from recover.errors import DuplicateClaim, IllegalTransition, InvalidInput, NotFound, PolicyRefused
from recover.models import Operator, StatementRecord, utcnow
from recover.statements import Statement, require_quorum
from recover.trust import TrustRoot

ROLES = ("specialist", "reviewer", "approver", "senior", "pricer", "admin")
APPROVING = frozenset({"approver", "senior"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def parse_roles(text: str) -> tuple[str, ...]:
    roles = tuple(sorted({r.strip() for r in (text or "").split(",") if r.strip()}))
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise InvalidInput(f"roles must be one or more of {', '.join(ROLES)}"
                           + (f" (unknown: {', '.join(unknown)})" if unknown else ""), code="invalid_role")
    return roles


def _public_hex(text: str) -> str:
    from recover.keyfile import public_hex

    return public_hex(text)


def keygen(name: str, out) -> str:
    """A new operator key pair: the private key sealed in ``out`` (0600), the public key returned for
    the admins to enroll."""
    from pathlib import Path

    from nacl.signing import SigningKey

    from recover.keyfile import write_encrypted

    if not _NAME.match(name or ""):
        raise InvalidInput(f"operator name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    key = SigningKey.generate()
    public = key.verify_key.encode().hex()
    write_encrypted(Path(out), bytes(key.encode()), public, name=name)
    return public


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _store(session: Session, statement: Statement, subject: str) -> StatementRecord:
    from recover.authority import store

    return store(session, statement, subject)


def enrollment_statement(root: TrustRoot, name: str, public_key: str | None, roles: tuple[str, ...], person: str,
                         admin_keys: list, *, passkey=None) -> Statement:
    """The ``operator_enroll`` statement, signed by ``admin_keys`` (checked: a quorum of ``root``).
    With ``passkey`` (a ``recover.passkeys.Passkey``) the key is that WebAuthn credential: the body
    adds ``scheme``, ``cose_key`` and ``credential_id`` and its ``public_key`` is the key's fingerprint."""
    if passkey is not None:
        extra = {"scheme": "webauthn", "cose_key": passkey.cose_key, "credential_id": passkey.credential_id}
        public = passkey.fingerprint
    else:
        extra, public = {}, _public_hex(public_key)
    statement = Statement("operator_enroll", {"name": name, "public_key": public, "roles": list(roles),
                                              "person": person, "time": _now(), **extra})
    for key in admin_keys:
        statement = statement.signed_by(key)
    require_quorum(statement, root.admin_keys, root.quorum)
    return statement


def enroll(session: Session, root: TrustRoot, name: str, public_key: str | None, roles: tuple[str, ...], person: str,
           admin_keys: list, *, passkey=None) -> Operator:
    return apply_enrollment(session, root, enrollment_statement(root, name, public_key, roles, person, admin_keys,
                                                                passkey=passkey))


def _enrolled_public(body: dict) -> str:
    """The operator key an enrollment names: an Ed25519 key, or a passkey's fingerprint (checked
    against its COSE key, which must be one)."""
    scheme = body.get("scheme", "ed25519")
    if scheme == "ed25519":
        return _public_hex(str(body.get("public_key")))
    if scheme != "webauthn":
        raise InvalidInput(f"unknown key scheme {scheme!r}", code="invalid_public_key")
    from recover.passkeys import parse_passkey

    passkey = parse_passkey({"credential_id": body.get("credential_id"), "cose_key": body.get("cose_key")})
    if str(body.get("public_key")) != passkey.fingerprint:
        raise InvalidInput("the passkey's public_key is not the fingerprint of its COSE key", code="invalid_passkey")
    return passkey.fingerprint


def enrolled_passkey_of(session: Session, row: Operator):
    """The passkey an operator's enrollment statement enrolls, or None for an Ed25519 key (the row
    was checked against that statement by :func:`check_operator`)."""
    from recover.passkeys import enrolled_passkey

    statement = _statement_of(session.exec(select(StatementRecord).where(StatementRecord.hash == row.enrolled_by))
                              .first())
    return enrolled_passkey(statement.body) if statement is not None else None


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
    if not _NAME.match(name or ""):
        raise InvalidInput(f"operator name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    if not _PERSON.match(person or ""):
        raise InvalidInput(f"--person {person!r} is not a valid person id", code="invalid_person")
    if public in root.admin_keys:
        raise InvalidInput("an admin key of the trust root cannot also be an operator key", code="duplicate_key")
    if session.exec(select(Operator).where(Operator.name == name)).first():
        raise DuplicateClaim(f"operator {name} is already enrolled", code="duplicate_operator")
    if session.exec(select(Operator).where(Operator.public_key == public)).first():
        raise DuplicateClaim("this public key is already enrolled", code="duplicate_key")
    if APPROVING & set(roles):
        for other in session.exec(select(Operator).where(Operator.person == person, Operator.revoked_at.is_(None))):
            if APPROVING & set(other.roles.split(",")):
                raise PolicyRefused(f"person {person} already has an active approving key ({other.name}): one "
                                    "person approves with one key, so that aliases do not add up",
                                    code="person_has_approving_key")
    signers = require_quorum(statement, root.admin_keys, root.quorum)
    record = _store(session, statement, name)
    row = Operator(name=name, public_key=public, roles=",".join(roles), person=person, enrolled_by=record.hash)
    session.add(row)
    session.flush()
    append_event(session, actor="+".join(sorted(root.name_of(k) or k[:8] for k in signers)),
                 action="operator_enrolled", details={"name": name, "roles": list(roles), "person": person,
                                                      "public_key": public, "statement": record.hash})
    return row


def revoke(session: Session, root: TrustRoot, name: str, admin_keys: list) -> Operator:
    row = session.exec(select(Operator).where(Operator.name == name)).first()
    if row is None:
        raise NotFound(f"no operator {name}", code="operator_not_found")
    if row.revoked_at is not None:
        raise IllegalTransition(f"operator {name} is already revoked", code="already_revoked")
    statement = Statement("operator_revoke", {"name": name, "public_key": row.public_key, "time": _now()})
    for key in admin_keys:
        statement = statement.signed_by(key)
    signers = require_quorum(statement, root.admin_keys, root.quorum)
    record = _store(session, statement, name)
    row.revoked_at, row.revoked_by = utcnow(), record.hash
    session.add(row)
    append_event(session, actor="+".join(sorted(root.name_of(k) or k[:8] for k in signers)),
                 action="operator_revoked", details={"name": name, "statement": record.hash})
    return row


def check_operator(session: Session, root: TrustRoot, public_key: str) -> Operator:
    """The active operator of ``public_key``, re-derived from its signed statements against ``root``;
    ``PolicyRefused`` (exit 7) for an unknown, unauthorised or revoked key."""
    row = session.exec(select(Operator).where(Operator.public_key == public_key.lower())).first()
    if row is None:
        raise PolicyRefused("this key belongs to no enrolled operator", code="unknown_operator")
    record = session.exec(select(StatementRecord).where(StatementRecord.hash == row.enrolled_by)).first()
    statement = _statement_of(record)
    body = statement.body if statement else {}
    if statement is None or statement.kind != "operator_enroll" or \
            (body.get("name"), body.get("public_key"), ",".join(body.get("roles") or []), body.get("person")) != \
            (row.name, row.public_key, row.roles, row.person):
        raise PolicyRefused(f"operator {row.name}: the row does not match its enrollment statement",
                            code="operator_tampered")
    try:
        require_quorum(statement, root.admin_keys, root.quorum)
    except PolicyRefused:
        raise PolicyRefused(f"operator {row.name} is not enrolled by a quorum of the trust root's admins",
                            code="operator_not_enrolled") from None
    for rec in session.exec(select(StatementRecord).where(StatementRecord.kind == "operator_revoke",
                                                          StatementRecord.subject == row.name)):
        revoked = _statement_of(rec)
        if revoked and revoked.body.get("public_key") == row.public_key:
            try:
                require_quorum(revoked, root.admin_keys, root.quorum)
            except PolicyRefused:
                continue
            raise PolicyRefused(f"operator {row.name} is revoked", code="operator_revoked")
    return row


def _statement_of(record: StatementRecord | None) -> Statement | None:
    import json

    if record is None:
        return None
    try:
        doc = json.loads(record.payload)
        stmt = Statement.from_dict({**doc, "signatures": record.signatures})
    except (ValueError, InvalidInput):
        return None
    return stmt if stmt.hash == record.hash else None
