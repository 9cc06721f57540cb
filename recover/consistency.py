"""``audit verify``'s second half: every signature, and every row against the statement it names.

The hash chain (:mod:`recover.audit`) says whether the log was altered; this says whether the tables
still say what was signed: each stored statement verifies against the trust root, and each case,
quote, plan, approval, condition, price, address, credit and operator row matches its statement.
An edited quote, status or credit account is named, with the row it is in.
"""

from __future__ import annotations

from sqlmodel import Session, select

from recover.authority import Verifier
from recover.models import (Approval, Case, CaseCondition, Credit, DepositAddress, Operator, Price, Quote,
                            StatementRecord, SweepPlan)
from recover.signed_case import QUOTE_FIELDS, load_signed_case


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


def statement_problems(session: Session) -> list[str]:
    from recover.execution import credited_plan, signed_credit
    from recover.signer_check import row_problems

    verifier = Verifier(session)
    out: list[str] = []
    for record in session.exec(select(StatementRecord).order_by(StatementRecord.id)):
        signed, why = verifier.check(record)
        if signed is None:
            out.append(f"statement {record.hash[:16]}… ({record.kind} about {record.subject}): {why}")
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
    for q in session.exec(select(Quote).order_by(Quote.id)):
        body, why = _body(verifier, q.statement, "quote")
        where = f"case {q.case_id} quote {q.id}"
        if body is None:
            out.append(f"{where}: {why}")
            continue
        row = {k: (str(getattr(q, k)) if k not in ("decimals", "value_usd", "economical") else getattr(q, k))
               for k in QUOTE_FIELDS}
        out += _mismatch(where, row, body.get("quote") or {})
    for p in session.exec(select(SweepPlan).order_by(SweepPlan.id)):
        body, why = _body(verifier, p.statement, "plan")
        if body is None:
            out.append(f"case {p.case_id} plan {p.plan_hash[:16]}…: {why}")
        elif body.get("plan_hash") != p.plan_hash or body.get("case") != p.case_id:
            out.append(f"case {p.case_id} plan {p.id}: its hash or case differs from its signed statement")
    for a in session.exec(select(Approval).order_by(Approval.id)):
        body, why = _body(verifier, a.statement, "decision")
        where = f"case {a.case_id} approval {a.id} by {a.operator}"
        if body is None:
            out.append(f"{where}: {why}")
        else:
            out += _mismatch(where, {"decision": a.decision, "plan_hash": a.plan_hash, "case": a.case_id,
                                     "by": a.operator}, body)
    for c in session.exec(select(CaseCondition).order_by(CaseCondition.id)):
        body, why = _body(verifier, c.statement, "condition")
        where = f"case {c.case_id} condition {c.condition}"
        if body is None:
            out.append(f"{where}: {why}")
        else:
            out += _mismatch(where, {"condition": c.condition, "case": c.case_id, "by": c.satisfied_by}, body)
    for pr in session.exec(select(Price).order_by(Price.id)):
        body, why = _body(verifier, pr.statement, "price")
        where = f"price {pr.id} of {pr.asset}"
        if body is None:
            out.append(f"{where}: {why}")
        else:
            out += _mismatch(where, {"asset": pr.asset, "usd": pr.usd, "at": pr.at.strftime("%Y-%m-%dT%H:%M:%SZ")},
                             body)
    for d in session.exec(select(DepositAddress).order_by(DepositAddress.id)):
        body, why = _body(verifier, d.statement, "address")
        where = f"deposit address {d.address} on {d.network}"
        if body is None:
            out.append(f"{where}: {why}")
        else:
            out += _mismatch(where, {"network": d.network, "address_key": d.address_key,
                                     "derivation_path": d.derivation_path, "account": d.account,
                                     "status": d.status}, body)
    for cr in session.exec(select(Credit).order_by(Credit.id)):
        try:
            account, amount, _ = signed_credit(session, cr.case_id, credited_plan(session, cr.case_id), verifier)
        except Exception as exc:  # PolicyRefused: named, not raised
            out.append(f"credit of case {cr.case_id}: {exc}")
            continue
        out += _mismatch(f"credit of case {cr.case_id}", {"credit_account": cr.account, "net": str(cr.amount)},
                         {"credit_account": account, "net": str(amount)})
    return out
