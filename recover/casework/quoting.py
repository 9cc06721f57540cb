"""Quoting a verified case: prices from the database, policy from the network, cost from the chain.

The cost estimate comes from the adapter (gas price and gas per step) and is stored with the quote,
so the plan prepared later costs exactly what the user was told.  A refused quote is stored and the
refusal recorded on the case *before* the error is raised (the API commits first).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.base import NATIVE, Capability, CostEstimate, net_label
from chains.registry import adapter_class
from fees import DEFAULT_MAX_PRICE_AGE, FeePolicy, Quote, compute_quote
from fees.quote import Refusal
from recover.authority.acting import attest, case_subject
from recover.authority.signed_case import newest_statement, quote_body
from recover.casework.gasbook import own_native, release
from recover.casework.sweeps import build_request, case_facts, destination_role
from recover.casework.transitions import move
from recover.life.operations import PLAN_LIVE
from recover.life.shared_rules import price_key  # noqa: F401 - one rule, the read path's too
from recover.life.states import CaseStatus
from recover.networks.chainio import adapter
from recover.networks.prices import DbPriceSource
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.models import Approval, Case, DepositFact, SweepPlan, utcnow
from recover.storage.models import Quote as QuoteRow

CostFn = Callable[[Case, list[DepositFact]], CostEstimate]


@dataclass
class QuoteOutcome:
    case_id: int
    quote: Quote
    cost: CostEstimate
    row_id: int
    native_symbol: str | None = None
    symbol: str | None = None  # the deposit's asset symbol (``quote.asset`` is its price key)
    contract: str | None = None  # a token's contract or mint (None for the native coin)
    #: plans this quote voided (a re-quote of a case awaiting approval or approved), with the approvals
    #: they had: ``[{"plan_hash", "approvals", "approvers", "status"}]``
    voided_plans: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.case_id, "case_id": self.case_id, **self.quote.to_dict(), "symbol": self.symbol,
                "contract": self.contract,
                "native_symbol": self.native_symbol, "cost_estimate": self.cost.to_dict(),
                "voided_plans": self.voided_plans}




def default_cost(session: Session, case: Case, facts: list[DepositFact], cost_mode: str) -> CostEstimate:
    """Ask the chain what the sweep costs now (provisional split: the fee is not known yet)."""
    net = get_network(case.network)
    gross = sum(f.amount for f in facts)
    provisional_fee = 1 if gross > 1 else 0
    request = build_request(session, case, net, facts, net_amount=gross - provisional_fee,
                            fee_total=provisional_fee, cost_mode=cost_mode, gas_station_address=None,
                            own_native=own_native(session, case, net.family, facts[0].receiving_address))
    return adapter(net).estimate_cost(request)


def _attest_quote(session: Session, case: Case, row: QuoteRow, *, actor, prices, keys: list[str]):
    """The specialist's signed quote, naming the claim, the verification and the signed prices used."""
    used = [h for h in (prices.statement_of(k) for k in dict.fromkeys(keys)) if h]
    return attest(actor, session, "quote", case_subject(case.id),
                  {"case": case.id, "claim": newest_statement(session, case.id, ("claim", "reopen")),
                   "verification": newest_statement(session, case.id, ("verification", "reopen")),
                   **quote_body(row, price_statements=used, asset_key=keys[0])})


def supersede_plan(session: Session, case: Case, *, actor: str, why: str) -> list[dict]:
    """A plan stops counting (and so do its approvals) when the quote or plan it rests on changes; what
    it held in the gas book (a station nonce, our leftover gas) is released in the same transaction.

    Returns what was voided, for the caller to say so: per plan its hash, the case's status, and the
    approvals recorded on it (how many, by whom); the audit event records the same."""
    plans = session.exec(select(SweepPlan).where(SweepPlan.case_id == case.id, SweepPlan.superseded_at.is_(None))).all()
    voided = []
    for plan in plans:
        approvers = list(session.exec(select(Approval.operator).where(
            Approval.case_id == case.id, Approval.plan_hash == plan.plan_hash, Approval.decision == "approve")
            .order_by(Approval.id)))
        plan.superseded_at = utcnow()
        session.add(plan)
        info = {"plan_hash": plan.plan_hash, "status": case.status, "approvals": len(approvers),
                "approvers": approvers}
        append_event(session, actor=actor, action="plan_superseded", case_id=case.id, details={**info, "why": why})
        voided.append(info)
    if plans:
        release(session, case.id, plan_hashes=[p.plan_hash for p in plans])
    return voided


def quote_case(session: Session, case: Case, *, actor: str, cost_fn: CostFn | None = None,
               now: datetime | None = None, max_price_age: timedelta = DEFAULT_MAX_PRICE_AGE) -> QuoteOutcome:
    status = CaseStatus(case.status)  # one the operations table lets ``quote`` start in (``recover.casework.runner``)
    net = get_network(case.network)
    policy = FeePolicy.from_table(net.fee, source=f"{net.source} [fee]")
    facts = case_facts(session, case)
    asset = facts[0].asset
    gross = sum(f.amount for f in facts)
    now = now or datetime.now(timezone.utc)
    times = [f.block_time for f in facts if f.block_time is not None]
    prices = DbPriceSource(session)
    key = price_key(net, asset)
    native_key = net.native_symbol.upper()
    price = prices.get(key)
    native_price = price if asset == NATIVE else prices.get(native_key)
    # The effective cost mode decides who pays gas, which changes the plan (and so the cost).
    cost_mode = policy.network_cost if (price is not None or asset == NATIVE) else "absorb"
    if cost_fn is None and net.deposit_model == "shared_memo" and case.credit_account:
        cost_fn = lambda _case, _facts: CostEstimate(0)  # noqa: E731 - a credit in place sends nothing on chain
    cost = cost_fn(case, facts) if cost_fn else default_cost(session, case, facts, cost_mode)
    quote = compute_quote(
        gross=gross, decimals=facts[0].decimals, price=price, is_native=asset == NATIVE,
        native_price=native_price, native_decimals=net.native_decimals, network_cost_native=cost.native_cost,
        policy=policy, now=now, deposit_time=min(times) if times else None, max_price_age=max_price_age,
        asset=key, native_asset=native_key, label=facts[0].asset_symbol if asset != NATIVE else native_key,
        net_to=net_label(destination_role(case)),
    )
    if quote.refusal is None and quote.network_cost_mode == "absorb" and net.deposit_model != "shared_memo" and \
            Capability.GAS_STATION not in adapter_class(net.family).capabilities:
        # Nobody but the deposit can pay this network's fee (UTXO: it comes out of the inputs): a quote
        # that has the exchange absorb it could never be carried out by prepare.
        refusal = Refusal("cost_mode_unsupported", f"{net.key} pays its network fee from the deposit itself; the "
                          "quote would have the exchange absorb it (fee policy network_cost = absorb): set "
                          "network_cost = \"deduct\" for this network")
        quote = replace(quote, refusal=refusal, economical=False,
                        lines=quote.lines + (f"refused ({refusal.code}): {refusal.message}",))
    details = {**quote.to_dict(), "cost_estimate": cost.to_dict()}
    dust = adapter_class(net.family).dust_limit_for(net)
    if quote.refusal is None and 0 < quote.fee < dust:
        # A fee output below dust would not relay: the plan leaves it out and the miners get it.
        details["fee_folded"] = True
        details["lines"].append(f"fee output of {quote.fee} base units is below the dust limit of "
                                f"{dust}: it is folded into the network fee (no fee output)")
    row = QuoteRow(case_id=case.id, gross=quote.gross, fee=quote.fee, network_cost_native=quote.network_cost_native,
                   network_cost_in_asset=quote.network_cost_in_asset, net=quote.net, decimals=quote.decimals,
                   value_usd=details["value_usd"], economical=quote.economical,
                   refusal_code=quote.refusal.code if quote.refusal else None, details=details, created_by=actor)
    session.add(row)
    session.flush()
    row.statement = _attest_quote(session, case, row, actor=actor, prices=prices, keys=[key, native_key]).hash
    session.add(row)
    summary = {"quote_id": row.id, "gross": str(quote.gross), "fee": str(quote.fee), "net": str(quote.net),
               "network_cost_native": str(quote.network_cost_native),
               "network_cost_in_asset": str(quote.network_cost_in_asset), "value_usd": details["value_usd"],
               "prices": details["prices_used"]}
    if quote.refusal is not None:
        session.execute(sa.update(Case).where(Case.id == case.id).values(
            refusal_code=quote.refusal.code, refusal_reason=quote.refusal.message, updated_at=utcnow()))
        append_event(session, actor=actor, action="quote_refused", case_id=case.id,
                     details={**summary, "refusal": quote.refusal.to_dict()})
        return QuoteOutcome(case.id, quote, cost, row.id, net.native_symbol, facts[0].asset_symbol,
                            _contract(asset))
    extra = {"refusal_code": None, "refusal_reason": None}
    voided = []
    if status in PLAN_LIVE:
        # A new quote voids the plan it replaces, and with it every approval: never silently.
        voided = supersede_plan(session, case, actor=actor, why="re-quoted")
        summary["voided_plans"] = voided
    move(session, case, CaseStatus.QUOTED, op="quote", actor=actor,
         action="requoted" if status == CaseStatus.QUOTED else "quoted",
         details=summary, extra=extra)
    return QuoteOutcome(case.id, quote, cost, row.id, net.native_symbol, facts[0].asset_symbol,
                        _contract(asset), voided_plans=voided)


def _contract(asset: str) -> str | None:
    return None if asset == NATIVE else asset
