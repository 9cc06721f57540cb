"""Who an operator key belongs to, re-derived from its admin-signed statements: the pure rules of
``recover.authority.operators.operator_status`` over any store of rows (the ORM session's, or the plain rows
of the read path), so the signer and a read decide it by the same code.

A store is anything with ``operator_by_key(public_key)``, ``statement_by_hash(hash)`` and
``statements_of(kind, subject)`` (rows in log order); rows carry the columns of ``operators`` and
``statements``.
"""

from __future__ import annotations

import json

from recover.authority.passkey_check import enrolled_passkey
from recover.authority.statements import Statement, envelope_problem, require_quorum
from recover.errors import InvalidInput, PolicyRefused


def statement_of(record) -> Statement | None:
    """The statement a row holds when its payload hashes to its stored hash, else None."""
    if record is None:
        return None
    try:
        doc = json.loads(record.payload)
        stmt = Statement.from_dict({**doc, "signatures": record.signatures})
    except (ValueError, InvalidInput):
        return None
    return stmt if stmt.hash == record.hash else None


def admin_statement(record, root, kind: str) -> Statement | None:
    """The admin statement a row holds when it checks out in full: its payload, its signed place in
    this deployment's log, and a quorum of the root's admins.  None otherwise."""
    statement = statement_of(record)
    if statement is None or statement.kind != kind or envelope_problem(statement, record, root.deployment):
        return None
    try:
        require_quorum(statement, root.admin_keys, root.quorum)
    except PolicyRefused:
        return None
    return statement


def revocation_of(store, root, name: str, enrollment: str, public: str) -> tuple[str, int] | None:
    """``(hash, seq)`` of the first valid revocation of this enrollment (or of its key), if any was
    ever made: what was revoked stays revoked."""
    for record in store.statements_of("operator_revoke", name):
        revoked = admin_statement(record, root, "operator_revoke")
        if revoked is not None and (revoked.body.get("enrollment") == enrollment
                                    or revoked.body.get("public_key") == public):
            return record.hash, int(record.seq)
    return None


def operator_status_in(store, root, public_key: str):
    """``(operator row, revoked_at_seq)`` of ``public_key`` (see ``recover.authority.operators.operator_status``)."""
    row = store.operator_by_key(public_key.lower())
    if row is None:
        raise PolicyRefused("this key belongs to no enrolled operator", code="unknown_operator")
    record = store.statement_by_hash(row.enrolled_by)
    statement = statement_of(record)
    body = statement.body if statement else {}
    if statement is None or statement.kind != "operator_enroll" or \
            (body.get("name"), body.get("public_key"), ",".join(body.get("roles") or []), body.get("person")) != \
            (row.name, row.public_key, row.roles, row.person):
        raise PolicyRefused(f"operator {row.name}: the row does not match its enrollment statement",
                            code="operator_tampered")
    if admin_statement(record, root, "operator_enroll") is None:
        raise PolicyRefused(f"operator {row.name} is not enrolled by a quorum of the trust root's admins",
                            code="operator_not_enrolled")
    revocation = revocation_of(store, root, row.name, record.hash, row.public_key)
    return row, (revocation[1] if revocation else None)


def enrolled_passkey_in(store, row):
    """The passkey an operator's enrollment statement enrolls, or None for an Ed25519 key (the row
    was checked against that statement by :func:`operator_status_in`)."""
    statement = statement_of(store.statement_by_hash(row.enrolled_by))
    return enrolled_passkey(statement.body) if statement is not None else None
