"""Refund plans from the exchange's shared wallet: gather (account, ledger, fee), build purely, check again
before signing.

A plan is one ``Payment`` of ``net`` drops from the shared wallet (``SweepRequest.deposit_address``) to
``destination`` carrying ``DestinationTag`` = the memo.  The recovery fee is not moved: it stays in the
shared wallet (``fee_collector`` is the shared address).  The network fee (``Fee``, burnt) is paid on top,
so the wallet loses exactly ``net + Fee`` and the destination gains exactly ``net``.  The refund never
digs into the account reserve (base + owner count x increment): the ledger would refuse it
(``tecUNFUNDED_PAYMENT``), so it is refused here first (``funds_missing``).

Every field is fixed in the plan and signed as is (no autofill at signing): ``Sequence`` (account_info),
``Fee`` (the ``fee`` method: the open ledger's fee, at least the base fee), ``LastLedgerSequence`` = the
validated ledger + ``[xrpl] last_ledger_offset``, ``NetworkID`` when configured.  Once the validated
ledger is past ``LastLedgerSequence`` an unsent refund can never be included: rippled answers
``tefMAX_LEDGER`` at submit (a permanent refusal) and ``tx`` does not find it, so the domain re-plans.
"""

from __future__ import annotations

import dataclasses

from chains.assets import NATIVE
from chains.base import CostEstimate, NonceAhead, PlanStep, StepView, SweepPlan, SweepRequest, plan_net_label
from chains.errors import PermanentChainError, SweepRefused, Unsupported
from chains.xrpl.addresses import require_classic, tag_of
from chains.xrpl.common import LSF_REQUIRE_DEST_TAG, reads_node
from chains.xrpl.rpc import call

ROLE = "refund"
#: the fields a refund step carries, all signed exactly as planned
TX_FIELDS = ("TransactionType", "Account", "Destination", "Amount", "Fee", "Sequence", "Flags",
             "LastLedgerSequence")


class PlanMixin:
    """estimate_cost / prepare / simulate / describe_plan / nonces of the XRPL adapter."""

    @reads_node
    def fee_drops(self) -> int:
        drops = call(self.rpc, "fee")["drops"]
        return max(int(drops.get("base_fee") or 10), int(drops.get("open_ledger_fee") or 0),
                   int(drops.get("minimum_fee") or 0))

    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        fee = self.fee_drops()
        return CostEstimate(native_cost=fee, params={"fee": str(fee)})

    def _check_request(self, request: SweepRequest, cost: CostEstimate) -> int:
        if request.asset != NATIVE:
            raise Unsupported(f"{self.network.key}: refunds of issued currencies are not built yet (only XRP)",
                              code="unsupported")
        require_classic(request.deposit_address, what="shared wallet (deposit_address)")
        require_classic(request.destination, what="destination")
        if int(request.net) <= 0:
            raise SweepRefused(f"nothing to refund: net {request.net}", code="nothing_to_sweep")
        tag_of(request.memo)
        try:
            fee = int((cost.params or {})["fee"])
        except (KeyError, TypeError, ValueError):
            raise SweepRefused("the quote's cost has no XRPL fee: re-quote", code="quote_malformed") from None
        if fee != int(cost.native_cost) or fee <= 0:
            raise SweepRefused(f"the quote's cost ({fee} drops) does not fit this network: re-quote",
                               code="quote_malformed")
        return fee

    def build_tx(self, request: SweepRequest, *, fee: int, sequence: int, validated: int) -> dict:
        """The refund payment, JSON-safe (pure)."""
        tx = {"TransactionType": "Payment", "Account": request.deposit_address, "Destination": request.destination,
              "Amount": str(int(request.net)), "Fee": str(fee), "Sequence": int(sequence), "Flags": 0,
              "LastLedgerSequence": int(validated) + self.network.xrpl.last_ledger_offset}
        tag = tag_of(request.memo)
        if tag is not None:
            tx["DestinationTag"] = tag
        if self.network.xrpl.network_id is not None:
            tx["NetworkID"] = self.network.xrpl.network_id
        return tx

    @reads_node
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        fee = self._check_request(request, cost)
        ledger = self.server()
        acc = self.funded_account(request.deposit_address, "current")
        tx = self.build_tx(request, fee=fee, sequence=acc.sequence, validated=ledger.index)
        step = PlanStep(seq=0, role=ROLE, signer_address=request.deposit_address, signer_path=request.deposit_path,
                        tx=tx)
        plan = SweepPlan(network=self.network.key, family="xrpl", case_id=request.case_id, asset=NATIVE,
                         gross=int(request.gross), net=int(request.net), fee_total=int(request.fee_total),
                         native_cost=fee, destination=request.destination, fee_collector=request.deposit_address,
                         steps=(step,), meta={**request.role_meta(), "memo": request.memo})
        return self.simulate(plan)

    @reads_node
    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """What the ledger would refuse, checked against the validated state: the wallet keeps its reserve
        after ``Amount + Fee``; a destination that requires a tag gets one; a destination account that does
        not exist is created only by at least the base reserve."""
        self._check_plan(plan)
        ledger = self.server()
        steps = []
        for step in plan.steps:
            tx = step.tx
            acc = self.funded_account(step.signer_address)
            reserve = ledger.reserve_base + acc.owner_count * ledger.reserve_inc
            spend = int(tx["Amount"]) + int(tx["Fee"])
            if acc.balance - spend < reserve:
                raise PermanentChainError(
                    f"the shared wallet {step.signer_address} holds {acc.balance} drops; sending {spend} (with the "
                    f"network fee) would leave less than its reserve of {reserve} drops", code="funds_missing",
                    details={"address": step.signer_address, "have": str(acc.balance), "need": str(spend + reserve)})
            dest = self.account(tx["Destination"])
            if dest is None and int(tx["Amount"]) < ledger.reserve_base:
                raise PermanentChainError(
                    f"{tx['Destination']} has no account: a payment of {tx['Amount']} drops, below the base reserve "
                    f"of {ledger.reserve_base}, cannot create it (tecNO_DST_INSUF_XRP)", code="simulation_failed")
            if dest is not None and dest.flags & LSF_REQUIRE_DEST_TAG and "DestinationTag" not in tx:
                raise SweepRefused(f"{tx['Destination']} requires a destination tag (lsfRequireDestTag): give the "
                                   "refund's --return-memo", code="return_memo_required")
            steps.append(dataclasses.replace(step, simulation={"ok": True, "reserve": str(reserve),
                                                               "validated_ledger": ledger.index}))
        return dataclasses.replace(plan, steps=tuple(steps))

    def _check_plan(self, plan: SweepPlan) -> None:
        if plan.family != "xrpl" or plan.network != self.network.key:
            raise SweepRefused(f"this plan is for {plan.network} ({plan.family}), not {self.network.key}",
                               code="plan_wrong_chain")
        for step in plan.steps:
            missing = [k for k in TX_FIELDS if k not in step.tx]
            if missing or step.tx["TransactionType"] != "Payment" or step.tx["Account"] != step.signer_address:
                raise SweepRefused(f"step {step.seq} is malformed ({missing or step.tx['TransactionType']})",
                                   code="plan_malformed")

    # -- in words (pure) ---------------------------------------------------------------------------
    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        views = []
        for step in plan.steps:
            tx = step.tx
            tag = tx.get("DestinationTag")
            memo = "" if tag is None else str(tag)
            summary = (f"send {tx['Amount']} drops from the shared wallet {tx['Account']} to {tx['Destination']} "
                       f"{'with destination tag ' + memo if memo else 'without a destination tag'}; network fee "
                       f"{tx['Fee']} drops (burnt) paid by the shared wallet; valid until ledger "
                       f"{tx['LastLedgerSequence']}; the recovery fee ({plan.fee_total}) is not moved: it stays in "
                       "the shared wallet")
            moves = ({"to": tx["Destination"], "amount": str(tx["Amount"]), "asset": NATIVE,
                      "what": plan_net_label(plan)},
                     {"to": "validators", "amount": str(tx["Fee"]), "asset": NATIVE, "what": "network fee"})
            views.append(StepView(seq=step.seq, role=step.role, signer=step.signer_address, summary=summary,
                                  moves=moves, after=step.after,
                                  detail={"memo": memo, "sequence": str(tx["Sequence"]),
                                          "last_ledger_sequence": str(tx["LastLedgerSequence"]),
                                          "network_id": tx.get("NetworkID"), "fee_stays_in": plan.fee_collector}))
        return views

    # -- sequences ----------------------------------------------------------------------------------
    def nonce_conflict(self, plan: SweepPlan) -> str | None:
        """A step whose ``Sequence`` the shared wallet has already used for another transaction (another
        refund sent first): re-plan.  The wallet's own transaction at that sequence, if it is this step's,
        is no conflict."""
        for step in plan.steps:
            acc = self.funded_account(step.signer_address, "current")
            n = int(step.tx["Sequence"])
            if n < acc.sequence and not self._step_known(step):
                return (f"step {step.seq} ({step.role}) uses sequence {n} of {step.signer_address}, which another "
                        f"transaction has used (the account is at sequence {acc.sequence})")
        return None

    def _step_known(self, step: PlanStep) -> bool:
        answer = call(self.rpc, "account_tx", account=step.signer_address, limit=50)
        for item in answer.get("transactions") or []:
            tx = dict(item.get("tx_json") or item.get("tx") or {})
            tx.setdefault("Amount", tx.get("DeliverMax"))  # API v2 names a payment's Amount DeliverMax
            if tx.get("Account") == step.signer_address and int(tx.get("Sequence", -1)) == int(step.tx["Sequence"]):
                return all(str(tx.get(k)) == str(step.tx.get(k)) for k in ("Destination", "Amount", "DestinationTag")
                           if k in step.tx) and ("DestinationTag" in tx) == ("DestinationTag" in step.tx)
        return False

    def nonce_ahead(self, plan: SweepPlan) -> NonceAhead | None:
        for step in plan.steps:
            acc = self.funded_account(step.signer_address, "current")
            n = int(step.tx["Sequence"])
            if n > acc.sequence:
                return NonceAhead(step.seq, step.role, step.signer_address, n, acc.sequence)
        return None
