"""The pure EVM plan builder and the cost parameters a quote stores.

Exact network cost
------------------
EIP-1559 networks: the quote fixes ``p = 2 * baseFee(latest) + eth_maxPriorityFeePerGas`` and every
transaction uses ``maxFeePerGas = maxPriorityFeePerGas = p``: the effective price is then exactly
``p`` whatever the base fee is when it is mined (as long as ``baseFee <= p``; ``prepare`` refuses
with ``gas_price_rose`` otherwise).  Legacy networks (``[evm] legacy_tx``): type-0 transactions with
``gasPrice = p = eth_gasPrice`` and an EIP-155 chain id.

* native sweep: ``sweep_net`` and ``sweep_fee`` (always, even with value 0), 21000 gas each (to EOAs
  only).  ``deduct``: cost ``42000 p`` paid by the deposit, which ends with exactly 0 wei when its
  balance is ``gross``.  ``absorb``: a ``gas_topup`` of exactly ``42000 p`` from the gas station first;
  cost ``63000 p``.
* token sweep: gas per transfer from ``eth_estimateGas`` plus :data:`GAS_MARGIN_BPS` (10%: it covers a
  recipient whose token balance slot goes from non-zero to zero between quote and broadcast, and the
  provisional amounts of a quote).  The cost is the gas *limit* times ``p`` (an upper bound: unused gas
  stays at the deposit address as native dust, recorded by the domain as ours).  A gas top-up from
  the gas station, for exactly the shortfall, when the native at the deposit that is *ours to spend*
  is below ``sum(gas_i * p)``; it costs ``21000 p`` more.

Each deposit's money is its own
-------------------------------
The native balance of a deposit address may belong to other deposits (a native misdeposit to the
same retired address, claimed or not).  A token sweep burns only ``min(balance, request.own_native)``
of it (the exchange's own leftover of earlier top-ups, ``meta.own_native_used``) and tops up the rest;
a native sweep moves exactly its ``gross`` (net + fee + the gas it pays itself in ``deduct`` mode, or a
top-up of exactly its gas in ``absorb`` mode) and leaves everything else where it is.

Gas-station nonces
------------------
The top-up takes the lowest nonce at or above the station's pending nonce that no other live plan
holds (``request.station_reserved``), so a batch of plans prepared before any is sent does not
collide (:func:`free_nonce`).
"""

from __future__ import annotations

from typing import Any

from chains.base import NATIVE, PlanStep, SweepPlan, SweepRequest
from chains.errors import SweepRefused
from chains.evm.common import cs
from chains.evm.erc20 import transfer_data

NATIVE_TRANSFER_GAS = 21_000
GAS_MARGIN_BPS = 1_000  # token transfers: +10% over eth_estimateGas (see the module docstring)
PARAMS_VERSION = 1


def native_cost_from_params(params: dict) -> int:
    """Network cost in native base units implied by ``CostEstimate.params`` (sum of gas * p)."""
    p = int(params["gas_price"])
    return sum(int(s["gas"]) for s in params["steps"]) * p


def free_nonce(pending: int, reserved) -> int:
    """The lowest nonce ``>= pending`` not in ``reserved`` (a released one below the others is reused
    first, so no gap stays open)."""
    taken = set(reserved)
    n = pending
    while n in taken:
        n += 1
    return n


def build_evm_plan(
    *,
    network_key: str,
    chain_id: int,
    request: SweepRequest,
    params: dict,
    deposit_nonce: int,
    station_nonce: int | None,
    deposit_native_balance: int,
    station_address: str | None = None,
) -> SweepPlan:
    """The unsigned sweep plan for ``request`` at the price and gas of ``params`` (from
    :meth:`EvmAdapter.estimate_cost`).  Pure: every fact is an argument.

    ``station_nonce`` is the gas station's pending nonce; the top-up takes :func:`free_nonce` of it and
    ``request.station_reserved``.  ``deposit_native_balance`` is what the address holds; only
    ``min(deposit_native_balance, request.own_native)`` of it is ours to burn for gas.

    Raises ``SweepRefused`` when the amounts do not add up to ``gross`` as the cost mode requires,
    or when a top-up is needed but ``params`` did not plan one (re-quote).
    """
    p = int(params["gas_price"])
    own_used = 0
    tx_type = params["tx_type"]
    kind = params["kind"]
    steps_gas = {s["role"]: int(s["gas"]) for s in params["steps"]}
    native_cost = native_cost_from_params(params)
    deposit = cs(request.deposit_address)
    is_native = request.asset == NATIVE
    if is_native != (kind == "native"):
        raise SweepRefused("the cost was estimated for another asset kind: re-quote", code="requote")
    if int(params.get("chain_id", chain_id)) != chain_id:
        raise SweepRefused("the cost was estimated on another chain id: re-quote", code="requote")

    sweep_roles = [r for r in ("sweep_net", "sweep_fee") if r in steps_gas]
    deposit_gas_wei = sum(steps_gas[r] for r in sweep_roles) * p
    topup = bool(params.get("topup"))

    if is_native:
        deducted = deposit_gas_wei if request.cost_mode == "deduct" else 0
        if request.net < 0 or request.fee_total < 0 or request.net + request.fee_total + deducted != request.gross:
            raise SweepRefused(
                f"amounts do not add up: net {request.net} + fee {request.fee_total} + gas paid by the deposit "
                f"{deducted} != gross {request.gross}", code="amounts_mismatch")
        topup_value = deposit_gas_wei if topup else 0
    else:
        if request.net < 0 or request.fee_total < 0 or request.net + request.fee_total != request.gross:
            raise SweepRefused(f"amounts do not add up: net {request.net} + fee {request.fee_total} != gross "
                               f"{request.gross}", code="amounts_mismatch")
        if (request.fee_total > 0) != ("sweep_fee" in steps_gas):
            raise SweepRefused("the quote's steps do not match the fee (zero vs non-zero): re-quote",
                               code="requote")
        ours = max(0, min(deposit_native_balance, request.own_native))  # never another deposit's native
        shortfall = max(0, deposit_gas_wei - ours)
        if shortfall and not topup:
            raise SweepRefused(
                f"the deposit address now needs a gas top-up of {shortfall} wei the quote did not include (our "
                f"own native there is {ours} wei; the rest belongs to deposits): re-quote", code="requote",
                details={"shortfall": str(shortfall), "own_native": str(ours)})
        topup_value = shortfall
        own_used = deposit_gas_wei - shortfall

    def fee_fields() -> dict:
        if tx_type == "0x0":
            return {"gasPrice": str(p)}
        return {"maxFeePerGas": str(p), "maxPriorityFeePerGas": str(p)}

    def tx(sender: str, nonce: int, to: str, value: int, data: str, gas: int) -> dict:
        return {"type": tx_type, "chainId": str(chain_id), "nonce": str(nonce), "from": sender, "to": cs(to),
                "value": str(value), "data": data, "gas": str(gas), **fee_fields()}

    steps: list[PlanStep] = []
    after: tuple[int, ...] = ()
    if topup:
        if not station_address or not request.gas_station_path or station_nonce is None:
            raise SweepRefused("a gas top-up is needed but the gas station (address, path, nonce) is unknown",
                               code="gas_station_unknown")
        station_n = free_nonce(station_nonce, request.station_reserved)
        steps.append(PlanStep(
            seq=0, role="gas_topup", signer_address=cs(station_address), signer_path=request.gas_station_path,
            tx=tx(cs(station_address), station_n, deposit, topup_value, "0x", steps_gas["gas_topup"])))
        after = (0,)
    nonce = deposit_nonce
    if is_native:
        legs = [("sweep_net", request.destination, request.net), ("sweep_fee", request.fee_collector, request.fee_total)]
        for role, to, value in legs:
            steps.append(PlanStep(seq=len(steps), role=role, signer_address=deposit, signer_path=request.deposit_path,
                                  tx=tx(deposit, nonce, to, value, "0x", steps_gas[role]), after=after))
            nonce += 1
    else:
        token = cs(request.asset)
        legs = [("sweep_net", request.destination, request.net)]
        if "sweep_fee" in steps_gas:
            legs.append(("sweep_fee", request.fee_collector, request.fee_total))
        for role, to, amount in legs:
            steps.append(PlanStep(seq=len(steps), role=role, signer_address=deposit, signer_path=request.deposit_path,
                                  tx=tx(deposit, nonce, token, 0, transfer_data(to, amount), steps_gas[role]),
                                  after=after))
            nonce += 1
    return SweepPlan(
        network=network_key, family="evm", case_id=request.case_id, asset=request.asset if not is_native else NATIVE,
        gross=request.gross, net=request.net, fee_total=request.fee_total, native_cost=native_cost,
        destination=cs(request.destination), fee_collector=cs(request.fee_collector), steps=tuple(steps),
        meta={"chain_id": chain_id, "tx_type": tx_type, "gas_price": str(p),
              **({"own_native_used": str(own_used)} if own_used else {}), **request.role_meta()},
    )


def tx_for_signing(tx: dict) -> dict:
    out: dict[str, Any] = {
        "chainId": int(tx["chainId"]),
        "nonce": int(tx["nonce"]),
        "to": cs(tx["to"]),
        "value": int(tx["value"]),
        "data": tx.get("data") or "0x",
        "gas": int(tx["gas"]),
    }
    if tx["type"] == "0x0":
        out["gasPrice"] = int(tx["gasPrice"])
    else:
        out["type"] = int(tx["type"], 16)
        out["maxFeePerGas"] = int(tx["maxFeePerGas"])
        out["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"])
    return out


def jsonable_tx(tx: dict) -> dict:
    return {k: (str(v) if isinstance(v, int) and k != "type" else v) for k, v in tx.items()}
