"""The gas book: which native at a deposit address is ours, and which gas-station nonces live plans hold.

Each deposit's money is its own.  A deposit address can hold several deposits at once (a native
misdeposit and an unlisted token at one retired address); the chain keeps one native balance for
all of them.  So a plan may burn for gas only what the exchange itself left there, and the book
says how much that is:

- ``gas_leftovers`` (per chain and address): native our top-ups put there and our transactions did
  not burn, that no live plan counts on.  A plan that counts on some takes it out at prepare (its
  reservation's ``own_native``); completing the plan puts back what its gas left
  (:meth:`ChainAdapter.own_gas_left`); voiding it before its deposit's transactions were sent gives
  its share back; voiding it after forfeits it (the book then under-counts, which only costs an
  extra top-up later: it never lets a plan burn a deposit's value).
- ``gas_reservations``: the gas-station nonce each live plan's top-up takes, so a batch of plans
  prepared before any is sent signs without collisions.  The adapter picks the lowest nonce at or
  above the station's pending nonce that no other live plan holds (a released one first, so no gap
  stays open).  A plan's reservation ends in the transaction that voids it (re-quote, re-prepare,
  re-plan, rejection, an end) or completes it.

PostgreSQL: a prepare holds transaction-scoped advisory locks on its deposit address and its gas
station from before it reads the book until it commits (SQLite serialises whole transactions), and
at most one live reservation per station nonce is a unique index, the last guard.  Book rows are
changed under a row lock, always after the audit chain's lock (the order every writer here takes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from chains.registry import family as fam
from recover.errors import ConcurrentUpdate
from recover.storage.models import GasLeftover, GasReservation, SignedTx, utcnow


def _key(family: str, address: str) -> str:
    return fam(family).address_key(address)


@dataclass(frozen=True)
class GasView:
    """What a plan of ``case`` may use: our native at its deposit, and the station nonces others hold."""

    own_native: int
    station_reserved: tuple[int, ...]


def own_native(session: Session, case, family: str, deposit: str) -> int:
    """Our native at ``deposit`` that a new plan of ``case`` may burn for gas: the book's leftover, plus
    what the case's own live plan counts on (a new plan replaces it)."""
    key = _key(family, deposit)
    row = session.exec(select(GasLeftover.amount).where(GasLeftover.chain == case.chain,
                                                        GasLeftover.address_key == key)).first()
    held = session.exec(select(GasReservation.own_native).where(
        GasReservation.case_id == case.id, GasReservation.deposit == key,
        GasReservation.released_at.is_(None))).all()
    return (row or 0) + sum(held)


def for_prepare(session: Session, case, family: str, deposit: str, station: str | None) -> GasView:
    """Lock the deposit's and the station's book (PostgreSQL) until this transaction ends, then read it."""
    _lock(session, case.chain, _key(family, deposit))
    reserved: tuple[int, ...] = ()
    if station:
        skey = _key(family, station)
        _lock(session, case.chain, skey)
        reserved = tuple(session.exec(select(GasReservation.nonce).where(
            GasReservation.chain == case.chain, GasReservation.station == skey, GasReservation.nonce.is_not(None),
            GasReservation.released_at.is_(None), GasReservation.case_id != case.id)).all())
    return GasView(own_native(session, case, family, deposit), reserved)


def _lock(session: Session, chain: str, key: str) -> None:
    if session.connection().dialect.name == "postgresql":
        digest = hashlib.sha256(f"gasbook|{chain}|{key}".encode()).digest()
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": int.from_bytes(digest[:8], "big", signed=True)})


def hold(session: Session, case, family: str, plan, plan_hash: str, chain_cls) -> GasReservation | None:
    """At prepare, in the plan's transaction: reserve its top-up's station nonce and take the leftover
    it counts on (``plan.meta["own_native_used"]``) out of the book.  None when it needs neither."""
    used = int(plan.meta.get("own_native_used") or 0)
    held = chain_cls.station_nonce_of(plan)
    if not used and held is None:
        return None
    deposit = next(s.signer_address for s in plan.steps if s.role != "gas_topup")
    dkey = _key(family, deposit)
    if used:
        _add(session, case.chain, dkey, deposit, -used)
    row = GasReservation(chain=case.chain, case_id=case.id, plan_hash=plan_hash, deposit=dkey, own_native=used,
                         station=_key(family, held[0]) if held else None, nonce=held[1] if held else None)
    session.add(row)
    cid = case.id
    try:
        with session.begin_nested():
            session.flush()
    except sa.exc.IntegrityError:
        raise ConcurrentUpdate(f"case {cid}: gas-station nonce {held[1] if held else '?'} was reserved by another "
                               "plan meanwhile; nothing was stored: prepare the case again",
                               code="nonce_reserved") from None
    return row


def release(session: Session, case_id: int, *, plan_hashes=None, outcome: str = "voided") -> list[GasReservation]:
    """End the live reservations of the case (of ``plan_hashes`` only, when given), in the caller's
    transaction.  A plan's leftover share goes back to the book unless its deposit's transactions were
    sent (then it is forfeited: what they burned is not known here)."""
    query = select(GasReservation).where(GasReservation.case_id == case_id, GasReservation.released_at.is_(None))
    if plan_hashes is not None:
        query = query.where(GasReservation.plan_hash.in_(list(plan_hashes)))
    return _end(session, list(session.exec(query)), {case_id: outcome})


def release_cases(session: Session, ended: list[tuple[int, str]]) -> list[GasReservation]:
    """:func:`release` for many cases at once (``(case_id, outcome)`` each): one query for all of them
    (``verify --all`` moves hundreds of cases, none of which holds anything)."""
    outcomes = dict(ended)
    if not outcomes:
        return []
    ids = sorted(outcomes)
    rows = []
    for i in range(0, len(ids), 500):
        rows += session.exec(select(GasReservation).where(GasReservation.case_id.in_(ids[i:i + 500]),
                                                          GasReservation.released_at.is_(None))
                             .order_by(GasReservation.id)).all()
    return _end(session, rows, outcomes)


def _end(session: Session, rows: list[GasReservation], outcomes: dict[int, str]) -> list[GasReservation]:
    for r in rows:
        why = outcomes[r.case_id]
        if r.own_native:
            if _deposit_sent(session, r.case_id, r.plan_hash):
                why = "forfeited"
            else:
                _add(session, r.chain, r.deposit, None, r.own_native)
        r.released_at, r.outcome = utcnow(), why
        session.add(r)
    if rows:
        session.flush()
    return rows


def settle(session: Session, case, family: str, plan, plan_hash: str, left: int) -> None:
    """At completion: what our gas left at the deposit is ours again (the book), and the plan's
    reservations end as completed (their leftover share was spent or is in ``left``)."""
    for r in session.exec(select(GasReservation).where(GasReservation.case_id == case.id,
                                                       GasReservation.plan_hash == plan_hash,
                                                       GasReservation.released_at.is_(None))):
        r.released_at, r.outcome = utcnow(), "completed"
        session.add(r)
    if left > 0:
        deposit = next(s.signer_address for s in plan.steps if s.role != "gas_topup")
        _add(session, case.chain, _key(family, deposit), deposit, left)
    session.flush()


def holders(session: Session, chain: str, family: str, station: str, low: int, high: int) -> dict[int, int]:
    """nonce -> case id of the live reservations of ``station`` in ``[low, high)``."""
    rows = session.exec(select(GasReservation.nonce, GasReservation.case_id).where(
        GasReservation.chain == chain, GasReservation.station == _key(family, station),
        GasReservation.released_at.is_(None), GasReservation.nonce >= low, GasReservation.nonce < high)).all()
    return {n: c for n, c in rows}


def _deposit_sent(session: Session, case_id: int, plan_hash: str) -> bool:
    return session.exec(select(SignedTx.id).where(SignedTx.case_id == case_id, SignedTx.plan_hash == plan_hash,
                                                  SignedTx.role != "gas_topup", SignedTx.status != "signed")
                        ).first() is not None


def _add(session: Session, chain: str, key: str, address: str | None, delta: int) -> None:
    """The book's leftover at (chain, key) plus ``delta``, under a row lock; never below zero."""
    _ensure_row(session, chain, key, address or key)
    row = session.exec(select(GasLeftover).where(GasLeftover.chain == chain, GasLeftover.address_key == key)
                       .with_for_update().execution_options(populate_existing=True)).one()
    if row.amount + delta < 0:
        raise ConcurrentUpdate(f"our gas left at {row.address} is {row.amount}, less than the {-delta} a plan "
                               "counts on: another plan took it meanwhile; quote and prepare the case again",
                               code="leftover_taken")
    row.amount, row.updated_at = row.amount + delta, utcnow()
    session.add(row)
    session.flush()


def _ensure_row(session: Session, chain: str, key: str, address: str) -> None:
    """Create the book's row at 0 unless it exists (a concurrent creator is no error)."""
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(GasLeftover.__table__).values(chain=chain, address_key=key, address=address, amount=0,
                                                         updated_at=utcnow()).on_conflict_do_nothing())
