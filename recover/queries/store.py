"""The statement store of :mod:`recover.authority.statement_checks` over plain rows: the same rows, in the same
order, as :class:`recover.authority.session_store.SessionStore` reads through the ORM."""

from __future__ import annotations

from types import SimpleNamespace

from recover.queries.db import Db, decode_json, decode_time

# Imports inside functions: the read path loads statement checks, PyNaCl and the network files only for the
# documents that show them: `case list` starts without them.

_STATEMENT = "SELECT id, seq, hash, kind, subject, head, admin_seq, entry, payload, signatures FROM statements"
_OPERATOR = ("SELECT id, name, public_key, roles, person, enrolled_by, revoked_by, created_at, revoked_at "
             "FROM operators")


def _statement(row: dict) -> SimpleNamespace:
    row["signatures"] = decode_json(row["signatures"])
    return SimpleNamespace(**row)


def _operator(row: dict) -> SimpleNamespace:
    row["created_at"], row["revoked_at"] = decode_time(row["created_at"]), decode_time(row["revoked_at"])
    return SimpleNamespace(**row)


class RowStore:
    def __init__(self, db: Db):
        self.db = db

    def operator_by_key(self, public_key: str):
        row = self.db.one(f"{_OPERATOR} WHERE public_key = ?", (public_key,))
        return _operator(row) if row else None

    def operators(self) -> list:
        return [_operator(r) for r in self.db.rows(f"{_OPERATOR} ORDER BY name")]

    def statement_by_hash(self, digest: str):
        row = self.db.one(f"{_STATEMENT} WHERE hash = ?", (digest,))
        return _statement(row) if row else None

    def statements_of(self, kind: str, subject: str) -> list:
        return [_statement(r) for r in self.db.rows(f"{_STATEMENT} WHERE kind = ? AND subject = ? ORDER BY seq",
                                                    (kind, subject))]

    def statements_about(self, subject: str, kinds: tuple[str, ...] | None = None) -> list:
        if kinds:
            marks = ", ".join("?" for _ in kinds)
            rows = self.db.rows(f"{_STATEMENT} WHERE subject = ? AND kind IN ({marks}) ORDER BY seq",
                                (subject, *kinds))
        else:
            rows = self.db.rows(f"{_STATEMENT} WHERE subject = ? ORDER BY seq", (subject,))
        return [_statement(r) for r in rows]

    def newest_policy(self):
        """As :meth:`recover.authority.session_store.SessionStore.newest_policy`: the same ORDER BY."""
        row = self.db.one(f"{_STATEMENT} WHERE kind = 'policy' ORDER BY admin_seq DESC, seq DESC LIMIT 1")
        return _statement(row) if row else None


def checker(db: Db, root=None):
    """A :class:`recover.authority.statement_checks.StatementChecker` over this database's rows (the trust root
    of ``RECOVER_TRUST_ROOT`` unless given)."""
    from recover.authority.statement_checks import StatementChecker
    from recover.authority.trust import load_trust_root

    return StatementChecker(RowStore(db), root or load_trust_root())
