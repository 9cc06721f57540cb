"""Cases for the services that hold an ORM session: the documents are the read path's
(:mod:`recover.queries.docs`, :mod:`recover.queries.cases`), one definition for both.
"""

from __future__ import annotations

from sqlmodel import Session, select

from recover.errors import InvalidInput
from recover.life.states import CaseStatus
from recover.queries.cases import CaseReader
from recover.queries.db import Db
from recover.queries.docs import case_summary, fact_view, quote_view  # noqa: F401 - re-exported
from recover.storage.models import Case


def list_cases(session: Session, status: str | None = None, network: str | None = None) -> list[Case]:
    """Cases oldest first, optionally of one status and network.  Here, not in ``recover.casework.cases``, so
    that ``case list`` loads no chain code (start-up time)."""
    query = select(Case).order_by(Case.id)
    if status:
        try:
            CaseStatus(status)
        except ValueError:
            raise InvalidInput(f"unknown status {status!r}; one of: "
                               + ", ".join(s.value for s in CaseStatus), code="invalid_status") from None
        query = query.where(Case.status == status)
    if network:
        query = query.where(Case.network == network)
    return list(session.exec(query))


def case_view(session: Session, case: Case) -> dict:
    """Everything about a case (``case show --json``): the read path's document
    (:meth:`recover.queries.cases.CaseReader.show`), read over this session's own connection."""
    return CaseReader(Db.of_session(session)).show(case.id)
