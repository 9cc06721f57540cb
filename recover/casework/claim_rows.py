"""Writing the rows of claims already checked: cases, their signed claims, jobs and audit events.

One statement per table for any number of claims (multi-row INSERT, the claims' ``UPDATE`` as one
executemany, which psycopg sends pipelined): ``case open`` writes one claim with it, ``case import``
a chunk of them (:class:`recover.casework.claim_batch.ClaimBatch`).  On PostgreSQL every statement is
a round trip to the server, and one per table per chunk instead of one per table per line was most
of what an import of many lines waited for.  The rows are the ones a line-by-line open writes, in the
same order: each case its own claim statement (signed, at the next place of the statement log), a
verify job and a ``case_opened`` audit event naming that statement, both logs chained in line order.
"""

from __future__ import annotations

from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import Session

from recover.authority.acting import attest_many, case_subject
from recover.authority.signed_case import claim_body
from recover.errors import DuplicateClaim
from recover.storage.audit import append_events
from recover.storage.jobs import enqueue_many
from recover.storage.models import Case

_CASES = Case.__table__
_KEY = (_CASES.c.chain, _CASES.c.txid, _CASES.c.claim_scope)  # unique (index uq_cases_chain_claim)
# The ids are matched to the rows by that key, so the rows may come back in any order: asking SQLAlchemy
# to keep the parameters' order makes it send one INSERT per row on SQLite (no sentinel column here)
_INSERT_CASES = sa.insert(_CASES).returning(_CASES.c.id, *_KEY)
_SET_CLAIM = (sa.update(_CASES).where(_CASES.c.id == sa.bindparam("case_id"))
              .values(claim_statement=sa.bindparam("claim_statement")))


def write_claims(session: Session, cases: list[SimpleNamespace], *, actor: str) -> list[int]:
    """Insert ``cases`` (columns from :func:`recover.casework.cases.check_claim`, none overlapping another
    or a claim already made, checked under the claim locks) and everything an opened case has; returns
    their ids in order.  A case row the database refuses (another opener's claim, the same appeal) is
    exit 5 for the lot: nothing of it stays once the caller's savepoint or transaction rolls back."""
    if not cases:
        return []
    rows = [{**vars(c), "opened_by": str(actor), "version": 1} for c in cases]
    try:
        returned = session.connection().execute(_INSERT_CASES, rows).all()
    except sa.exc.IntegrityError:
        what = f"transaction {cases[0].txid} on {cases[0].network}" if len(cases) == 1 else "a transaction of the batch"
        raise DuplicateClaim(f"{what} was just claimed by another case") from None
    ids = {(r.chain, r.txid, r.claim_scope): r.id for r in returned}
    if len(returned) != len(cases) or len(ids) != len(cases):
        raise RuntimeError("the case INSERT returned other rows than it was given")
    for c in cases:  # by the unique key, not by position
        c.id = ids[(c.chain, c.txid, c.claim_scope)]
    statements = attest_many(actor, session, [("claim", case_subject(c.id), claim_body(c)) for c in cases])
    session.connection().execute(_SET_CLAIM, [{"case_id": c.id, "claim_statement": st.hash}
                                              for c, st in zip(cases, statements)])
    enqueue_many(session, [(c.id, c.status) for c in cases])  # to be verified by a worker
    append_events(session, [dict(
        actor=actor, action="case_opened", case_id=c.id, to_status=c.status,
        details={"statement": st.hash, "network": c.network, "txid": c.txid, "asset": c.asset,
                 "deposit_address": c.deposit_address, "return_address": c.return_address,
                 "credit_account": c.credit_account, "claimant": c.claimant, "flags": list(c.flags or []),
                 **({"msg_index": c.msg_index} if c.msg_index is not None else {}),
                 **({"return_memo": c.return_memo} if c.return_memo is not None else {})})
        for c, st in zip(cases, statements)])
    return [c.id for c in cases]
