"""Opening a batch of claims (a ``case import`` chunk) in a few statements, with the same checks and rows.

A line-by-line open costs about thirteen statements per claim (savepoint, reference, destination,
look-alike addresses, claim lock, claims made, case, statement, claim update, job check and insert,
audit event, release); on PostgreSQL each is a round trip, and waiting on them was most of a large
import.  Here, for a batch in one transaction:

1. every claim lock of the batch is taken first, in key order, before anything takes the logs' lock
   (:func:`recover.casework.cases.lock_claims_many`);
2. what the checks read is read once for the batch: the references already imported, the
   destinations registered as our deposit addresses, the registered addresses near each destination,
   and every claim already made on the batch's transactions (under those locks, so it stays true
   until the transaction ends: nobody else can claim those transactions meanwhile);
3. each claim is checked by :func:`check_claim` and :func:`check_unclaimed`, the functions ``case open``
   runs, against that reading and the claims accepted before it in the batch (a claim that repeats
   an accepted one's reference or deposit first has the accepted ones written, so it is refused
   naming their case exactly as a line-by-line open would);
4. the accepted claims are written together (:func:`recover.casework.claim_rows.write_claims`) in a
   savepoint.  If the database refuses that (a constraint or trigger: another opener's row), the
   savepoint is rolled back and each of them is opened alone by :func:`open_claim` in its own
   savepoint, as before: a bad claim never undoes the others.

A refused claim writes nothing, so it needs no savepoint.  Each opened claim still has its own signed
claim statement, job and ``case_opened`` audit event, both logs chained in the batch's order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import Session

from chains.addresses import normalize_txid
from chains.registry import adapter_class
from recover.authority.statement_log import APPENDED, forget_heads
from recover.casework.cases import (Claim, check_claim, check_unclaimed, lock_claims_many, open_claim,
                                    scopes_overlap)
from recover.casework.claim_rows import write_claims
from recover.casework.destinations import lookalike_prefix, near_many, registered_many
from recover.errors import ToolkitError
from recover.networks.registry import get_network
from recover.storage.models import Case
from recover.storage.testpoints import pause_point

_CASES = Case.__table__


@dataclass
class Opened:
    """What became of one claim of a batch: its case, or the refusal ``open_claim`` would have raised."""

    case_id: int | None = None
    error: ToolkitError | None = None


class ClaimBatch:
    """The claims of one transaction, announced up front (``claims``: they are locked and read for at
    once), then :meth:`add`-ed in order and written by :meth:`flush` (the caller flushes at the end)."""

    def __init__(self, session: Session, claims: list[Claim], *, actor) -> None:
        self.session, self.actor = session, actor
        self._pending: list[tuple[Opened, SimpleNamespace, Claim]] = []
        lock_claims_many(session, claims)  # first: before any statement or audit event takes the logs' lock
        txids: dict[str, set[str]] = {}
        keys, prefixes, refs = set(), set(), set()
        for claim in claims:
            if claim.external_ref and claim.external_ref.strip():
                refs.add(claim.external_ref.strip())
            try:
                net = get_network(claim.network)
                txids.setdefault(net.chain, set()).add(normalize_txid(net.family, claim.tx))
                if claim.return_address:
                    ret = net.validate_address(claim.return_address.strip(), what="return address")
                    keys.add(adapter_class(net.family).address_key(ret))
                    prefix = lookalike_prefix(net, ret)
                    if prefix is not None:
                        prefixes.add(prefix)
            except Exception:  # noqa: BLE001 - not read ahead: check_claim says what is wrong with it, in its order
                continue
        self._claims = _claims_made(session, txids)
        self._registered = registered_many(session, keys)
        self._near = near_many(session, prefixes)
        self._refs = _cases_of_refs(session, refs)

    def add(self, claim: Claim) -> Opened:
        """Check ``claim`` (every check of ``case open``); refused, it is answered now, else it waits
        for :meth:`flush`."""
        opened = Opened()
        try:
            case = self._check(claim)
            if self._repeats_pending(case):  # write the earlier ones first, then check it against them
                self.flush()
                case = self._check(claim)
            if (case.chain, case.txid) not in self._claims:
                raise RuntimeError(f"claim of {case.txid} was not announced to the batch: it is not locked")
            check_unclaimed(self.session, case, self._claims[(case.chain, case.txid)])
        except ToolkitError as exc:
            opened.error = exc
            return opened
        if os.environ.get("RECOVER_TEST_PAUSE"):  # as open_claim: the race tests hold an opener here
            pause_point("case_claims_checked")
        self._pending.append((opened, case, claim))
        return opened

    def _check(self, claim: Claim) -> SimpleNamespace:
        return check_claim(self.session, claim, registered=self._registered, near=self._near, refs=self._refs)

    def _repeats_pending(self, case: SimpleNamespace) -> bool:
        return any((case.external_ref is not None and case.external_ref == p.external_ref)
                   or ((case.chain, case.txid) == (p.chain, p.txid) and scopes_overlap(case.claim_scope, p.claim_scope))
                   for _, p, _c in self._pending)

    def flush(self) -> None:
        """Write the claims waiting, all in one savepoint; if the database refuses that, each alone."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        appended = self.session.info.get(APPENDED)
        try:
            with self.session.begin_nested():
                ids = write_claims(self.session, [case for _, case, _c in pending], actor=self.actor)
        except (sa.exc.IntegrityError, ToolkitError):
            forget_heads(self.session)  # the savepoint's statements and audit events are gone
            _restore(self.session, appended)
            for opened, case, claim in pending:
                self._one_by_one(opened, case, claim)
        else:
            for (opened, case, _c), case_id in zip(pending, ids):
                opened.case_id = case_id
                self._accepted(case, case_id)

    def _one_by_one(self, opened: Opened, case: SimpleNamespace, claim: Claim) -> None:
        """``claim`` opened alone, as before batches (every check again, in its own savepoint)."""
        appended = self.session.info.get(APPENDED)
        try:
            with self.session.begin_nested():
                opened.case_id = open_claim(self.session, claim, actor=self.actor)
        except ToolkitError as exc:  # DuplicateClaim too; anything else stops the caller, as before
            forget_heads(self.session)
            _restore(self.session, appended)
            opened.error = exc
            return
        self._accepted(case, opened.case_id)

    def _accepted(self, case: SimpleNamespace, case_id: int) -> None:
        """What the batch read now also holds the case just written (claims after it are checked
        against it)."""
        self._claims.setdefault((case.chain, case.txid), []).append(SimpleNamespace(
            id=case_id, network=case.network, claim_scope=case.claim_scope, status=case.status))
        if case.external_ref is not None:
            self._refs[case.external_ref] = case_id


def _restore(session: Session, appended) -> None:
    """After a savepoint rolled back: what this transaction appended is what it had appended before."""
    if appended is None:
        session.info.pop(APPENDED, None)
    else:
        session.info[APPENDED] = appended


def _claims_made(session: Session, txids: dict[str, set[str]]) -> dict[tuple[str, str], list]:
    """``(chain, txid) -> the claims already made on it`` for every transaction asked (empty lists too),
    in one query per 500 transactions of a chain."""
    made: dict[tuple[str, str], list] = {(chain, tx): [] for chain, txs in txids.items() for tx in txs}
    for chain, txs in txids.items():
        wanted = sorted(txs)
        for i in range(0, len(wanted), 500):
            for row in session.connection().execute(
                    sa.select(_CASES.c.id, _CASES.c.network, _CASES.c.claim_scope, _CASES.c.status, _CASES.c.txid)
                    .where(_CASES.c.chain == chain, _CASES.c.txid.in_(wanted[i:i + 500])).order_by(_CASES.c.id)):
                made[(chain, row.txid)].append(row)
    return made


def _cases_of_refs(session: Session, refs: set[str]) -> dict[str, int | None]:
    """``external_ref -> its case, or None`` for every reference asked, one query per 500."""
    found: dict[str, int | None] = dict.fromkeys(refs)
    wanted = sorted(refs)
    for i in range(0, len(wanted), 500):
        found.update({ref: cid for ref, cid in session.connection().execute(
            sa.select(_CASES.c.external_ref, _CASES.c.id).where(_CASES.c.external_ref.in_(wanted[i:i + 500])))})
    return found
