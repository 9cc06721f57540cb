"""Refund plans from the exchange's shared hot wallet: gather (account, balances, simulation), build
purely, simulate again before signing.

The family's deposits are told apart by memo at a shared address, so a plan is a *refund*: one bank
``MsgSend`` from the shared wallet (``SweepRequest.deposit_address`` at ``deposit_path``) of ``net`` in the
request's denomination to ``destination``, carrying ``memo``.  The recovery fee is not moved: it stays in
the shared wallet (the plan's ``fee_collector`` is the shared address).  The network fee is paid on top
in the native denomination by the same wallet, so the wallet loses exactly ``net + fee`` and the
destination gains exactly ``net``.

Cost: gas = max(``min_gas``, ceil(simulated gas x ``gas_adjustment``)), fee = ceil(gas x ``gas_price``)
(Decimal).  The simulation carries the account's public key when the chain has it, else none (SDK 0.50
simulates with a placeholder key) and an empty signature.

Sequences are account nonces: two refunds prepared before either is sent take the same sequence; the
first sent makes the other a :meth:`PlanMixin.nonce_conflict` (re-plan).
"""

from __future__ import annotations

import base64
import dataclasses
from decimal import Decimal

from chains.base import CostEstimate, NonceAhead, PlanStep, StepView, SweepPlan, SweepRequest, plan_net_label
from chains.cosmos import txbuild
from chains.cosmos.common import MAX_MEMO, asset_of, ceil_int, denom_of, path_part, reads_node
from chains.cosmos.keys import PUBKEY_TYPE_URL
from chains.cosmos.rest import RestError
from chains.errors import InvalidRequest, NotFoundOnChain, PermanentChainError, SweepRefused

ROLE = "refund"
SIMULATE = "/cosmos/tx/v1beta1/simulate"


@dataclasses.dataclass(frozen=True)
class Account:
    number: int
    sequence: int
    public_key: bytes | None


class PlanMixin:
    """estimate_cost / prepare / simulate / describe_plan / nonces of the Cosmos adapter."""

    # -- facts -------------------------------------------------------------------------------------
    @reads_node
    def account(self, address: str) -> Account:
        """Account number, sequence and on-chain public key (an Injective ``EthAccount`` nests them in
        ``base_account``).  An address the chain has never credited: ``funds_missing``."""
        self.check_chain()
        try:
            acc = self.rest.get_or_raise(f"/cosmos/auth/v1beta1/accounts/{path_part(address)}")["account"]
        except NotFoundOnChain:
            raise PermanentChainError(f"{address} has no account on {self.network.key}: it never received funds",
                                      code="funds_missing", details={"address": address}) from None
        base = acc.get("base_account") or acc
        pub = base.get("pub_key") or None
        return Account(int(base.get("account_number") or 0), int(base.get("sequence") or 0),
                       base64.b64decode(pub["key"]) if pub and pub.get("key") else None)

    def _simulate_raw(self, raw: bytes) -> int:
        """Gas the node's simulation of ``raw`` used; a refusal raises ``simulation_failed`` with its log."""
        try:
            answer = self.rest.post(SIMULATE, {"tx_bytes": base64.b64encode(raw).decode()})
        except RestError as err:
            raise PermanentChainError(f"{self.network.key}: simulation failed: {err.node_message}",
                                      code="simulation_failed", details={"grpc_code": err.grpc_code}) from None
        return int(answer["gas_info"]["gas_used"])

    # -- cost --------------------------------------------------------------------------------------
    def _gas_price(self) -> Decimal:
        return Decimal(self.network.cosmos.gas_price)

    @reads_node
    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        opts = self.network.cosmos
        acc = self.account(request.deposit_address)
        probe_gas = opts.min_gas
        tx = self._tx(request, acc, gas=probe_gas, fee=ceil_int(probe_gas * self._gas_price()))
        used = self._simulate_raw(txbuild.unsigned_raw(tx, acc.public_key, opts.key_type))
        gas = max(opts.min_gas, ceil_int(Decimal(used) * Decimal(opts.gas_adjustment)))
        fee = ceil_int(gas * self._gas_price())
        return CostEstimate(native_cost=fee, params={"gas": str(gas), "fee": str(fee), "denom": opts.native_denom})

    # -- build -------------------------------------------------------------------------------------
    def _tx(self, request: SweepRequest, acc: Account, *, gas: int, fee: int) -> dict:
        opts = self.network.cosmos
        return {"chain_id": opts.chain_id, "account_number": str(acc.number), "sequence": str(acc.sequence),
                "from": request.deposit_address, "to": request.destination,
                "denom": denom_of(self.network, request.asset), "amount": str(int(request.net)),
                "memo": request.memo or "", "gas": str(gas), "fee_amount": str(fee), "fee_denom": opts.native_denom}

    def _check_request(self, request: SweepRequest, cost: CostEstimate) -> tuple[int, int]:
        opts = self.network.cosmos
        self.network.validate_address(request.deposit_address, what="shared wallet (deposit_address)")
        self.network.validate_address(request.destination, what="destination")
        if int(request.net) <= 0:
            raise SweepRefused(f"nothing to refund: net {request.net}", code="nothing_to_sweep")
        if len(request.memo or "") > MAX_MEMO:
            raise InvalidRequest(f"the memo is {len(request.memo)} characters; Cosmos chains take at most {MAX_MEMO}",
                                 code="bad_memo")
        params = cost.params or {}
        try:
            gas, fee = int(params["gas"]), int(params["fee"])
        except (KeyError, TypeError, ValueError):
            raise SweepRefused("the quote's cost has no Cosmos gas and fee: re-quote", code="quote_malformed") from None
        if params.get("denom") != opts.native_denom or fee != int(cost.native_cost) or gas < opts.min_gas:
            raise SweepRefused(f"the quote's cost ({fee} {params.get('denom')}, gas {gas}) does not fit this network: "
                               "re-quote", code="quote_malformed")
        return gas, fee

    @reads_node
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        gas, fee = self._check_request(request, cost)
        acc = self.account(request.deposit_address)
        tx = self._tx(request, acc, gas=gas, fee=fee)
        need = {tx["denom"]: int(tx["amount"])}
        need[tx["fee_denom"]] = need.get(tx["fee_denom"], 0) + fee
        for denom, amount in need.items():
            have = self.balance(request.deposit_address, denom)
            if have < amount:
                raise PermanentChainError(
                    f"the shared wallet {request.deposit_address} holds {have} {denom}, less than the {amount} the "
                    "refund needs (with its network fee)", code="funds_missing",
                    details={"address": request.deposit_address, "denom": denom, "have": str(have),
                             "need": str(amount)})
        step = PlanStep(seq=0, role=ROLE, signer_address=request.deposit_address, signer_path=request.deposit_path,
                        tx=tx)
        plan = SweepPlan(network=self.network.key, family="cosmos", case_id=request.case_id, asset=request.asset,
                         gross=int(request.gross), net=int(request.net), fee_total=int(request.fee_total),
                         native_cost=fee, destination=request.destination, fee_collector=request.deposit_address,
                         steps=(step,), meta={**request.role_meta(), "memo": request.memo})
        return self.simulate(plan)

    @reads_node
    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """Each step as it will be signed (its sequence, memo, gas and fee), by the node's simulation; a step
        that needs more gas than it carries is refused as well."""
        self._check_plan(plan)
        steps = []
        for step in plan.steps:
            acc = self.account(step.signer_address)
            used = self._simulate_raw(txbuild.unsigned_raw(step.tx, acc.public_key, self.network.cosmos.key_type))
            if used > int(step.tx["gas"]):
                raise PermanentChainError(f"step {step.seq} needs {used} gas, more than its {step.tx['gas']}: re-quote",
                                          code="simulation_failed")
            steps.append(dataclasses.replace(step, simulation={"ok": True, "gas_used": used}))
        return dataclasses.replace(plan, steps=tuple(steps))

    def _check_plan(self, plan: SweepPlan) -> None:
        if plan.family != "cosmos" or plan.network != self.network.key:
            raise SweepRefused(f"this plan is for {plan.network} ({plan.family}), not {self.network.key}",
                               code="plan_wrong_chain")
        for step in plan.steps:
            missing = [k for k in txbuild.TX_FIELDS if k not in step.tx]
            if missing or step.tx["chain_id"] != self.network.cosmos.chain_id:
                raise SweepRefused(f"step {step.seq} is malformed or for another chain ({missing or step.tx['chain_id']})",
                                   code="plan_malformed")

    # -- in words (pure) ---------------------------------------------------------------------------
    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        views = []
        for step in plan.steps:
            tx = step.tx
            memo = tx.get("memo") or ""
            summary = (f"send {tx['amount']} {tx['denom']} from the shared wallet {tx['from']} to {tx['to']} "
                       f"{'with memo ' + repr(memo) if memo else 'without a memo'}; network fee {tx['fee_amount']} "
                       f"{tx['fee_denom']} ({tx['gas']} gas) paid by the shared wallet; the recovery fee "
                       f"({plan.fee_total}) is not moved: the fee stays in the shared wallet")
            net = self.network
            moves = ({"to": tx["to"], "amount": str(tx["amount"]), "asset": asset_of(net, tx["denom"]),
                      "what": plan_net_label(plan)},
                     {"to": "validators", "amount": str(tx["fee_amount"]), "asset": asset_of(net, tx["fee_denom"]),
                      "what": "network fee"})
            views.append(StepView(seq=step.seq, role=step.role, signer=step.signer_address, summary=summary,
                                  moves=moves, after=step.after,
                                  detail={"memo": memo, "sequence": tx["sequence"], "account_number": tx["account_number"],
                                          "chain_id": tx["chain_id"], "gas": tx["gas"],
                                          "fee_stays_in": plan.fee_collector}))
        return views

    # -- sequences ----------------------------------------------------------------------------------
    def nonce_conflict(self, plan: SweepPlan) -> str | None:
        """A step whose sequence is below its signer's and whose transaction the node does not know was
        outrun by another transaction of the shared wallet (another refund sent first): re-plan."""
        for step in plan.steps:
            acc = self.account(step.signer_address)
            n = int(step.tx["sequence"])
            if n < acc.sequence and not self._step_known(step):
                return (f"step {step.seq} ({step.role}) uses sequence {n} of {step.signer_address}, which another "
                        f"transaction has used (the account is at sequence {acc.sequence})")
        return None

    def _step_known(self, step: PlanStep) -> bool:
        """Whether a transaction with exactly this step's body and fee is on chain (its txid needs the
        signature, which the plan does not hold: the wallet's transactions at that sequence are compared)."""
        query = f"tx.acc_seq='{step.signer_address}/{int(step.tx['sequence'])}'"
        try:
            answer = self.rest.get("/cosmos/tx/v1beta1/txs", {"query": query, "limit": "5"})
        except RestError:
            return False
        for tx in answer.get("txs") or []:
            body = tx["body"]
            msgs = body.get("messages") or []
            if (len(msgs) == 1 and msgs[0].get("@type") == txbuild.MSG_SEND and msgs[0].get("to_address") == step.tx["to"]
                    and msgs[0].get("amount") == [{"denom": step.tx["denom"], "amount": str(step.tx["amount"])}]
                    and (body.get("memo") or "") == (step.tx.get("memo") or "")):
                return True
        return False

    def nonce_ahead(self, plan: SweepPlan) -> NonceAhead | None:
        for step in plan.steps:
            acc = self.account(step.signer_address)
            n = int(step.tx["sequence"])
            if n > acc.sequence:
                return NonceAhead(step.seq, step.role, step.signer_address, n, acc.sequence)
        return None


__all__ = ["PlanMixin", "Account", "PUBKEY_TYPE_URL"]
