"""``audit verify``'s second half: every signature, and every row against the statement it names.

The hash chain (:mod:`recover.storage.audit`) says whether the log was altered; this says whether the tables
still say what was signed: each stored statement verifies against the trust root, and each case,
quote, plan, approval, condition, price, address, credit and operator row matches its statement.
An edited quote, status or credit account is named, with the row it is in.
"""

from __future__ import annotations

from sqlmodel import Session, select

from chains.errors import ChainError
from recover.authority.acting import Verifier
from recover.authority.signed_case import load_signed_case, quote_fields_of
from recover.casework.execution import checked_plan, completion_problems, credited_plan, signed_credit
from recover.casework.signer_check import row_problems
from recover.errors import RecoverError
from recover.life.operations import AFTER_SIGNING
from recover.networks.chainio import offline_adapter
from recover.networks.registry import get_network
from recover.storage.models import (
    Approval,
    Case,
    CaseCondition,
    Credit,
    DepositAddress,
    MemoAccount,
    Operator,
    Price,
    Quote,
    StatementRecord,
    SweepPlan,
)


def _body(verifier: Verifier, h: str | None, kind: str) -> tuple[dict | None, str | None]:
    if not h:
        return None, "names no signed statement"
    record = verifier.session.exec(select(StatementRecord).where(StatementRecord.hash == h)).first()
    if record is None:
        return None, f"names statement {h[:16]}…, which does not exist"
    signed, why = verifier.check(record)
    if signed is None:
        return None, f"names statement {h[:16]}…, which is not valid: {why}"
    if signed.kind != kind:
        return None, f"names a {signed.kind} statement where a {kind} statement belongs"
    return signed.body, None


def _mismatch(what: str, row: dict, signed: dict) -> list[str]:
    return [f"{what}: {k} is {row[k]!r} but its signed statement says {signed.get(k)!r}" for k in row
            if row[k] != signed.get(k)]


# rows that name their statement: (table, statement kind, where, the row's signed fields, the body's)
_ROWS = (
    (Quote, "quote", lambda q: f"case {q.case_id} quote {q.id}", quote_fields_of, lambda b: b.get("quote") or {}),
    (Approval, "decision", lambda a: f"case {a.case_id} approval {a.id} by {a.operator}",
     lambda a: {"decision": a.decision, "plan_hash": a.plan_hash, "case": a.case_id, "by": a.operator}, dict),
    (CaseCondition, "condition", lambda c: f"case {c.case_id} condition {c.condition}",
     lambda c: {"condition": c.condition, "case": c.case_id, "by": c.satisfied_by}, dict),
    (Price, "price", lambda p: f"price {p.id} of {p.asset}",
     lambda p: {"asset": p.asset, "usd": p.usd, "at": p.at.strftime("%Y-%m-%dT%H:%M:%SZ")}, dict),
    (DepositAddress, "address", lambda d: f"deposit address {d.address} on {d.network}",
     lambda d: {"network": d.network, "address_key": d.address_key, "derivation_path": d.derivation_path,
                "account": d.account, "status": d.status, "kind": d.kind},
     lambda b: {**b, "kind": b.get("kind", "deposit")}),  # a user's deposit address: no kind in its statement
    (MemoAccount, "memo", lambda m: f"memo {m.memo} on {m.network}",
     lambda m: {"network": m.network, "memo": m.memo, "account": m.account, "status": m.status}, dict),
)


def _transaction_problems(session: Session, case: Case, plan, verifier) -> list[str]:
    """The case's stored transactions against its signed plan and the wallet team's record of signing
    (``recover.casework.execution.completion_problems``; no node is asked)."""
    try:
        plan_row, chain_plan = checked_plan(session, case)
        chain = offline_adapter(get_network(case.network))
    except (RecoverError, ChainError) as exc:
        return [str(exc)]
    return completion_problems(session, case, chain, verifier, plan_row=plan_row, plan=chain_plan)


def statement_problems(session: Session) -> list[str]:
    verifier = Verifier(session)
    out: list[str] = []  # every statement itself is checked with the log (recover.authority.history.examine_history)
    for op in session.exec(select(Operator).order_by(Operator.id)):
        if op.revoked_at is None and verifier.operator(op.public_key) is None:
            out.append(f"operator {op.name}: its row does not match a valid enrollment statement")
    for case in session.exec(select(Case).order_by(Case.id)):
        plan = session.exec(select(SweepPlan).where(SweepPlan.case_id == case.id, SweepPlan.superseded_at.is_(None))
                            .order_by(SweepPlan.id.desc())).first()
        sc = load_signed_case(verifier, case.id, plan.plan_hash if plan else None)
        where = f"case {case.id}"
        if sc.claim is None:
            out.append(f"{where}: no valid signed claim")
        out += [f"{where}: {p}" for p in row_problems(session, case, sc)]
        if plan is not None and sc.plan is None:
            out.append(f"{where}: its current plan {plan.plan_hash[:16]}… has no valid signed plan statement")
        if plan is not None and case.status in AFTER_SIGNING:
            out += [f"{where}: {p}" for p in _transaction_problems(session, case, plan, verifier)]
    for p in session.exec(select(SweepPlan).order_by(SweepPlan.id)):
        body, why = _body(verifier, p.statement, "plan")
        if body is None:
            out.append(f"case {p.case_id} plan {p.plan_hash[:16]}…: {why}")
        elif body.get("plan_hash") != p.plan_hash or body.get("case") != p.case_id:
            out.append(f"case {p.case_id} plan {p.id}: its hash or case differs from its signed statement")
    for model, kind, where, fields, signed in _ROWS:
        for row in session.exec(select(model).order_by(model.id)):
            body, why = _body(verifier, row.statement, kind)
            if body is None:
                out.append(f"{where(row)}: {why}")
            else:
                out += _mismatch(where(row), fields(row), signed(body))
    for cr in session.exec(select(Credit).order_by(Credit.id)):
        try:
            account, amount, _ = signed_credit(session, cr.case_id, credited_plan(session, cr.case_id), verifier)
        except Exception as exc:  # PolicyRefused: named, not raised
            out.append(f"credit of case {cr.case_id}: {exc}")
            continue
        out += _mismatch(f"credit of case {cr.case_id}", {"credit_account": cr.account, "net": str(cr.amount)},
                         {"credit_account": account, "net": str(amount)})
    return out
