"""Plan steps as people read them (``case show``, the approval queue): pure."""

from __future__ import annotations

from decimal import Decimal

from chains.base import NATIVE, StepView, SweepPlan, plan_net_label
from chains.evm.erc20 import transfer_args

_WHAT = {"gas_topup": "gas top-up", "sweep_fee": "fee to the fee collector"}


def _native_text(amount: int, decimals: int, symbol: str) -> str:
    text = format(Decimal(amount).scaleb(-decimals).normalize(), "f") if amount else "0"
    return f"{text} {symbol}"


def describe_plan(plan: SweepPlan, *, native_symbol: str, native_decimals: int) -> list[StepView]:
    rows = []
    for step in plan.steps:
        tx = step.tx
        nonce = int(tx["nonce"])
        what = plan_net_label(plan) if step.role == "sweep_net" else _WHAT.get(step.role, step.role.replace("_", " "))
        value = int(tx["value"])
        transfer = transfer_args(tx.get("data")) if plan.asset != NATIVE and step.role != "gas_topup" else None
        if transfer is not None:
            to, amount = transfer
            moves = ({"to": to, "amount": str(amount), "asset": tx["to"], "what": what},)
            summary = (f"{what}: {amount} base units of token {tx['to']} from {step.signer_address} to {to} "
                       f"(nonce {nonce})")
        else:
            to = tx["to"]
            moves = ({"to": to, "amount": str(value), "asset": NATIVE, "what": what},)
            amount_text = _native_text(value, native_decimals, native_symbol)
            if step.role == "gas_topup":
                summary = f"gas top-up {amount_text} from the gas station {step.signer_address} to {to} (nonce {nonce})"
            else:
                summary = f"{what}: {amount_text} from {step.signer_address} to {to} (nonce {nonce})"
        detail = {"nonce": nonce, "gas": int(tx["gas"]), "tx_type": tx["type"], "chain_id": int(tx["chainId"])}
        if "gasPrice" in tx:
            detail["gas_price"] = str(tx["gasPrice"])
        else:
            detail["gas_price"] = str(tx["maxFeePerGas"])
            detail["max_fee_per_gas"] = str(tx["maxFeePerGas"])
            detail["max_priority_fee_per_gas"] = str(tx["maxPriorityFeePerGas"])
        detail["max_network_cost"] = str(int(tx["gas"]) * int(detail["gas_price"]))
        if step.simulation:
            detail["simulated"] = bool(step.simulation.get("ok"))
        if step.role != "gas_topup" and plan.meta.get("own_native_used") and step.seq == min(
                s.seq for s in plan.steps if s.role != "gas_topup"):
            # gas paid from our own leftover at the address (never from a deposit's native there)
            detail["own_gas_used"] = str(plan.meta["own_native_used"])
        rows.append(StepView(seq=step.seq, role=step.role, signer=step.signer_address, summary=summary,
                             moves=moves, after=tuple(step.after), detail=detail))
    return rows
