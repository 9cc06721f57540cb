"""Who is acting, proven by key: the operator of a key file, their roles, and the statements they sign.

Every state-changing command names its operator by key (``--key FILE`` or ``RECOVER_OPERATOR_KEY``).
:func:`acting` opens the key file, re-derives the operator from its admin-signed enrollment
(:func:`recover.authority.operators.check_operator`) and checks the role the action needs; the action is then
stored as a statement signed by that key (:meth:`Acting.attest`) naming what it acts on by hash.
Admin actions (address registrations, the approval policy, a reopen) are statements signed by a
quorum of the trust root's admins (:func:`recover.authority.admin_statements.admin_attest`).

Every statement is sealed at the head of the statement log (:mod:`recover.authority.statement_log`): it names
the trust root's deployment, its subject and the newest entry its signer saw, and takes the next
place of the log in the same transaction.

Reading back (:class:`Verifier`) trusts nothing in a row: the payload must hash to the stored hash,
its signed place must be the row's, and the signature must verify with the key of an admin-enrolled
operator with the role the statement needs (or an admin quorum).  Whether that operator has been
revoked *since* is told apart (``Signed.revoked``): a revoked approver's approvals stop counting, but
a rejection, once made, keeps its effect.
"""

from __future__ import annotations

import secrets

from sqlmodel import Session

from recover.authority.admin_statements import now_text
from recover.authority.keyfile import KEY_ENV, load_operator_key  # noqa: F401 - re-exported
from recover.authority.operators import check_operator
from recover.authority.session_store import SessionStore
from recover.authority.statement_checks import (  # noqa: F401 - re-exported
    POLICY_SUBJECT,
    ROLES_OF,
    Signed,
    StatementChecker,
    address_subject,
    case_subject,
    memo_subject,
    parse_record,
    price_subject,
)
from recover.authority.statement_log import sign_and_append, sign_and_append_many
from recover.authority.statements import Statement
from recover.authority.trust import TrustRoot, load_trust_root
from recover.errors import PolicyRefused
from recover.life.operations import ACTING_ROLES
from recover.storage.models import StatementRecord


class Acting(str):
    """An operator proven by their key, for the length of one command.

    It *is* the operator's enrolled name (a ``str``, so the services name it in the audit log as
    before) and carries the person, roles and signing key (never stored) to sign statements with,
    and the deployment its statements are bound to.
    """

    person: str
    roles: frozenset
    public_key: str
    deployment: str

    def __new__(cls, name: str, *, person: str, roles: frozenset, public_key: str, signing_key, deployment: str = ""):
        obj = super().__new__(cls, name)
        obj.person, obj.roles, obj.public_key, obj._signing_key = person, roles, public_key, signing_key
        obj.deployment = deployment
        return obj

    @property
    def name(self) -> str:
        return str(self)

    def __repr__(self) -> str:  # never the key
        return f"Acting({str(self)!r}, roles={sorted(self.roles)})"

    def stamped(self, body: dict) -> dict:
        """``body`` with who signs it, when, and a nonce (two identical actions are two statements)."""
        return {**body, "by": self.name, "time": now_text(), "nonce": secrets.token_hex(8)}

    def attest(self, session: Session, kind: str, subject: str, body: dict) -> StatementRecord:
        """Sign ``body`` as a statement of ``kind`` about ``subject`` at the head of the log, and store it."""
        return sign_and_append(session, deployment=self.deployment, kind=kind, subject=subject,
                               body=self.stamped(body), sign=lambda st: st.signed_by(self._signing_key))

    def attest_many(self, session: Session, items: list[tuple[str, str, dict]]) -> list[Statement]:
        """Many ``(kind, subject, body)`` signed and stored at once (``verify --all`` writes a chunk)."""
        return sign_and_append_many(session, deployment=self.deployment,
                                    items=[(k, sub, self.stamped(b)) for k, sub, b in items],
                                    sign=lambda st: st.signed_by(self._signing_key))


def attest(actor, session: Session, kind: str, subject: str, body: dict) -> StatementRecord:
    """``actor.attest(...)``; a bare name cannot sign, so an unsigned action is refused, not stored."""
    return _signer(actor, kind).attest(session, kind, subject, body)


def attest_many(actor, session: Session, items: list[tuple[str, str, dict]]) -> list[Statement]:
    """``actor.attest_many(...)``, refused like :func:`attest` for a bare name."""
    return _signer(actor, items[0][0] if items else "statement").attest_many(session, items) if items else []


def _signer(actor, kind: str) -> Acting:
    if not isinstance(actor, Acting):
        raise PolicyRefused(f"{kind}: this action must be done by an enrolled operator's key",
                            code="operator_key_required")
    return actor


def acting(session: Session, key, roles: tuple[str, ...] = (), *, doing: str, root: TrustRoot | None = None) -> Acting:
    """The operator behind ``key``, checked against the trust root and for one of ``roles``."""
    root = root or load_trust_root()
    signing_key = load_operator_key(key)
    public = signing_key.verify_key.encode().hex()
    if public in root.admin_keys:
        raise PolicyRefused("an admin key is not an operator key: admin actions take --admin-key",
                            code="unknown_operator")
    op = check_operator(session, root, public)
    actor = Acting(op.name, person=op.person, roles=frozenset(op.roles.split(",")), public_key=public,
                   signing_key=signing_key, deployment=root.deployment)
    return require_role(actor, roles, doing=doing)


def require_role(actor: Acting, roles: tuple[str, ...], *, doing: str) -> Acting:
    """``actor`` if it holds one of ``roles`` (when empty: any role that acts, so a viewer, who only
    reads, does nothing), else exit 7 ``role_missing``."""
    needed = roles or ACTING_ROLES
    if not actor.roles & set(needed):
        what = f"the role {' or '.join(roles)}" if roles else "a role that acts (a viewer only reads)"
        raise PolicyRefused(f"operator {actor.name} (roles {', '.join(sorted(actor.roles))}) may not {doing}: that "
                            f"needs {what}", code="role_missing",
                            details={"operator": actor.name, "needed": list(needed)})
    return actor


# -- reading back ---------------------------------------------------------------------------------
class Verifier(StatementChecker):
    """The checks of :class:`recover.authority.statement_checks.StatementChecker` over an ORM session (the
    signer's and every deciding command's): the same rules the read path runs over plain rows."""

    def __init__(self, session: Session, root: TrustRoot | None = None):
        super().__init__(SessionStore(session), root or load_trust_root())
        self.session = session
