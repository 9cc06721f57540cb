"""The statement store of :mod:`recover.authority.statement_checks` over an ORM session: the rows the signer
and the other deciding commands check, read with the same queries as before the checks moved out."""

from __future__ import annotations

from sqlmodel import Session, select

from recover.storage.models import Operator, StatementRecord


class SessionStore:
    def __init__(self, session: Session):
        self.session = session

    def operator_by_key(self, public_key: str):
        return self.session.exec(select(Operator).where(Operator.public_key == public_key)).first()

    def statement_by_hash(self, digest: str):
        return self.session.exec(select(StatementRecord).where(StatementRecord.hash == digest)).first()

    def statements_of(self, kind: str, subject: str) -> list:
        return list(self.session.exec(select(StatementRecord).where(StatementRecord.kind == kind,
                                                                    StatementRecord.subject == subject)
                                      .order_by(StatementRecord.seq)))

    def statements_about(self, subject: str, kinds: tuple[str, ...] | None = None) -> list:
        query = select(StatementRecord).where(StatementRecord.subject == subject)
        if kinds:
            query = query.where(StatementRecord.kind.in_(kinds))
        return list(self.session.exec(query.order_by(StatementRecord.seq)))

    def newest_policy(self):
        """The policy statement with the highest admin number (then log place), or None."""
        return self.session.exec(select(StatementRecord).where(StatementRecord.kind == "policy")
                                 .order_by(StatementRecord.admin_seq.desc(), StatementRecord.seq.desc())
                                 .limit(1)).first()
