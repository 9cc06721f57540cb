"""Case database on SQLite and PostgreSQL: optimistic transitions, audit in the same transaction,
one deposit per case, migrations equal to the models."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from recover import api
from recover.casework.transitions import move
from recover.errors import ConcurrentUpdate, DuplicateClaim, IllegalTransition
from recover.storage.audit import verify_chain
from recover.storage.db import get_engine, session_scope
from recover.storage.models import AuditEvent, Case, DepositFact
from team import team

TX = "0x" + "ab" * 32
RET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 example address


def _open(db_url, tx=TX, **kw):
    kw.setdefault("return_address", RET)
    return api.open_case("ethereum", tx, db=db_url, key=team().key("alice"), **kw)


def test_migrations_match_models(empty_db_url):
    """Upgrade head on an empty database gives exactly the models' schema, plus the legacy tables
    migrations 0005 and 0009 keep for the record (no model: nothing reads them)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import recover.storage.models  # noqa: F401
    from recover.storage.db import upgrade_to_head

    rev = upgrade_to_head(empty_db_url)
    assert rev == api.init(empty_db_url)  # twice is harmless
    with get_engine(empty_db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    legacy = sorted(d[1].name for d in diff if d[0] == "remove_table" and d[1].name.startswith("legacy_"))
    assert legacy == ["legacy_approvals", "legacy_approvers", "legacy_operators", "legacy_statements"]
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name in legacy)] == []


def test_transition_writes_audit_in_same_transaction(db_url):
    case = _open(db_url)
    with session_scope(db_url) as s:
        c = s.get(Case, case.id)
        move(s, c, "verified", actor="bob", action="verified")
    with session_scope(db_url) as s:
        assert s.get(Case, case.id).status == "verified"
        events = s.exec(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq)).all()
        assert [(e.action, e.from_status, e.to_status, e.actor) for e in events] == [
            ("case_opened", None, "open", "alice"), ("verified", "open", "verified", "bob")]
        assert verify_chain(s).ok


def test_failed_transaction_leaves_no_audit(db_url):
    case = _open(db_url)
    with pytest.raises(RuntimeError):
        with session_scope(db_url) as s:
            move(s, s.get(Case, case.id), "verified", actor="bob", action="verified")
            raise RuntimeError("crash after the move, before commit")
    with session_scope(db_url) as s:
        assert s.get(Case, case.id).status == "open"
        assert len(s.exec(select(AuditEvent).where(AuditEvent.case_id == case.id)).all()) == 1


def test_illegal_move_refused(db_url):
    case = _open(db_url)
    with pytest.raises(IllegalTransition):
        with session_scope(db_url) as s:
            move(s, s.get(Case, case.id), "signed", actor="bob", action="sign")


def test_stale_writer_loses(db_url):
    """A session that read the case before another moved it gets ConcurrentUpdate, not an overwrite."""
    case = _open(db_url)
    engine = get_engine(db_url)
    stale = Session(engine, expire_on_commit=False)
    stale_case = stale.get(Case, case.id)  # read: status open
    stale.commit()
    with session_scope(db_url) as s:
        move(s, s.get(Case, case.id), "verified", actor="bob", action="verified")
    with pytest.raises(ConcurrentUpdate) as info:
        move(stale, stale_case, "unrecoverable", actor="carol", action="refused")
    stale.rollback()
    stale.close()
    assert info.value.exit_code == 5 and "verified" in str(info.value)
    with session_scope(db_url) as s:
        assert s.get(Case, case.id).status == "verified"


def test_racing_threads_exactly_one_wins(db_url):
    case = _open(db_url)
    n = 6
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        engine = get_engine(db_url)
        s = Session(engine, expire_on_commit=False)
        try:
            c = Case(**{k: getattr(case, k) for k in Case.model_fields})  # everyone saw status open
            barrier.wait()
            move(s, c, "verified", actor=f"w{i}", action="verified")
            s.commit()
            outcome = "won"
        except ConcurrentUpdate:
            s.rollback()
            outcome = "lost"
        except Exception as exc:  # noqa: BLE001
            s.rollback()
            outcome = f"error: {exc!r}"
        finally:
            s.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * (n - 1) + ["won"], results
    with session_scope(db_url) as s:
        moves = s.exec(select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "verified")).all()
        assert len(moves) == 1
        assert verify_chain(s).ok


def test_second_claim_of_same_deposit_is_refused(db_url):
    first = _open(db_url)
    with pytest.raises(DuplicateClaim) as info:
        _open(db_url, tx=TX.upper().replace("0X", "0x"), claimant="someone else")
    assert f"case {first.id}" in str(info.value) and info.value.exit_code == 5
    # A narrower claim overlaps a claim that names no deposit address: refused as well.
    with pytest.raises(DuplicateClaim):
        _open(db_url, deposit_address="0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")
    assert len(api.list_cases(db=db_url)) == 1


def test_distinct_deposits_of_one_transaction_are_separate_claims(db_url):
    a = _open(db_url, deposit_address="0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")
    b = _open(db_url, deposit_address="0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB")
    assert a.id != b.id


def test_deposit_fact_unique_per_chain_deposit(db_url):
    a = _open(db_url, deposit_address="0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")
    b = _open(db_url, deposit_address="0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB")

    def fact(case_id):
        return DepositFact(case_id=case_id, network="ethereum", chain="eip155:1", txid=TX, deposit_index=3,
                           receiving_address="0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", asset="0x00",
                           decimals=18, amount=10**30 + 7, classification="unlisted_token")

    with session_scope(db_url) as s:
        s.add(fact(a.id))
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(db_url) as s:
            s.add(fact(b.id))
    with session_scope(db_url) as s:
        stored = s.exec(select(DepositFact)).one()
        assert stored.amount == 10**30 + 7 and isinstance(stored.amount, int)
