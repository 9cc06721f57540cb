"""Dry-running a plan: ``eth_call`` + ``eth_estimateGas`` of every step at ``latest``, in one batch.

Deposit steps that wait for a gas top-up are simulated with a state override giving the deposit
the top-up's value; a node that does not take overrides (its answer: invalid params / method not
found, not a revert) is asked again without them, once, and remembered for the adapter's life.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chains.base import NATIVE, SweepPlan
from chains.errors import PermanentChainError
from chains.evm.common import Batch, hexbytes, qty
from chains.evm.erc20 import uint_result
from chains.evm.revert import decode_revert
from chains.transport import RpcError


def simulation_error(role: str, err: RpcError, asset: str) -> PermanentChainError:
    """``simulation_failed`` with the decoded revert reason (or the node's message)."""
    data = err.revert_data
    reason = decode_revert(data) if data is not None else err.message
    return PermanentChainError(f"{role} would fail: {reason}", code="simulation_failed",
                               details={"role": role, "reason": reason, "revert_data": data, "asset": asset})


def _unsupported(value: Any) -> bool:
    """An error that means "this node does not take state overrides / fee fields" (not a revert)."""
    return (isinstance(value, RpcError) and value.revert_data is None
            and "revert" not in (value.message or "").lower()
            and (value.code in (-32602, -32601) or "override" in (value.message or "").lower()))


class SimulateMixin:
    """``simulate``; ``self._overrides_ok`` is False once the node refused a state override."""

    _overrides_ok: bool = True

    def simulate(self, plan: SweepPlan, *, deposit_native_balance: int | None = None) -> SweepPlan:
        """eth_call + eth_estimateGas of every step at ``latest`` (deposit steps with a state override
        for the top-up not yet made, when the node supports overrides); returns the plan with
        ``PlanStep.simulation`` filled, or raises ``PermanentChainError`` ``simulation_failed``."""
        topup_value = sum(int(s.tx["value"]) for s in plan.steps if s.role == "gas_topup")
        if deposit_native_balance is None and self._overrides_ok and topup_value:
            res = self.client.batch([("eth_getBalance", [plan.steps[-1].signer_address, "latest"])])[0]
            if isinstance(res, RpcError):
                raise self._error("eth_getBalance", res)
            deposit_native_balance = qty(res)
        for use_overrides in ((True, False) if self._overrides_ok else (False,)):
            batch = Batch()
            handles = []
            for step in plan.steps:
                tx = step.tx
                call = {"from": tx["from"], "to": tx["to"], "value": hex(int(tx["value"])), "data": tx["data"]}
                extra: list = []
                if use_overrides:
                    if tx["type"] == "0x0":
                        call["gasPrice"] = hex(int(tx["gasPrice"]))
                    else:
                        call["maxFeePerGas"] = hex(int(tx["maxFeePerGas"]))
                        call["maxPriorityFeePerGas"] = hex(int(tx["maxPriorityFeePerGas"]))
                    if step.role != "gas_topup" and topup_value:
                        extra = [{tx["from"]: {"balance": hex(deposit_native_balance + topup_value)}}]
                handles.append((
                    batch.add("eth_call", [{**call, "gas": hex(int(tx["gas"]))}, "latest", *extra]),
                    batch.add("eth_estimateGas", [call, "latest", *extra]),
                ))
            res = batch.run(self.client)
            if use_overrides and any(_unsupported(res[c]) or _unsupported(res[e]) for c, e in handles):
                self._overrides_ok = False
                continue
            break
        checked = {}
        order = [i for i, s in enumerate(plan.steps) if s.role != "gas_topup"] + [
            i for i, s in enumerate(plan.steps) if s.role == "gas_topup"]
        for i in order:  # sweep steps first: their failure is the more telling reason
            step, (ch, eh) = plan.steps[i], handles[i]
            ret, est = res[ch], res[eh]
            if isinstance(ret, RpcError):
                raise simulation_error(step.role, ret, plan.asset)
            if isinstance(est, RpcError):
                raise simulation_error(step.role, est, plan.asset)
            data = hexbytes(ret)
            if plan.asset != NATIVE and step.role != "gas_topup" and data:
                if not uint_result(data):  # shorter than a word, or false
                    raise PermanentChainError(f"{step.role} would fail: transfer() returned false",
                                              code="simulation_failed",
                                              details={"role": step.role, "reason": "transfer() returned false"})
            gas_needed = qty(est)
            if gas_needed > int(step.tx["gas"]):
                raise PermanentChainError(
                    f"{step.role} needs {gas_needed} gas, more than the {step.tx['gas']} quoted: re-quote",
                    code="simulation_failed", details={"role": step.role, "gas_needed": str(gas_needed)})
            checked[i] = replace(step, simulation={
                "ok": True, "gas_estimate": str(gas_needed), "return_data": "0x" + data.hex(),
                "state_override": bool(use_overrides and step.role != "gas_topup" and topup_value),
                "fee_fields": bool(use_overrides)})
        return replace(plan, steps=tuple(checked[i] for i in range(len(plan.steps))))
