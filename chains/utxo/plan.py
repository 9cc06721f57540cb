"""The pure part of a UTXO sweep: fee rate, cost parameters, the plan builder, and the plan's rows
for people.  Nothing here does I/O.

Fee rate: ``estimatesmartfee`` (sat/vB, rounded up), at least the mempool minimum, clamped to
``[fee_rate_floor, fee_rate_ceiling]`` (regtest has no estimate: the floor).  The size is the
worst-case vsize of the exact inputs (their script types) and two outputs (net + fee), measured on
bitcoinlib's serialization with the largest signatures (:func:`chains.utxo.tx.worst_case_vsize`):
the signed transaction is never larger, so ``native_cost = fee_rate * vsize`` is the exact network
fee of the plan and the effective rate is never below the quoted one.  A fee output below the dust
limit is *folded*: the transaction has only the net output and the fee goes to the miners.

Each deposit's money is its own by construction: a plan spends exactly the proven outputs of its
case (``SweepRequest.outputs``), never another output at the same address, and its fee comes out of
them (no gas top-up, no account nonces: ``own_native`` and ``station_reserved`` do not apply).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from chains.base import NATIVE, PlanStep, StepView, SweepPlan, SweepRequest, plan_net_label
from chains.config import NetworkConfig
from chains.errors import SweepRefused
from chains.utxo.tx import TX_VERSION, build_transaction, txid_of_raw, unsigned_hex, worst_case_vsize

__all__ = ["PARAMS_VERSION", "FEE_CONF_TARGET", "is_dust", "fee_is_folded", "fee_rate", "build_utxo_plan",
           "describe_utxo_plan"]

PARAMS_VERSION = 1
FEE_CONF_TARGET = 6


def is_dust(amount: int, network: NetworkConfig) -> bool:
    """Is an output of ``amount`` base units below the network's dust limit (unrecoverable)?"""
    return amount < network.utxo_options.dust_limit


def fee_is_folded(params: dict, fee_total: int) -> bool:
    """Does a plan at ``params`` (from ``estimate_cost``) fold a recovery fee of ``fee_total`` into the
    network fee (fee output below the dust limit: no fee output)?"""
    return fee_total < int(params["dust_limit"])


def fee_rate(estimate: Any, mempool: Any, *, decimals: int, floor: int, ceiling: int) -> tuple[int, str]:
    """Base units per vbyte: the estimate (rounded up), at least the mempool minimum and the floor, at
    most the ceiling; and where it came from."""
    scale = Decimal(10) ** decimals / 1000  # coin/kvB -> base units/vB
    est = None
    if isinstance(estimate, dict) and estimate.get("feerate") is not None:
        est = math.ceil(Decimal(str(estimate["feerate"])) * scale)
    minimum = 0
    if isinstance(mempool, dict) and mempool.get("mempoolminfee") is not None:
        minimum = math.ceil(Decimal(str(mempool["mempoolminfee"])) * scale)
    rate = max(est or 0, minimum, floor)
    if est is not None and rate == est:
        source = "estimatesmartfee"
    elif rate == minimum and minimum > floor:
        source = "mempool_minimum"
    else:
        source = "floor"
    if rate > ceiling:
        rate, source = ceiling, "ceiling"
    return rate, source


def build_utxo_plan(*, network: NetworkConfig, request: SweepRequest, params: dict, inputs: list[dict],
                    dest_script: bytes, fee_script: bytes) -> SweepPlan:
    """The unsigned sweep plan: ``inputs`` (from the node) to ``net`` at the destination and
    ``fee_total`` at the fee collector (folded into the network fee when below dust).  Pure."""
    opts = network.utxo_options
    rate, vsize = int(params["fee_rate"]), int(params["vsize"])
    native_cost = rate * vsize
    gross = sum(int(i["amount"]) for i in inputs)
    if gross != request.gross or request.gross - request.net - request.fee_total != native_cost:
        raise SweepRefused("amounts do not add up to the quoted network cost", code="amounts_mismatch")
    if request.net < opts.dust_limit:
        raise SweepRefused(f"the user would get {request.net} base units, below the dust limit {opts.dust_limit}",
                           code="net_below_dust")
    folded = request.fee_total < opts.dust_limit
    outputs = [{"role": "net", "address": request.destination, "amount": str(request.net),
                "script_pubkey": dest_script.hex()}]
    if not folded:
        outputs.append({"role": "fee", "address": request.fee_collector, "amount": str(request.fee_total),
                        "script_pubkey": fee_script.hex()})
    types = [i["script_type"] for i in inputs]
    vsize_max = worst_case_vsize(types, [bytes.fromhex(o["script_pubkey"]) for o in outputs],
                                 network=opts.address_network)
    if vsize_max > vsize:  # pragma: no cover - the quote always assumed the larger transaction
        raise SweepRefused("the transaction would be larger than quoted: re-quote", code="requote")
    fee = gross - sum(int(o["amount"]) for o in outputs)
    tx = {
        "format": "utxo-sweep/1",
        "network": opts.address_network,
        "version": TX_VERSION,
        "locktime": 0,
        "fork_id": opts.fork_id,
        "inputs": inputs,
        "outputs": outputs,
        "fee": str(fee),
        "fee_rate": str(rate),
        "vsize_max": vsize_max,
    }
    t = build_transaction(tx, opts.address_network)  # the one bitcoinlib object of this plan step
    tx["unsigned_hex"] = unsigned_hex(t)
    tx["unsigned_txid"] = txid_of_raw(tx["unsigned_hex"], opts.address_network)  # bitcoinlib keeps no fresh txid
    step = PlanStep(seq=0, role="sweep", signer_address=request.deposit_address, signer_path=request.deposit_path,
                    tx=tx)
    return SweepPlan(
        network=network.key, family="utxo", case_id=request.case_id, asset=NATIVE, gross=request.gross,
        net=request.net, fee_total=request.fee_total, native_cost=native_cost, destination=request.destination,
        fee_collector=request.fee_collector, steps=(step,),
        meta={"fee_rate": str(rate), "vsize": vsize, "fee_folded": folded,
              "folded_fee": str(request.fee_total if folded else 0), "network_fee_paid": str(fee),
              "script_type": types[0], "fork_id": opts.fork_id, **request.role_meta()},
    )


def describe_utxo_plan(plan: SweepPlan, symbol: str) -> list[StepView]:
    """One row per step: the inputs spent, the net output, the fee output (or that the fee is folded
    into the network fee), the network fee and its rate."""
    rows = []
    for step in plan.steps:
        tx = step.tx
        ins = [f"{i['txid']}:{i['vout']}" for i in tx.get("inputs") or []]
        held = sum(int(i["amount"]) for i in tx.get("inputs") or [])
        moves = []
        for o in tx.get("outputs") or []:
            what = plan_net_label(plan) if o.get("role") == "net" else "fee to the fee collector"
            moves.append({"to": o["address"], "amount": str(o["amount"]), "asset": NATIVE, "what": what})
        fee_out = [o for o in tx.get("outputs") or [] if o.get("role") == "fee"]
        network_fee = int(tx.get("fee") or 0)
        moves.append({"to": "miners", "amount": str(network_fee), "asset": NATIVE, "what": "network fee"})
        folded = bool(plan.meta.get("fee_folded")) or not fee_out
        fee_text = (f"fee {fee_out[0]['amount']} to {fee_out[0]['address']}" if fee_out
                    else "fee folded into the network fee")
        net_out = next((o for o in tx.get("outputs") or [] if o.get("role") == "net"), None)
        net_text = f"{plan_net_label(plan)}: {net_out['amount']} to {net_out['address']}" if net_out else "no net output"
        summary = (f"spend {len(ins)} output{'' if len(ins) == 1 else 's'} holding {held} of {step.signer_address}: {net_text}, {fee_text}; "
                   f"network fee {network_fee} at {tx.get('fee_rate')} per vbyte ({symbol} base units)")
        detail = {"inputs": ins, "inputs_total": str(held), "network_fee": str(network_fee),
                  "fee_rate": str(tx.get("fee_rate")), "vsize_max": tx.get("vsize_max"), "fee_folded": folded,
                  "unsigned_txid": tx.get("unsigned_txid")}
        if folded:
            detail["folded_fee"] = str(plan.meta.get("folded_fee", "0"))
        if tx.get("fork_id"):
            detail["signing"] = "SIGHASH_ALL|SIGHASH_FORKID"
        rows.append(StepView(seq=step.seq, role=step.role, signer=step.signer_address, summary=summary,
                             moves=tuple(moves), after=tuple(step.after), detail=detail))
    return rows
