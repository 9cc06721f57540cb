"""Preparing a quoted case: the adapter builds and simulates the sweep, we store it with its hash.

The plan costs exactly what the quote said (the quote's stored cost estimate is handed back to the
adapter), moves exactly the quoted amounts, and its SHA-256 over canonical JSON is what approvers
sign.  Preparing again replaces the plan and so voids every approval of the old one.  The plan burns
only native that is ours at the deposit address, and its gas top-up takes a gas-station nonce no
other live plan holds; both are recorded in the gas book in the plan's transaction
(:mod:`recover.casework.gasbook`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, select

from chains.base import NATIVE, CostEstimate
from recover.authority.acting import attest, case_subject
from recover.casework.cases import check_return_memo
from recover.casework.destinations import check_destination, recorded_conditions
from recover.casework.memo_plans import check_refund_to_sender, credit_plan, credit_rows, is_memo_network
from recover.casework.gasbook import for_prepare, hold
from recover.casework.quoting import supersede_plan
from recover.casework.sweeps import build_request, case_facts
from recover.casework.transitions import move
from recover.errors import PolicyRefused
from recover.life.states import CaseStatus
from recover.networks.chainio import adapter, resolved
from recover.networks.gas_station import not_configured as gas_station_not_configured
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.canonical import canonical_json, sha256_hex
from recover.storage.models import Case, SweepPlan
from recover.storage.models import Quote as QuoteRow
from recover.storage.testpoints import pause_point


@dataclass
class PlanOutcome:
    case_id: int
    plan_hash: str
    plan: dict
    steps: list[dict]  # the plan's steps as the adapter describes them for people
    voided_plans: list[dict] = field(default_factory=list)  # plans (and their approvals) this one replaced

    def to_dict(self) -> dict:
        return {"id": self.case_id, "case_id": self.case_id, "plan_hash": self.plan_hash, "plan": self.plan,
                "steps": self.steps,
                "voided_plans": self.voided_plans}


def current_quote(session: Session, case: Case) -> QuoteRow | None:
    return session.exec(select(QuoteRow).where(QuoteRow.case_id == case.id).order_by(QuoteRow.id.desc())).first()


def current_plan(session: Session, case: Case) -> SweepPlan | None:
    return session.exec(select(SweepPlan).where(SweepPlan.case_id == case.id, SweepPlan.superseded_at.is_(None))
                        .order_by(SweepPlan.id.desc())).first()


def plan_hash_of(plan_json: str) -> str:
    return sha256_hex(json.loads(plan_json))


def prepare_case(session: Session, case: Case, *, actor: str, gas_station_address: str | None = None) -> PlanOutcome:
    status = CaseStatus(case.status)  # one the operations table lets ``prepare`` start in (``recover.casework.runner``)
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
    if is_memo_network(net) and case.credit_account:  # a credit of a deposit already in our shared wallet
        return _prepare_credit(session, case, status, net, facts, quote, actor=actor)
    chain = adapter(net)
    why = chain.gas_station_use(cost)
    if why and not gas_station_address:  # a setting missing here: say which, before anything is built
        raise gas_station_not_configured(net, why, doing=f"case {case.id} cannot be prepared")
    gas = for_prepare(session, case, net.family, facts[0].receiving_address, gas_station_address)
    pause_point("gas_book_read")  # concurrency tests widen the window between reading the book and writing it
    request = build_request(session, case, net, facts, net_amount=quote.net, fee_total=fee_total,
                            cost_mode=cost_mode, gas_station_address=gas_station_address,
                            own_native=gas.own_native, station_reserved=gas.station_reserved)
    if case.return_address:  # a credit goes to our hot wallet by design; a return must not go to a sink
        check_destination(session, net, request.destination, asset=asset, gas_station=gas_station_address,
                          chain=chain, allowed=recorded_conditions(session, case))
    if is_memo_network(net):  # a refund from the shared wallet: back to the sender, with a memo where needed
        check_refund_to_sender(case.id, request.destination, facts[0].sender, chain.address_key)
        check_return_memo(net, request.destination, case.return_memo, chain=chain)
    plan = chain.prepare(request, cost)
    return _store_plan(session, case, status, quote, plan, [v.to_dict() for v in chain.describe_plan(plan)],
                       actor=actor, after=lambda digest: hold(session, case, net.family, plan, digest, type(chain)))


def _prepare_credit(session: Session, case: Case, status: CaseStatus, net, facts, quote, *, actor: str) -> PlanOutcome:
    """A shared-wallet credit: a stepless plan naming the account and amounts (``recover.casework.memo_plans``)."""
    wallets = resolved(net, wallets=("fee_collector", "hot_wallet"))
    plan = credit_plan(case, net, facts, quote=quote, hot_wallet=wallets.hot_wallet,
                       fee_collector=wallets.fee_collector)
    return _store_plan(session, case, status, quote, plan, credit_rows(plan, facts[0].asset_symbol), actor=actor)


def _store_plan(session: Session, case: Case, status: CaseStatus, quote, plan, steps: list[dict], *, actor: str,
                after=None) -> PlanOutcome:
    """Store a plan with its signed statement (its hash and the hash of its rows) and move the case to
    awaiting approval; the same plan again keeps its approvals.  ``after(digest)``: what the new plan
    holds in the gas book, recorded in the same transaction."""
    plan_doc = plan.to_dict()
    plan_doc["quote_id"] = quote.id
    digest = sha256_hex(plan_doc)
    existing = current_plan(session, case) if status != CaseStatus.QUOTED else None
    if existing is not None and existing.plan_hash == digest:
        # the same plan again: its approvals stand (nothing they signed has changed)
        append_event(session, actor=actor, action="plan_unchanged", case_id=case.id,
                     details={"plan_hash": digest, "status": status.value})
        return PlanOutcome(case.id, digest, plan_doc, steps)
    voided = supersede_plan(session, case, actor=actor, why="re-prepared") if status != CaseStatus.QUOTED else []
    # the rows people read are signed with the plan (their hash), so a read that shows them without
    # the adapter shows exactly what the preparer saw, or nothing (``plan_rows_problem``)
    record = attest(actor, session, "plan", case_subject(case.id),
                    {"case": case.id, "quote": quote.statement, "plan_hash": digest, "view_hash": sha256_hex(steps)})
    session.add(SweepPlan(case_id=case.id, plan_json=canonical_json(plan_doc), plan_hash=digest, created_by=actor,
                          statement=record.hash, steps_view=steps))  # the rows reads show, without the adapter
    session.flush()
    if after is not None:
        after(digest)  # its station nonce, the leftover it counts on
    details = {"plan_hash": digest, "steps": [{"seq": s["seq"], "role": s["role"]} for s in plan_doc["steps"]],
               "net": plan_doc["net"], "fee_total": plan_doc["fee_total"], "native_cost": plan_doc["native_cost"]}
    move(session, case, CaseStatus.AWAITING_APPROVAL, op="prepare", actor=actor,
         action="plan_replaced" if status == CaseStatus.AWAITING_APPROVAL else "prepared", details=details,
         extra={"prepared_by": actor})
    return PlanOutcome(case.id, digest, plan_doc, steps, voided)
