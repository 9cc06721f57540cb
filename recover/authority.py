"""Who is acting, proven by key: the operator of a key file, their roles, and the statements they sign.

Every state-changing command names its operator by key (``--key FILE`` or ``RECOVER_OPERATOR_KEY``).
:func:`acting` opens the key file, re-derives the operator from its admin-signed enrollment
(:func:`recover.operators.check_operator`) and checks the role the action needs; the action is then
stored as a statement signed by that key (:meth:`Acting.attest`) naming what it acts on by hash.
Admin actions (address registrations, the approval policy, a reopen) are statements signed by a
quorum of the trust root's admins (:func:`admin_attest`).

Every statement is sealed at the head of the statement log (:mod:`recover.statement_log`): it names
the trust root's deployment, its subject and the newest entry its signer saw, and takes the next
place of the log in the same transaction.

Reading back (:class:`Verifier`) trusts nothing in a row: the payload must hash to the stored hash,
its signed place must be the row's, and the signature must verify with the key of an admin-enrolled
operator with the role the statement needs (or an admin quorum).  Whether that operator has been
revoked *since* is told apart (``Signed.revoked``): a revoked approver's approvals stop counting, but
a rejection, once made, keeps its effect.
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
from recover.operations import OPERATIONS, roles_of_statement
from recover.statements import ADMIN_KINDS, Statement, require_quorum, signature_valid
from recover.trust import TrustRoot, load_trust_root

KEY_ENV = "RECOVER_OPERATOR_KEY"

# The roles each kind of statement needs of its signer: those of the operations that sign it
# (``recover.operations``); admin statements need the admin quorum.
ROLES_OF = {kind: roles_of_statement(kind)
            for kind in dict.fromkeys(k for op in OPERATIONS.values() for k in op.statements)
            if roles_of_statement(kind) is not None}


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
        import secrets

        return {**body, "by": self.name, "time": now_text(), "nonce": secrets.token_hex(8)}

    def attest(self, session: Session, kind: str, subject: str, body: dict) -> StatementRecord:
        """Sign ``body`` as a statement of ``kind`` about ``subject`` at the head of the log, and store it."""
        from recover.statement_log import sign_and_append

        return sign_and_append(session, deployment=self.deployment, kind=kind, subject=subject,
                               body=self.stamped(body), sign=lambda st: st.signed_by(self._signing_key))

    def attest_many(self, session: Session, items: list[tuple[str, str, dict]]) -> list[Statement]:
        """Many ``(kind, subject, body)`` signed and stored at once (``verify --all`` writes a chunk)."""
        from recover.statement_log import sign_and_append_many

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
    from recover.operators import check_operator

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
    """``actor`` if it holds one of ``roles`` (any enrolled operator when empty), else exit 7 ``role_missing``."""
    if roles and not actor.roles & set(roles):
        raise PolicyRefused(f"operator {actor.name} (roles {', '.join(sorted(actor.roles))}) may not {doing}: that "
                            f"needs the role {' or '.join(roles)}", code="role_missing",
                            details={"operator": actor.name, "needed": list(roles)})
    return actor


def store(session: Session, statement: Statement, root: TrustRoot) -> StatementRecord:
    """Append a statement signed elsewhere (a passkey's assertion, an admin ceremony's enrollment):
    it must already name this deployment, its subject and a head of this log."""
    from recover.statement_log import append

    return append(session, statement, deployment=root.deployment)


def admin_attest(session: Session, root: TrustRoot, kind: str, subject: str, body: dict, admin_keys: list) \
        -> tuple[StatementRecord, list[str]]:
    """Sign ``body`` with every admin key given and store it if they reach the quorum (else exit 7).
    The quorum is checked before the log is touched (a refused command leaves no trace)."""
    import secrets

    from recover.statement_log import sign_and_append

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


# -- reading back ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    """A stored statement whose signatures checked out: by an operator (``operator``) or an admin
    quorum.  ``revoked``: its operator was enrolled (the signature is theirs) but has been revoked
    since; what such a statement still does is the reader's rule (a rejection keeps its effect, an
    approval no longer counts).  ``seq`` is its place in the statement log."""

    hash: str
    kind: str
    body: dict
    operator: Operator | None = None
    admins: tuple[str, ...] = ()
    id: int = 0
    seq: int = 0
    revoked: bool = False

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
        self._operators: dict[str, tuple[Operator, int | None] | None] = {}
        self._passkeys: dict = {}  # public key -> its enrolled passkey, or None (an Ed25519 key)

    def enrolled(self, public_key: str) -> tuple[Operator, int | None] | None:
        """``(operator, revoked_at_seq)`` of an admin-enrolled key (revoked or not), None for any other key."""
        from recover.operators import operator_status

        key = public_key.lower()
        if key not in self._operators:
            try:
                self._operators[key] = operator_status(self.session, self.root, key)
            except PolicyRefused:
                self._operators[key] = None
        return self._operators[key]

    def operator(self, public_key: str) -> Operator | None:
        """The enrolled, *active* operator of ``public_key`` (None when unknown or revoked)."""
        found = self.enrolled(public_key)
        return found[0] if found is not None and found[1] is None else None

    def signature_verifies(self, op: Operator, stmt: Statement, sig) -> bool:
        """``sig`` over the payload by ``op``'s key, in the scheme the key was enrolled with: Ed25519,
        or a passkey's WebAuthn assertion (``recover.passkeys``, at the enrolled relying party)."""
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
        from recover.statement_log import envelope_problem

        stmt = parse_record(record)
        if stmt is None:
            return None, "its payload does not match its hash"
        placed = envelope_problem(stmt, record, self.root.deployment)
        if placed is not None:
            return None, placed
        seq = record.seq or 0
        if stmt.kind in ADMIN_KINDS:
            try:
                signers = require_quorum(stmt, self.root.admin_keys, self.root.quorum)
            except PolicyRefused as exc:
                return None, str(exc)
            return Signed(record.hash, stmt.kind, stmt.body, admins=tuple(signers), id=record.id or 0, seq=seq), None
        if len(stmt.signatures) != 1:
            return None, "an operator statement carries exactly one signature"
        sig = stmt.signatures[0]
        found = self.enrolled(sig.public_key)
        if found is None:
            return None, "signed by a key that no admin quorum enrolled"
        op, revoked_at = found
        if revoked_at is not None and seq > revoked_at:
            return None, f"signed by {op.name}'s key after the admins revoked it"
        if not self.signature_verifies(op, stmt, sig):
            return None, "the signature does not verify"
        if stmt.body.get("by") != op.name:
            return None, f"names {stmt.body.get('by')!r} but is signed by {op.name}"
        needed = ROLES_OF.get(stmt.kind)
        if needed is None:
            return None, f"unknown kind of statement {stmt.kind!r}"
        if not set(op.roles.split(",")) & set(needed):
            return None, f"{op.name} has not the role {' or '.join(needed)} a {stmt.kind} statement needs"
        return Signed(record.hash, stmt.kind, stmt.body, operator=op, id=record.id or 0, seq=seq,
                      revoked=revoked_at is not None), None

    def statements(self, subject: str, kinds: tuple[str, ...] | None = None) -> tuple[list[Signed], list[str]]:
        """The statements about ``subject`` in log order: those that check out (revoked signers
        included, marked) and why each other one does not.  Complete when the host checked the log
        (:func:`recover.history.accept_history`): a row re-labelled to hide it breaks the log."""
        query = select(StatementRecord).where(StatementRecord.subject == subject)
        if kinds:
            query = query.where(StatementRecord.kind.in_(kinds))
        good, bad = [], []
        for record in self.session.exec(query.order_by(StatementRecord.seq)):
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
