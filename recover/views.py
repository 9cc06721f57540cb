"""JSON-safe views of cases: the one document ``case show --json`` prints and the CLI renders.

Amounts are strings of base units next to their ``decimals``; times are ISO-8601 UTC text.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, select

from recover.models import Approval, AuditEvent, Case, DepositFact, Quote, SweepPlan


def list_cases(session: Session, status: str | None = None, network: str | None = None) -> list[Case]:
    """Cases oldest first, optionally of one status and network.  Here, not in ``recover.cases``, so
    that ``case list`` loads no chain code (start-up time)."""
    from recover.states import CaseStatus

    query = select(Case).order_by(Case.id)
    if status:
        try:
            CaseStatus(status)
        except ValueError:
            from recover.errors import InvalidInput

            raise InvalidInput(f"unknown status {status!r}; one of: "
                               + ", ".join(s.value for s in CaseStatus), code="invalid_status") from None
        query = query.where(Case.status == status)
    if network:
        query = query.where(Case.network == network)
    return list(session.exec(query))


def _t(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def case_summary(case: Case) -> dict:
    return {
        "id": case.id,
        "status": case.status,
        "network": case.network,
        "txid": case.txid,
        "asset": case.asset,
        "deposit_address": case.deposit_address,
        "destination": ({"return_address": case.return_address} if case.return_address
                        else {"credit_account": case.credit_account}),
        "classification": case.classification,
        "flags": list(case.flags or []),
        "opened_by": case.opened_by,
        "external_ref": case.external_ref,
        "created_at": _t(case.created_at),
        "updated_at": _t(case.updated_at),
    }


def fact_view(f: DepositFact) -> dict:
    return {
        "deposit_index": f.deposit_index, "sender": f.sender, "receiving_address": f.receiving_address,
        "asset": f.asset, "asset_symbol": f.asset_symbol, "amount": str(f.amount), "decimals": f.decimals,
        "block_number": f.block_number, "block_hash": f.block_hash, "block_time": _t(f.block_time),
        "confirmations": f.confirmations, "success": f.success, "classification": f.classification,
        "details": f.details, "verified_at": _t(f.verified_at),
    }


def quote_view(q: Quote, native_symbol: str | None = None, symbol: str | None = None) -> dict:
    return {
        "symbol": symbol, "native_symbol": native_symbol,
        "native_decimals": (q.details or {}).get("native_decimals"),
        "gross": str(q.gross), "fee": str(q.fee), "network_cost_native": str(q.network_cost_native),
        "network_cost_in_asset": str(q.network_cost_in_asset), "net": str(q.net), "decimals": q.decimals,
        "value_usd": q.value_usd, "economical": q.economical, "refusal": q.refusal_code,
        "details": q.details, "created_by": q.created_by, "created_at": _t(q.created_at),
    }


def case_view(session: Session, case: Case) -> dict:
    """Everything about a case, each part present once it exists (``None`` before)."""
    doc = case_summary(case)
    doc["claimant"] = case.claimant
    doc["prepared_by"] = case.prepared_by
    doc["refusal"] = ({"code": case.refusal_code, "reason": case.refusal_reason}
                      if case.refusal_code or case.refusal_reason else None)
    facts = session.exec(select(DepositFact).where(DepositFact.case_id == case.id).order_by(DepositFact.deposit_index)).all()
    doc["facts"] = [fact_view(f) for f in facts] or None
    quote = session.exec(select(Quote).where(Quote.case_id == case.id).order_by(Quote.id.desc())).first()
    from recover.registry import networks

    net = networks().get(case.network)
    doc["quote"] = quote_view(quote, net.native_symbol if net else None,
                              facts[0].asset_symbol if facts else None) if quote else None
    plan = session.exec(select(SweepPlan).where(SweepPlan.case_id == case.id, SweepPlan.superseded_at.is_(None))
                        .order_by(SweepPlan.id.desc())).first()
    if plan:
        from recover.planning import describe_plan
        from recover.registry import networks

        plan_doc = json.loads(plan.plan_json)
        net_of_plan = networks().get(case.network)
        doc["plan"] = {"plan_hash": plan.plan_hash, "created_by": plan.created_by, "created_at": _t(plan.created_at),
                       "plan": plan_doc, "steps": describe_plan(net_of_plan, plan_doc) if net_of_plan else None}
    else:
        doc["plan"] = None
    if plan:
        rows = session.exec(select(Approval).where(Approval.case_id == case.id, Approval.plan_hash == plan.plan_hash)
                            .order_by(Approval.id)).all()
        doc["approvals"] = {
            "plan_hash": plan.plan_hash,
            "so_far": [{"approver": a.operator, "person": a.person, "decision": a.decision, "reason": a.reason,
                        "statement": a.statement, "at": _t(a.created_at)} for a in rows],
        }
        try:
            from recover.approvals import case_state

            state = case_state(session, case)
            doc["approvals"].update({"needed": state.tier.approvers, "counted": state.counted,
                                     "roles_missing": state.roles_missing, "ignored": state.to_dict()["ignored"],
                                     "conditions_unmet": state.conditions_unmet, "satisfied": state.satisfied,
                                     "tier": state.tier.describe(), "tier_reason": state.tier_reason})
        except Exception as exc:  # no trust root here, say: the case is still shown
            doc["approvals"]["error"] = str(exc)
    else:
        doc["approvals"] = None
    from recover.models import CaseCondition, SignedTx
    from recover.registry import networks

    net = networks().get(case.network)
    recorded = session.exec(select(CaseCondition).where(CaseCondition.case_id == case.id)).all()
    if net is not None and net.conditions:
        from recover.conditions import ownership_message

        doc["conditions"] = {
            "required": list(net.conditions), "reason": net.reason,
            "recorded": [{"condition": c.condition, "by": c.satisfied_by, "reason": c.reason, "at": _t(c.created_at)}
                         for c in recorded],
            "ownership_message": ownership_message(case) if "ownership_proof" in net.conditions else None,
        }
    else:
        doc["conditions"] = None
    txs = session.exec(select(SignedTx).where(SignedTx.case_id == case.id).order_by(SignedTx.seq)).all()
    doc["transactions"] = [{"seq": t.seq, "role": t.role, "txid": t.txid, "status": t.status,
                            "confirmations": t.confirmations, "error": t.error} for t in txs] or None
    events = session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq)).all()
    doc["audit"] = [{"seq": e.seq, "at": e.created_at, "actor": e.actor, "action": e.action,
                     "from": e.from_status, "to": e.to_status, "details": e.details} for e in events]
    return doc
