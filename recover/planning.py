"""Preparing a quoted case: the adapter builds and simulates the sweep, we store it with its hash.

The plan costs exactly what the quote said (the quote's stored cost estimate is handed back to the
adapter), moves exactly the quoted amounts, and its SHA-256 over canonical JSON is what approvers
sign.  Preparing again replaces the plan and so voids every approval of the old one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, select

from chains.base import NATIVE, CostEstimate
from recover.canonical import canonical_json, sha256_hex
from recover.chainio import adapter
from recover.errors import IllegalTransition, PolicyRefused
from recover.models import Case, Quote as QuoteRow, SweepPlan
from recover.quoting import supersede_plan
from recover.registry import get_network
from recover.states import CaseStatus
from recover.sweeps import build_request, case_facts
from recover.transitions import move

PREPARABLE = {CaseStatus.QUOTED, CaseStatus.AWAITING_APPROVAL, CaseStatus.APPROVED}


@dataclass
class PlanOutcome:
    case_id: int
    plan_hash: str
    plan: dict

    def to_dict(self) -> dict:
        return {"case_id": self.case_id, "plan_hash": self.plan_hash, "plan": self.plan}


def current_quote(session: Session, case: Case) -> QuoteRow | None:
    return session.exec(select(QuoteRow).where(QuoteRow.case_id == case.id).order_by(QuoteRow.id.desc())).first()


def current_plan(session: Session, case: Case) -> SweepPlan | None:
    return session.exec(select(SweepPlan).where(SweepPlan.case_id == case.id, SweepPlan.superseded_at.is_(None))
                        .order_by(SweepPlan.id.desc())).first()


def plan_hash_of(plan_json: str) -> str:
    return sha256_hex(json.loads(plan_json))


def prepare_case(session: Session, case: Case, *, actor: str, gas_station_address: str | None = None) -> PlanOutcome:
    status = CaseStatus(case.status)
    if status not in PREPARABLE:
        raise IllegalTransition(f"case {case.id} is '{status.value}': only quoted cases can be prepared",
                                code="not_preparable")
    quote = current_quote(session, case)
    if quote is None or not quote.economical:
        raise PolicyRefused(f"case {case.id} has no economical quote: run `recover case quote {case.id}`",
                            code="no_quote")
    net = get_network(case.network)
    facts = case_facts(session, case)
    asset = facts[0].asset
    cost = CostEstimate.from_dict(quote.details["cost_estimate"])
    cost_mode = quote.details.get("network_cost_mode", "deduct")
    fee_total = quote.fee + (quote.network_cost_in_asset if asset != NATIVE else 0)
    request = build_request(session, case, net, facts, net_amount=quote.net, fee_total=fee_total,
                            cost_mode=cost_mode, gas_station_address=gas_station_address)
    plan = adapter(net).prepare(request, cost)
    plan_doc = plan.to_dict()
    plan_doc["quote_id"] = quote.id
    digest = sha256_hex(plan_doc)
    if status != CaseStatus.QUOTED:
        supersede_plan(session, case, actor=actor, why="re-prepared")
    session.add(SweepPlan(case_id=case.id, plan_json=canonical_json(plan_doc), plan_hash=digest, created_by=actor))
    session.flush()
    details = {"plan_hash": digest, "steps": [{"seq": s["seq"], "role": s["role"]} for s in plan_doc["steps"]],
               "net": plan_doc["net"], "fee_total": plan_doc["fee_total"], "native_cost": plan_doc["native_cost"]}
    if status == CaseStatus.AWAITING_APPROVAL:
        from recover.audit import append_event

        append_event(session, actor=actor, action="plan_replaced", case_id=case.id, details=details)
        import sqlalchemy as sa

        session.execute(sa.update(Case).where(Case.id == case.id).values(prepared_by=actor))
    else:
        move(session, case, CaseStatus.AWAITING_APPROVAL, actor=actor, action="prepared", details=details,
             extra={"prepared_by": actor})
    return PlanOutcome(case.id, digest, plan_doc)
