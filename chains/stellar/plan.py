"""Refund plans from the exchange's shared wallet: one Payment of ``net`` from the shared wallet
(``SweepRequest.deposit_address``) to ``destination`` carrying the claimant's memo.

The recovery fee is not moved: it stays in the shared wallet (``fee_collector`` is the shared address).  The
network fee (``base_fee`` stroops for the one operation) is paid by the same wallet, in XLM.  The wallet must
keep its reserve, (2 + subentries) x the ledger's base reserve: a plan that would take it below is refused
``funds_missing`` (the network would refuse it anyway, after approvals).

The step fixes its sequence (the account's next) and its time bounds (now .. now + ``timeout_seconds``):
its hash, the txid, is known before signing.  A refund that expired unsent cannot land any more: broadcasting
it is refused permanently, so the domain plans it again.
"""

from __future__ import annotations

import dataclasses
import time

from chains.base import NATIVE, CostEstimate, NonceAhead, PlanStep, StepView, SweepPlan, SweepRequest, plan_net_label
from chains.errors import PermanentChainError, SweepRefused
from chains.stellar import txbuild
from chains.stellar.common import asset_of, reads_node

ROLE = "refund"


class PlanMixin:
    """estimate_cost / prepare / simulate / describe_plan / sequences of the Stellar adapter."""

    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        """One operation at the network file's ``base_fee`` (no node read: Stellar fees are per operation)."""
        fee = int(self.network.stellar.base_fee)
        return CostEstimate(native_cost=fee, params={"fee": str(fee)})

    def _check_request(self, request: SweepRequest, cost: CostEstimate) -> int:
        self.network.validate_address(request.deposit_address, what="shared wallet (deposit_address)")
        self.network.validate_address(request.destination, what="destination")
        if int(request.net) <= 0:
            raise SweepRefused(f"nothing to refund: net {request.net}", code="nothing_to_sweep")
        try:
            fee = int((cost.params or {})["fee"])
        except (KeyError, TypeError, ValueError):
            raise SweepRefused("the quote's cost has no Stellar fee: re-quote", code="quote_malformed") from None
        if fee != int(cost.native_cost) or fee < 100:
            raise SweepRefused(f"the quote's cost ({fee} stroops) does not fit this network: re-quote",
                               code="quote_malformed")
        return fee

    @reads_node
    def prepare(self, request: SweepRequest, cost: CostEstimate, *, now: int | None = None) -> SweepPlan:
        fee = self._check_request(request, cost)
        memo_type, memo = txbuild.memo_fields(request.memo)
        self.check_chain()
        acc = self.require_account(request.deposit_address)
        dest = self.account(request.destination)
        if dest is None:
            raise PermanentChainError(f"the destination {request.destination} has no account: a payment cannot "
                                      "create one", code="destination_missing",
                                      details={"address": request.destination})
        if request.asset != NATIVE and not any(asset_of(b) == request.asset for b in dest.get("balances") or []):
            raise SweepRefused(f"the destination {request.destination} has no trustline for {request.asset}: the "
                               "payment would fail (op_no_trust)", code="destination_unusable",
                               details={"address": request.destination, "asset": request.asset})
        start = int(time.time() if now is None else now)
        tx = {"network_passphrase": self.network.stellar.network_passphrase, "source": request.deposit_address,
              "sequence": str(int(acc["sequence"]) + 1), "fee": str(fee), "min_time": str(start),
              "max_time": str(start + int(self.network.stellar.timeout_seconds)), "memo_type": memo_type,
              "memo": memo, "destination": request.destination, "asset": request.asset,
              "amount": str(int(request.net))}
        self._check_funds(request, acc, fee)
        step = PlanStep(seq=0, role=ROLE, signer_address=request.deposit_address, signer_path=request.deposit_path,
                        tx=tx)
        plan = SweepPlan(network=self.network.key, family="stellar", case_id=request.case_id, asset=request.asset,
                         gross=int(request.gross), net=int(request.net), fee_total=int(request.fee_total),
                         native_cost=fee, destination=request.destination, fee_collector=request.deposit_address,
                         steps=(step,), meta={**request.role_meta(), "memo": request.memo})
        return self.simulate(plan)

    def _check_funds(self, request: SweepRequest, acc: dict, fee: int) -> None:
        reserve = (2 + int(acc.get("subentry_count") or 0)) * self.base_reserve()
        need = {NATIVE: fee + reserve}
        need[request.asset] = need.get(request.asset, 0) + int(request.net)
        for asset, amount in need.items():
            have = self.balance(request.deposit_address, asset)
            if have < amount:
                raise PermanentChainError(
                    f"the shared wallet {request.deposit_address} holds {have} stroops of {asset}, less than the "
                    f"{amount} the refund needs (with its network fee{' and the account reserve ' + str(reserve) if asset == NATIVE else ''})",
                    code="funds_missing", details={"address": request.deposit_address, "asset": asset,
                                                   "have": str(have), "need": str(amount)})

    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """Horizon has no dry run: each step is rebuilt with stellar-sdk (its fields make a valid envelope) and
        its txid recorded."""
        self._check_plan(plan)
        steps = [dataclasses.replace(s, simulation={"ok": True, "txid": txbuild.envelope(s.tx).hash_hex()})
                 for s in plan.steps]
        return dataclasses.replace(plan, steps=tuple(steps))

    def _check_plan(self, plan: SweepPlan) -> None:
        if plan.family != "stellar" or plan.network != self.network.key:
            raise SweepRefused(f"this plan is for {plan.network} ({plan.family}), not {self.network.key}",
                               code="plan_wrong_chain")
        for step in plan.steps:
            missing = [k for k in txbuild.TX_FIELDS if k not in step.tx]
            if missing or step.tx["network_passphrase"] != self.network.stellar.network_passphrase:
                raise SweepRefused(f"step {step.seq} is malformed or for another network "
                                   f"({missing or step.tx['network_passphrase']})", code="plan_malformed")

    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        views = []
        for step in plan.steps:
            tx = step.tx
            memo = tx.get("memo") or ""
            summary = (f"pay {tx['amount']} stroops of {tx['asset']} from the shared wallet {tx['source']} to "
                       f"{tx['destination']} {'with ' + tx['memo_type'] + ' memo ' + repr(memo) if memo else 'without a memo'}"
                       f"; network fee {tx['fee']} stroops paid by the shared wallet; valid from {tx['min_time']} to "
                       f"{tx['max_time']} (unix time); the recovery fee ({plan.fee_total}) is not moved: it stays in "
                       "the shared wallet")
            moves = ({"to": tx["destination"], "amount": str(tx["amount"]), "asset": tx["asset"],
                      "what": plan_net_label(plan)},
                     {"to": "validators", "amount": str(tx["fee"]), "asset": NATIVE, "what": "network fee"})
            views.append(StepView(seq=step.seq, role=step.role, signer=step.signer_address, summary=summary,
                                  moves=moves, after=step.after,
                                  detail={"memo": memo, "memo_type": tx["memo_type"], "sequence": tx["sequence"],
                                          "min_time": tx["min_time"], "max_time": tx["max_time"],
                                          "fee_stays_in": plan.fee_collector}))
        return views

    # -- sequences ----------------------------------------------------------------------------------
    def _account_sequence(self, address: str) -> int:
        return int(self.require_account(address)["sequence"])

    def nonce_conflict(self, plan: SweepPlan) -> str | None:
        """A step whose sequence the account has passed, and whose own transaction (its hash is known before
        signing) Horizon does not have, was outrun by another transaction of the shared wallet: re-plan."""
        for step in plan.steps:
            current, n = self._account_sequence(step.signer_address), int(step.tx["sequence"])
            if n <= current and self.horizon.get_or_none(f"/transactions/{txbuild.envelope(step.tx).hash_hex()}") is None:
                return (f"step {step.seq} ({step.role}) uses sequence {n} of {step.signer_address}, which another "
                        f"transaction has used (the account is at sequence {current})")
        return None

    def nonce_ahead(self, plan: SweepPlan) -> NonceAhead | None:
        for step in plan.steps:
            current, n = self._account_sequence(step.signer_address), int(step.tx["sequence"])
            if n > current + 1:
                return NonceAhead(step.seq, step.role, step.signer_address, n, current + 1)
        return None
