"""Who is acting, proven by key: the operator of a key file, their roles, and the statements they sign.

Every state-changing command names its operator by key (``--key FILE`` or ``RECOVER_OPERATOR_KEY``).
:func:`acting` opens the key file, re-derives the operator from its admin-signed enrollment
(:func:`recover.operators.check_operator`) and checks the role the action needs; the action is then
stored as a statement signed by that key (:meth:`Acting.attest`) naming what it acts on by hash.
Admin actions (address registrations, the approval policy, a reopen) are statements signed by a
quorum of the trust root's admins (:func:`admin_attest`).

Reading back (:func:`signed_statements`) trusts nothing in a row: the payload must hash to the
stored hash, and the signature must verify with a key that is, right now, an enrolled, unrevoked
operator with the role the statement needs (or an admin quorum).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlmodel import Session, select

from recover.errors import InvalidInput, PolicyRefused
from recover.models import Operator, StatementRecord
from recover.statements import Statement, require_quorum, signature_valid
from recover.trust import TrustRoot, load_trust_root

KEY_ENV = "RECOVER_OPERATOR_KEY"

# The roles each kind of statement needs of its signer (admin statements need the admin quorum).
ROLES_OF = {
    "claim": ("specialist",),
    "verification": ("specialist",),
    "quote": ("specialist",),
    "plan": ("specialist",),
    "decision": ("approver", "senior"),
    "condition": ("reviewer", "specialist"),
    "price": ("pricer",),
}
ADMIN_KINDS = ("address", "policy", "reopen", "operator_enroll", "operator_revoke")


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_operator_key(key=None):
    """The signing key of ``key`` (a key file path, or a PyNaCl ``SigningKey``); default
    ``RECOVER_OPERATOR_KEY``.  No key is exit 7: nobody acts unnamed."""
    from nacl.signing import SigningKey

    if isinstance(key, SigningKey):
        return key
    path = key if key is not None else os.environ.get(KEY_ENV)
    if not path:
        raise PolicyRefused(f"this command is done by an enrolled operator: pass --key FILE or set {KEY_ENV}",
                            code="operator_key_required")
    from recover.keyfile import load_signing_key

    return load_signing_key(Path(path))


class Acting(str):
    """An operator proven by their key, for the length of one command.

    It *is* the operator's enrolled name (a ``str``, so the services name it in the audit log as
    before) and carries the person, roles and signing key (never stored) to sign statements with.
    """

    person: str
    roles: frozenset
    public_key: str

    def __new__(cls, name: str, *, person: str, roles: frozenset, public_key: str, signing_key):
        obj = super().__new__(cls, name)
        obj.person, obj.roles, obj.public_key, obj._signing_key = person, roles, public_key, signing_key
        return obj

    @property
    def name(self) -> str:
        return str(self)

    def __repr__(self) -> str:  # never the key
        return f"Acting({str(self)!r}, roles={sorted(self.roles)})"

    def attest(self, session: Session, kind: str, subject: str, body: dict) -> StatementRecord:
        """Sign ``body`` as a statement of ``kind`` about ``subject`` and store it."""
        return store(session, self.sign(kind, body), subject)

    def sign(self, kind: str, body: dict) -> Statement:
        """``body`` signed as a statement of ``kind``, not stored (``verify --all`` stores a chunk at once)."""
        import secrets

        body = {**body, "by": self.name, "time": now_text(), "nonce": secrets.token_hex(8)}
        return Statement(kind, body).signed_by(self._signing_key)


def attest(actor, session: Session, kind: str, subject: str, body: dict) -> StatementRecord:
    """``actor.attest(...)``; a bare name cannot sign, so an unsigned action is refused, not stored."""
    if not isinstance(actor, Acting):
        raise PolicyRefused(f"{kind}: this action must be done by an enrolled operator's key",
                            code="operator_key_required")
    return actor.attest(session, kind, subject, body)


def acting(session: Session, key, roles: tuple[str, ...] = (), *, doing: str, root: TrustRoot | None = None) -> Acting:
    """The operator behind ``key``, checked against the trust root and for one of ``roles``."""
    from recover.operators import check_operator

    root = root or load_trust_root()
    signing_key = load_operator_key(key)
    public = signing_key.verify_key.encode().hex()
    if public in root.admin_keys:
        raise PolicyRefused("an admin key is not an operator key: admin actions take --admin-key",
                            code="unknown_operator")
    op = check_operator(session, root, public)
    have = frozenset(op.roles.split(","))
    if roles and not have & set(roles):
        raise PolicyRefused(f"operator {op.name} (roles {', '.join(sorted(have))}) may not {doing}: that needs "
                            f"the role {' or '.join(roles)}", code="role_missing",
                            details={"operator": op.name, "needed": list(roles)})
    return Acting(op.name, person=op.person, roles=have, public_key=public, signing_key=signing_key)


def store(session: Session, statement: Statement, subject: str) -> StatementRecord:
    row = StatementRecord(hash=statement.hash, kind=statement.kind, subject=subject, payload=statement.payload,
                          signatures=[s.to_dict() for s in statement.signatures])
    session.add(row)
    session.flush()
    return row


def admin_attest(session: Session, root: TrustRoot, kind: str, subject: str, body: dict, admin_keys: list) \
        -> tuple[StatementRecord, list[str]]:
    """Sign ``body`` with every admin key given and store it if they reach the quorum (else exit 7)."""
    import secrets

    statement = Statement(kind, {**body, "time": now_text(), "nonce": secrets.token_hex(8)})
    for key in admin_keys:
        statement = statement.signed_by(key)
    signers = require_quorum(statement, root.admin_keys, root.quorum)
    return store(session, statement, subject), signers


def admin_names(root: TrustRoot, signers: list[str]) -> str:
    return "+".join(sorted(root.name_of(k) or k[:8] for k in signers))


# -- reading back ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    """A stored statement whose signatures checked out: by an operator (``operator``) or an admin quorum."""

    hash: str
    kind: str
    body: dict
    operator: Operator | None = None
    admins: tuple[str, ...] = ()
    id: int = 0

    @property
    def person(self) -> str | None:
        return self.operator.person if self.operator else None

    @property
    def roles(self) -> frozenset:
        return frozenset(self.operator.roles.split(",")) if self.operator else frozenset()


def parse_record(record: StatementRecord) -> Statement | None:
    """The statement a row holds, or None when its payload does not hash to its stored hash."""
    try:
        doc = json.loads(record.payload)
        stmt = Statement.from_dict({**doc, "signatures": record.signatures})
    except (ValueError, TypeError, InvalidInput):
        return None
    if stmt.hash != record.hash or stmt.kind != record.kind:
        return None
    return stmt


class Verifier:
    """Checks stored statements against the trust root, remembering operators it has checked."""

    def __init__(self, session: Session, root: TrustRoot | None = None):
        self.session = session
        self.root = root or load_trust_root()
        self._operators: dict[str, Operator | None] = {}
        self._passkeys: dict = {}  # public key -> its enrolled passkey, or None (an Ed25519 key)

    def operator(self, public_key: str) -> Operator | None:
        from recover.operators import check_operator

        key = public_key.lower()
        if key not in self._operators:
            try:
                self._operators[key] = check_operator(self.session, self.root, key)
            except PolicyRefused:
                self._operators[key] = None
        return self._operators[key]

    def signature_verifies(self, op: Operator, stmt: Statement, sig) -> bool:
        """``sig`` over the payload by ``op``'s key, in the scheme the key was enrolled with: Ed25519,
        or a passkey's WebAuthn assertion (``recover.passkeys``)."""
        from recover.operators import enrolled_passkey_of

        key = op.public_key.lower()
        if key not in self._passkeys:
            self._passkeys[key] = enrolled_passkey_of(self.session, op)
        passkey = self._passkeys[key]
        if passkey is None:
            return sig.scheme == "ed25519" and signature_valid(op.public_key, stmt.payload, sig.signature)
        from recover.passkeys import assertion_valid

        return assertion_valid(passkey, stmt.payload, sig)

    def check(self, record: StatementRecord) -> tuple[Signed | None, str | None]:
        """``(signed, None)`` when the record checks out, else ``(None, why)``."""
        stmt = parse_record(record)
        if stmt is None:
            return None, "its payload does not match its hash"
        if stmt.kind in ADMIN_KINDS:
            try:
                signers = require_quorum(stmt, self.root.admin_keys, self.root.quorum)
            except PolicyRefused as exc:
                return None, str(exc)
            return Signed(record.hash, stmt.kind, stmt.body, admins=tuple(signers), id=record.id or 0), None
        if len(stmt.signatures) != 1:
            return None, "an operator statement carries exactly one signature"
        sig = stmt.signatures[0]
        op = self.operator(sig.public_key)
        if op is None:
            return None, "signed by a key that is not an enrolled, active operator"
        if not self.signature_verifies(op, stmt, sig):
            return None, "the signature does not verify"
        if stmt.body.get("by") != op.name:
            return None, f"names {stmt.body.get('by')!r} but is signed by {op.name}"
        needed = ROLES_OF.get(stmt.kind)
        if needed is None:
            return None, f"unknown kind of statement {stmt.kind!r}"
        if not set(op.roles.split(",")) & set(needed):
            return None, f"{op.name} has not the role {' or '.join(needed)} a {stmt.kind} statement needs"
        return Signed(record.hash, stmt.kind, stmt.body, operator=op, id=record.id or 0), None

    def statements(self, subject: str, kinds: tuple[str, ...] | None = None) -> tuple[list[Signed], list[str]]:
        """The valid statements about ``subject`` (oldest first) and why each other one is not."""
        query = select(StatementRecord).where(StatementRecord.subject == subject)
        if kinds:
            query = query.where(StatementRecord.kind.in_(kinds))
        good, bad = [], []
        for record in self.session.exec(query.order_by(StatementRecord.id)):
            signed, why = self.check(record)
            if signed is None:
                bad.append(f"{record.kind} statement {record.hash[:16]}…: {why}")
            else:
                good.append(signed)
        return good, bad


def case_subject(case_id: int) -> str:
    return f"case:{case_id}"


def address_subject(family: str, key: str) -> str:
    return f"address:{family}:{key}"


POLICY_SUBJECT = "policy"


def price_subject(asset: str) -> str:
    return f"price:{asset}"
