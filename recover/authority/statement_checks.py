"""Reading signed statements back, trusting nothing in a row: the one implementation of the checks
that the signer (``recover.authority.acting.Verifier``, over the ORM session) and the read path
(``recover.queries``, over plain rows) both run.

A statement counts when its payload hashes to the row's hash, its signed place in the statement log
(the ``log`` envelope) is the row's and this deployment's, and its signature verifies with the key
of an admin-enrolled operator who has the role its kind needs (or an admin quorum).  Whether that
operator was revoked *since* is told apart (``Signed.revoked``): a revoked approver's approvals stop
counting, while a rejection keeps its effect.

Rows come from a *store*: ``operator_by_key``, ``statement_by_hash``, ``statements_of(kind,
subject)``, ``statements_about(subject, kinds)`` and ``newest_policy()``, each returning rows with the
columns of ``statements`` / ``operators`` as attributes.  Nothing here imports the database layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recover.authority.enrollment import enrolled_passkey_in, operator_status_in
from recover.authority.passkey_check import assertion_valid
from recover.authority.statements import ADMIN_KINDS, Statement, envelope_problem, require_quorum, signature_valid
from recover.errors import InvalidInput, PolicyRefused
from recover.life.operations import OPERATIONS, roles_of_statement

# The roles each kind of statement needs of its signer: those of the operations that sign it
# (``recover.life.operations``, pure data: light enough for the read path); admin statements need the quorum.
ROLES_OF = {kind: roles_of_statement(kind)
            for kind in dict.fromkeys(k for op in OPERATIONS.values() for k in op.statements)
            if roles_of_statement(kind) is not None}

POLICY_SUBJECT = "policy"


def case_subject(case_id: int) -> str:
    return f"case:{case_id}"


def address_subject(family: str, key: str) -> str:
    return f"address:{family}:{key}"


def memo_subject(network: str, memo: str) -> str:
    return f"memo:{network}:{memo}"


def price_subject(asset: str) -> str:
    return f"price:{asset}"


# -- the log envelope -------------------------------------------------------------------------------
# -- statements that checked out ----------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    """A stored statement whose signatures checked out: by an operator (``operator``, its row) or an
    admin quorum.  ``revoked``: its operator was enrolled (the signature is theirs) but has been
    revoked since; what such a statement still does is the reader's rule (a rejection keeps its
    effect, an approval no longer counts).  ``seq`` is its place in the statement log."""

    hash: str
    kind: str
    body: dict
    operator: Any = None
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


def parse_record(record) -> Statement | None:
    """The statement a row holds, or None when its payload does not hash to its stored hash."""
    try:
        doc = json.loads(record.payload)
        stmt = Statement.from_dict({**doc, "signatures": record.signatures})
    except (ValueError, TypeError, InvalidInput):
        return None
    if stmt.hash != record.hash or stmt.kind != record.kind:
        return None
    return stmt


class StatementChecker:
    """Checks stored statements against the trust root, remembering operators it has checked."""

    def __init__(self, store, root):
        self.store = store
        self.root = root
        self._operators: dict[str, tuple[Any, int | None] | None] = {}
        self._passkeys: dict = {}  # public key -> its enrolled passkey, or None (an Ed25519 key)

    def enrolled(self, public_key: str):
        """``(operator, revoked_at_seq)`` of an admin-enrolled key (revoked or not), None for any other key."""
        key = public_key.lower()
        if key not in self._operators:
            try:
                self._operators[key] = operator_status_in(self.store, self.root, key)
            except PolicyRefused:
                self._operators[key] = None
        return self._operators[key]

    def operator(self, public_key: str):
        """The enrolled, *active* operator of ``public_key`` (None when unknown or revoked)."""
        found = self.enrolled(public_key)
        return found[0] if found is not None and found[1] is None else None

    def signature_verifies(self, op, stmt: Statement, sig) -> bool:
        """``sig`` over the payload by ``op``'s key, in the scheme the key was enrolled with: Ed25519,
        or a passkey's WebAuthn assertion (``recover.authority.passkey_check``, at the enrolled relying party)."""
        key = op.public_key.lower()
        if key not in self._passkeys:
            self._passkeys[key] = enrolled_passkey_in(self.store, op)
        passkey = self._passkeys[key]
        if passkey is None:
            return sig.scheme == "ed25519" and signature_valid(op.public_key, stmt.payload, sig.signature)
        return assertion_valid(passkey, stmt.payload, sig)

    def check(self, record) -> tuple[Signed | None, str | None]:
        """``(signed, None)`` when the record checks out, else ``(None, why)``."""
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
        (:func:`recover.authority.history.accept_history`): a row re-labelled to hide it breaks the log."""
        good, bad = [], []
        for record in self.store.statements_about(subject, kinds):
            signed, why = self.check(record)
            if signed is None:
                bad.append(f"{record.kind} statement {record.hash[:16]}…: {why}")
            else:
                good.append(signed)
        return good, bad

    def signed_by_hash(self, digest: str) -> tuple[Signed | None, str | None]:
        """The statement stored under ``digest``, checked (``(None, "not stored")`` when there is none)."""
        record = self.store.statement_by_hash(digest)
        return self.check(record) if record is not None else (None, "not stored")
