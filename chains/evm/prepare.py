"""Pricing and preparing a sweep: gather the gas price, gas estimates, nonces and balances in
batched reads, build the plan with the pure :func:`chains.evm.plan.build_evm_plan`, simulate it."""

from __future__ import annotations

from typing import Any

from chains.base import NATIVE, CostEstimate, SweepPlan, SweepRequest
from chains.errors import PermanentChainError, SweepRefused
from chains.evm.common import Batch, cs, hexbytes, qty
from chains.evm.erc20 import balance_of_data, transfer_data, uint_result
from chains.evm.plan import GAS_MARGIN_BPS, NATIVE_TRANSFER_GAS, PARAMS_VERSION, build_evm_plan, native_cost_from_params
from chains.evm.simulate import simulation_error
from chains.transport import RpcError


class PrepareMixin:
    """``estimate_cost`` and ``prepare`` (simulation by :class:`chains.evm.simulate.SimulateMixin`)."""

    # -- cost ------------------------------------------------------------------------------------
    def _price_calls(self, batch: Batch) -> dict[str, int]:
        handles = {"block": batch.add("eth_getBlockByNumber", ["latest", False]),
                   "gas_price": batch.add("eth_gasPrice", [])}
        if not self.network.evm_options.legacy_tx:
            handles["tip"] = batch.add("eth_maxPriorityFeePerGas", [])
        return handles

    def _price(self, handles: dict[str, int], res: list) -> dict[str, Any]:
        block = res[handles["block"]]
        if isinstance(block, RpcError):
            raise self._error("eth_getBlockByNumber", block)
        base = qty(block.get("baseFeePerGas")) if block else None
        gas_price = res[handles["gas_price"]]
        if self.network.evm_options.legacy_tx:
            if isinstance(gas_price, RpcError):
                raise self._error("eth_gasPrice", gas_price)
            p = qty(gas_price)
            if base is not None:
                p = max(p, base)
            out = {"tx_type": "0x0", "gas_price": p, "base_fee": base, "priority_fee": None}
        else:
            if base is None:
                raise PermanentChainError(
                    f"{self.network.key}: the latest block has no baseFeePerGas; set [evm] legacy_tx = true",
                    code="no_base_fee")
            tip = res[handles["tip"]]
            if isinstance(tip, RpcError):  # node without eth_maxPriorityFeePerGas
                tip = None if isinstance(gas_price, RpcError) else max(0, qty(gas_price) - base)
                if tip is None:
                    raise self._error("eth_maxPriorityFeePerGas", res[handles["tip"]])
            else:
                tip = qty(tip)
            p = 2 * base + tip
            out = {"tx_type": "0x2", "gas_price": p, "base_fee": base, "priority_fee": tip}
        ceiling = self.network.evm_options.max_fee_gwei_ceiling
        if ceiling is not None and out["gas_price"] > ceiling * 10**9:
            raise SweepRefused(f"gas price {out['gas_price']} wei is above the network's ceiling of {ceiling} gwei",
                               code="gas_price_ceiling")
        return out

    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        self.check_chain()
        batch = Batch()
        price_h = self._price_calls(batch)
        deposit = cs(request.deposit_address)
        is_native = request.asset == NATIVE
        if is_native:
            code_h = [batch.add("eth_getCode", [cs(a), "latest"]) for a in (request.destination, request.fee_collector)]
        else:
            token = cs(request.asset)
            legs = [("sweep_net", request.destination, request.net)]
            if request.fee_total > 0:
                legs.append(("sweep_fee", request.fee_collector, request.fee_total))
            est_h = [(role, batch.add("eth_estimateGas", [
                {"from": deposit, "to": token, "data": transfer_data(to, amount)}, "latest"]))
                for role, to, amount in legs]
            bal_h = batch.add("eth_getBalance", [deposit, "latest"])
        res = batch.run(self.client)
        price = self._price(price_h, res)
        p = price["gas_price"]
        if is_native:
            self._refuse_contracts(request, [res[h] for h in code_h])
            steps = [{"role": "sweep_net", "gas": str(NATIVE_TRANSFER_GAS)},
                     {"role": "sweep_fee", "gas": str(NATIVE_TRANSFER_GAS)}]
            topup = request.cost_mode == "absorb"
            topup_value = 2 * NATIVE_TRANSFER_GAS * p if topup else 0
        else:
            steps = []
            for role, h in est_h:
                est = res[h]
                if isinstance(est, RpcError):
                    raise simulation_error(role, est, request.asset)
                gas = qty(est)
                steps.append({"role": role, "gas": str(gas + gas * GAS_MARGIN_BPS // 10_000)})
            if isinstance(res[bal_h], RpcError):
                raise self._error("eth_getBalance", res[bal_h])
            need = sum(int(s["gas"]) for s in steps) * p
            ours = min(qty(res[bal_h]), request.own_native)  # the rest of the balance belongs to deposits
            topup_value = max(0, need - ours)
            topup = topup_value > 0
        if topup:
            steps.insert(0, {"role": "gas_topup", "gas": str(NATIVE_TRANSFER_GAS)})
        params = {
            "version": PARAMS_VERSION,
            "kind": "native" if is_native else "token",
            "chain_id": self.network.chain_id,
            "tx_type": price["tx_type"],
            "gas_price": str(p),
            "base_fee": None if price["base_fee"] is None else str(price["base_fee"]),
            "priority_fee": None if price["priority_fee"] is None else str(price["priority_fee"]),
            "cost_mode": request.cost_mode,
            "steps": steps,
            "topup": topup,
            "topup_value": str(topup_value),
            "gas_margin_bps": 0 if is_native else GAS_MARGIN_BPS,
        }
        return CostEstimate(native_cost=native_cost_from_params(params), params=params)

    def _refuse_contracts(self, request: SweepRequest, codes: list) -> None:
        for what, addr, code in (("destination", request.destination, codes[0]),
                                 ("fee collector", request.fee_collector, codes[1])):
            if isinstance(code, RpcError):
                raise self._error("eth_getCode", code)
            if hexbytes(code):
                raise SweepRefused(
                    f"the {what} {cs(addr)} is a contract: a native sweep to it cannot be made exact",
                    code="destination_contract", details={"address": cs(addr)})

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        self.check_chain()
        params = cost.params
        if int(params.get("version", 0)) != PARAMS_VERSION:
            raise SweepRefused("the quote's cost parameters are from another version: re-quote", code="requote")
        if native_cost_from_params(params) != cost.native_cost:
            raise SweepRefused("the quote's native cost does not match its parameters: re-quote", code="requote")
        want_type = "0x0" if self.network.evm_options.legacy_tx else "0x2"
        if params["tx_type"] != want_type:
            raise SweepRefused("the quote used another transaction type: re-quote", code="requote")
        p = int(params["gas_price"])
        deposit = cs(request.deposit_address)
        is_native = request.asset == NATIVE
        topup = bool(params.get("topup"))
        station = cs(request.gas_station_address) if request.gas_station_address else None
        if topup and station is None:
            raise SweepRefused("a gas top-up is planned but the gas station's address is not known",
                               code="gas_station_unknown")

        batch = Batch()
        h = {
            "block": batch.add("eth_getBlockByNumber", ["latest", False]),
            "nonce": batch.add("eth_getTransactionCount", [deposit, "pending"]),
            "balance": batch.add("eth_getBalance", [deposit, "latest"]),
        }
        if params["tx_type"] == "0x0":
            h["gas_price"] = batch.add("eth_gasPrice", [])
        if topup:
            h["station_nonce"] = batch.add("eth_getTransactionCount", [station, "pending"])
            h["station_balance"] = batch.add("eth_getBalance", [station, "latest"])
        if is_native:
            code_h = [batch.add("eth_getCode", [cs(a), "latest"]) for a in (request.destination, request.fee_collector)]
        else:
            h["token_balance"] = batch.add("eth_call", [{"to": cs(request.asset), "data": balance_of_data(deposit)},
                                                        "latest"])
        res = batch.run(self.client)
        for key, handle in h.items():
            if isinstance(res[handle], RpcError) and key != "token_balance":
                raise self._error(res[handle].method or key, res[handle])

        block = res[h["block"]]
        base = qty(block.get("baseFeePerGas"))
        if base is not None and base > p:
            raise SweepRefused(f"the base fee rose to {base} wei, above the quoted gas price {p}: re-quote",
                               code="gas_price_rose", details={"base_fee": str(base), "gas_price": str(p)})
        if base is None and "gas_price" in h and qty(res[h["gas_price"]]) > p:
            raise SweepRefused(f"the gas price rose to {qty(res[h['gas_price']])} wei, above the quoted {p}: re-quote",
                               code="gas_price_rose")
        native_balance = qty(res[h["balance"]])
        if is_native:
            self._refuse_contracts(request, [res[c] for c in code_h])
            held = native_balance
        else:
            held = uint_result(res[h["token_balance"]])
            if held is None:
                raise PermanentChainError(f"{request.asset} does not answer balanceOf()", code="not_a_token")
        if held < request.gross:
            raise PermanentChainError(
                f"the deposit address {deposit} holds {held}, less than the {request.gross} to sweep",
                code="funds_missing", details={"held": str(held), "gross": str(request.gross)})

        plan = build_evm_plan(
            network_key=self.network.key, chain_id=self.network.chain_id, request=request, params=params,
            deposit_nonce=qty(res[h["nonce"]]),
            station_nonce=qty(res[h["station_nonce"]]) if topup else None,
            deposit_native_balance=native_balance, station_address=station)
        if plan.native_cost != cost.native_cost:  # pragma: no cover - guarded above
            raise SweepRefused("the plan would not cost what the quote said: re-quote", code="requote")
        station_short = None
        if topup:
            topup_step = plan.steps[0]
            need = int(topup_step.tx["value"]) + int(topup_step.tx["gas"]) * p
            have = qty(res[h["station_balance"]])
            if have < need:
                station_short = SweepRefused(
                    f"the gas station {station} holds {have} wei, less than the {need} wei the top-up needs: "
                    "fund it", code="gas_station_underfunded",
                    details={"address": station, "balance": str(have), "needed": str(need)})
        try:  # a failing sweep step is reported before an underfunded gas station
            simulated = self.simulate(plan, deposit_native_balance=native_balance)
        except PermanentChainError as exc:
            if station_short is not None and exc.details.get("role") == "gas_topup":
                raise station_short from None
            raise
        if station_short is not None:
            raise station_short
        return simulated
