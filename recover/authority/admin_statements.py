"""Statements signed by a quorum of the trust root's admins: address registrations, the approval
policy, reopening or closing a case, enrolling and revoking operators.

The quorum is checked on a probe before the statement log is touched, so a refused admin command
leaves no trace; the statement then takes the next place of the log like any other.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from sqlmodel import Session

from recover.authority.statement_log import sign_and_append
from recover.authority.statements import Statement, require_quorum
from recover.authority.trust import TrustRoot
from recover.storage.models import StatementRecord


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def admin_attest(session: Session, root: TrustRoot, kind: str, subject: str, body: dict, admin_keys: list) \
        -> tuple[StatementRecord, list[str]]:
    """Sign ``body`` with every admin key given and store it if they reach the quorum (else exit 7).
    The quorum is checked before the log is touched (a refused command leaves no trace)."""
    probe = Statement(kind, {"probe": True})
    for key in admin_keys:
        probe = probe.signed_by(key)
    require_quorum(probe, root.admin_keys, root.quorum)
    signers: list[str] = []

    def sign(statement: Statement) -> Statement:
        for key in admin_keys:
            statement = statement.signed_by(key)
        signers[:] = require_quorum(statement, root.admin_keys, root.quorum)
        return statement

    record = sign_and_append(session, deployment=root.deployment, kind=kind, subject=subject,
                             body={**body, "time": now_text(), "nonce": secrets.token_hex(8)}, sign=sign)
    return record, signers


def admin_names(root: TrustRoot, signers: list[str]) -> str:
    return "+".join(sorted(root.name_of(k) or k[:8] for k in signers))
