"""EVM chain adapter: observe deposits, prove them with balances, cost, plan, simulate, sign, send.

Reads go through :class:`chains.rpc.RpcClient` as batched JSON-RPC (never one web3 call at a time).
The plan is built by the pure :func:`build_evm_plan` from facts gathered by :meth:`EvmAdapter.prepare`.

Exact network cost
------------------
EIP-1559 networks: the quote fixes ``p = 2 * baseFee(latest) + eth_maxPriorityFeePerGas`` and every
transaction uses ``maxFeePerGas = maxPriorityFeePerGas = p``: the effective price is then exactly
``p`` whatever the base fee is when it is mined (as long as ``baseFee <= p``; :meth:`prepare` refuses
with ``gas_price_rose`` otherwise).  Legacy networks (``[evm] legacy_tx``): type-0 transactions with
``gasPrice = p = eth_gasPrice`` and an EIP-155 chain id.

* native sweep: ``sweep_net`` and ``sweep_fee`` (always, even with value 0), 21000 gas each (to EOAs
  only).  ``deduct``: cost ``42000 p`` paid by the deposit, which ends with exactly 0 wei when its
  balance is ``gross``.  ``absorb``: a ``gas_topup`` of exactly ``42000 p`` from the gas station first;
  cost ``63000 p``.
* token sweep: gas per transfer from ``eth_estimateGas`` plus :data:`GAS_MARGIN_BPS` (10%: it covers a
  recipient whose token balance slot goes from non-zero to zero between quote and broadcast, and the
  provisional amounts of a quote).  The cost is the gas *limit* times ``p`` (an upper bound: unused gas
  stays at the deposit address as native dust).  A gas top-up from the gas station, for exactly the
  shortfall, when the deposit's native balance is below ``sum(gas_i * p)``; it costs ``21000 p`` more.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from hexbytes import HexBytes
from eth_utils import keccak, to_checksum_address

from chains.base import (
    NATIVE,
    BalanceProof,
    Capability,
    ChainAdapter,
    CostEstimate,
    PlanStep,
    SweepPlan,
    SweepRequest,
    Transfer,
    TxObservation,
)
from chains.config import NetworkConfig
from chains.errors import (
    ChainError,
    PermanentChainError,
    RetryableChainError,
    SignerMismatch,
    SweepRefused,
)
from chains.rpc import RpcClient, RpcError

__all__ = [
    "EvmAdapter",
    "build_evm_plan",
    "decode_revert",
    "native_cost_from_params",
    "TRANSFER_TOPIC",
    "GAS_MARGIN_BPS",
]

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
SEL_BALANCE_OF = "0x70a08231"
SEL_DECIMALS = "0x313ce567"
SEL_SYMBOL = "0x95d89b41"
SEL_TRANSFER = bytes.fromhex("a9059cbb")
NATIVE_TRANSFER_GAS = 21_000
GAS_MARGIN_BPS = 1_000  # token transfers: +10% over eth_estimateGas (see the module docstring)
PARAMS_VERSION = 1
_TXID = re.compile(r"^0x[0-9a-fA-F]{64}$")

# -- revert decoding ------------------------------------------------------------------------------
_PANIC_CODES = {
    0x00: "generic panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized function",
}
# custom errors of common token contracts (OpenZeppelin 5, blacklist/pause variants)
_KNOWN_ERRORS = [
    "EnforcedPause()",
    "ExpectedPause()",
    "AccountBlacklisted(address)",
    "Blacklisted(address)",
    "BlacklistedAddress(address)",
    "ERC20InsufficientBalance(address,uint256,uint256)",
    "ERC20InvalidSender(address)",
    "ERC20InvalidReceiver(address)",
    "ERC20InsufficientAllowance(address,uint256,uint256)",
    "ERC20InvalidApprover(address)",
    "ERC20InvalidSpender(address)",
    "OwnableUnauthorizedAccount(address)",
    "OwnableInvalidOwner(address)",
    "AccessControlUnauthorizedAccount(address,bytes32)",
    "ReentrancyGuardReentrantCall()",
]


def _signature_table(signatures: Sequence[str]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for sig in signatures:
        name, _, rest = sig.partition("(")
        types = [t for t in rest.rstrip(")").split(",") if t]
        table[keccak(text=sig)[:4]] = (name, types)
    return table


_ERROR_TABLE = _signature_table(_KNOWN_ERRORS)


def _abi_errors(abi: Sequence[dict] | None) -> dict[bytes, tuple[str, list[str]]]:
    sigs = []
    for item in abi or ():
        if item.get("type") == "error":
            sigs.append(f"{item['name']}({','.join(_abi_type(i) for i in item.get('inputs', []))})")
    return _signature_table(sigs)


def _abi_type(param: dict) -> str:
    t = param["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[len("tuple"):]
    return t


def _fmt_arg(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return str(value)


def decode_revert(data: bytes | str | None, abi: Sequence[dict] | None = None) -> str:
    """A readable reason for revert ``data``: the ``Error(string)`` text, ``Panic(0x11): ...``, a custom
    error's name and arguments (from ``abi`` or a table of common token errors), else its selector."""
    if isinstance(data, str):
        data = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    raw = bytes(data or b"")
    if not raw:
        return "reverted without a reason"
    if len(raw) < 4:
        return f"reverted with data 0x{raw.hex()}"
    selector, payload = raw[:4], raw[4:]
    try:
        if selector == bytes.fromhex("08c379a0"):
            return str(abi_decode(["string"], payload)[0])
        if selector == bytes.fromhex("4e487b71"):
            code = abi_decode(["uint256"], payload)[0]
            return f"Panic(0x{code:02x}): {_PANIC_CODES.get(code, 'unknown panic code')}"
    except Exception:
        return f"reverted with malformed data 0x{raw.hex()}"
    table = {**_ERROR_TABLE, **_abi_errors(abi)}
    if selector in table:
        name, types = table[selector]
        try:
            args = abi_decode(types, payload) if types else ()
            return f"{name}({', '.join(_fmt_arg(a) for a in args)})"
        except Exception:
            return f"{name}(...)"
    return f"custom error 0x{selector.hex()}" + (f" (data 0x{payload.hex()})" if payload else "")


# -- small helpers ----------------------------------------------------------------------------------
def _q(value: Any) -> int | None:
    """A JSON-RPC quantity (hex string, or int from eth-tester) as int."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(value, 16)


_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")


@lru_cache(maxsize=1 << 16)
def _cs(address: str) -> str:
    """EIP-55 checksum (cached; much faster than ``to_checksum_address`` on batch verification)."""
    if not isinstance(address, str) or not _HEX40.match(address):
        return to_checksum_address(address)  # raises its usual error for a bad address
    low = address[2:].lower()
    digest = keccak(low.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if d > "7" else c for c, d in zip(low, digest))


def _word_addr(address: str) -> str:
    return address.lower()[2:].rjust(64, "0")


def _balance_of_data(owner: str) -> str:
    return SEL_BALANCE_OF + _word_addr(owner)


def _transfer_data(to: str, amount: int) -> str:
    return "0x" + (SEL_TRANSFER + abi_encode(["address", "uint256"], [_cs(to), amount])).hex()


def _hexbytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    s = value[2:] if value.startswith("0x") else value
    return bytes.fromhex(s)


def _uint_result(value: Any) -> int | None:
    """An eth_call result holding one uint256 (None: not a well-formed answer)."""
    if isinstance(value, RpcError) or value is None:
        return None
    raw = _hexbytes(value)
    if len(raw) < 32:
        return None
    return int.from_bytes(raw[:32], "big")


def _symbol_result(value: Any) -> str | None:
    if isinstance(value, RpcError) or value is None:
        return None
    raw = _hexbytes(value)
    if not raw:
        return None
    try:
        text = abi_decode(["string"], raw)[0]
    except Exception:
        text = None
        if len(raw) == 32:  # bytes32 symbols (MKR style)
            try:
                text = raw.rstrip(b"\x00").decode("utf-8")
            except UnicodeDecodeError:
                return None
    if text is None:
        return None
    text = text.strip("\x00").strip()
    return text if text and text.isprintable() else None


def _node_error(method: str, err: RpcError) -> RetryableChainError:
    return RetryableChainError(f"node error on {method}: {err.message}", code="node_error",
                               details={"method": method, "rpc_code": err.code})


class _Batch:
    """Collects JSON-RPC calls, deduplicating identical ones; ``run`` returns a lookup by handle."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []
        self._index: dict[str, int] = {}

    def add(self, method: str, params: list) -> int:
        key = json.dumps([method, params], sort_keys=True)
        if key not in self._index:
            self._index[key] = len(self.calls)
            self.calls.append((method, params))
        return self._index[key]

    def run(self, client: RpcClient) -> list[Any]:
        return client.batch(self.calls)


def native_cost_from_params(params: dict) -> int:
    """Network cost in native base units implied by ``CostEstimate.params`` (sum of gas * p)."""
    p = int(params["gas_price"])
    return sum(int(s["gas"]) for s in params["steps"]) * p


# -- the pure plan builder ---------------------------------------------------------------------------
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

    Raises ``SweepRefused`` when the amounts do not add up to ``gross`` as the cost mode requires,
    or when a top-up is needed but ``params`` did not plan one (re-quote).
    """
    p = int(params["gas_price"])
    tx_type = params["tx_type"]
    kind = params["kind"]
    steps_gas = {s["role"]: int(s["gas"]) for s in params["steps"]}
    native_cost = native_cost_from_params(params)
    deposit = _cs(request.deposit_address)
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
        shortfall = max(0, deposit_gas_wei - deposit_native_balance)
        if shortfall and not topup:
            raise SweepRefused(
                f"the deposit address now needs a gas top-up of {shortfall} wei the quote did not include: "
                "re-quote", code="requote")
        topup_value = shortfall

    def fee_fields() -> dict:
        if tx_type == "0x0":
            return {"gasPrice": str(p)}
        return {"maxFeePerGas": str(p), "maxPriorityFeePerGas": str(p)}

    def tx(sender: str, nonce: int, to: str, value: int, data: str, gas: int) -> dict:
        return {"type": tx_type, "chainId": str(chain_id), "nonce": str(nonce), "from": sender, "to": _cs(to),
                "value": str(value), "data": data, "gas": str(gas), **fee_fields()}

    steps: list[PlanStep] = []
    after: tuple[int, ...] = ()
    if topup:
        if not station_address or not request.gas_station_path or station_nonce is None:
            raise SweepRefused("a gas top-up is needed but the gas station (address, path, nonce) is unknown",
                               code="gas_station_unknown")
        steps.append(PlanStep(
            seq=0, role="gas_topup", signer_address=_cs(station_address), signer_path=request.gas_station_path,
            tx=tx(_cs(station_address), station_nonce, deposit, topup_value, "0x", steps_gas["gas_topup"])))
        after = (0,)
    nonce = deposit_nonce
    if is_native:
        legs = [("sweep_net", request.destination, request.net), ("sweep_fee", request.fee_collector, request.fee_total)]
        for role, to, value in legs:
            steps.append(PlanStep(seq=len(steps), role=role, signer_address=deposit, signer_path=request.deposit_path,
                                  tx=tx(deposit, nonce, to, value, "0x", steps_gas[role]), after=after))
            nonce += 1
    else:
        token = _cs(request.asset)
        legs = [("sweep_net", request.destination, request.net)]
        if "sweep_fee" in steps_gas:
            legs.append(("sweep_fee", request.fee_collector, request.fee_total))
        for role, to, amount in legs:
            steps.append(PlanStep(seq=len(steps), role=role, signer_address=deposit, signer_path=request.deposit_path,
                                  tx=tx(deposit, nonce, token, 0, _transfer_data(to, amount), steps_gas[role]),
                                  after=after))
            nonce += 1
    return SweepPlan(
        network=network_key, family="evm", case_id=request.case_id, asset=request.asset if not is_native else NATIVE,
        gross=request.gross, net=request.net, fee_total=request.fee_total, native_cost=native_cost,
        destination=_cs(request.destination), fee_collector=_cs(request.fee_collector), steps=tuple(steps),
        meta={"chain_id": chain_id, "tx_type": tx_type, "gas_price": str(p)},
    )


def _tx_for_signing(tx: dict) -> dict:
    out: dict[str, Any] = {
        "chainId": int(tx["chainId"]),
        "nonce": int(tx["nonce"]),
        "to": _cs(tx["to"]),
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


def _jsonable_tx(tx: dict) -> dict:
    return {k: (str(v) if isinstance(v, int) and k != "type" else v) for k, v in tx.items()}


def _signed_difference(step: PlanStep, raw: str, chain_id: int) -> str | None:
    """What differs between a signed raw transaction and the plan's step (None: nothing)."""
    from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
    from eth_account.typed_transactions import TypedTransaction

    try:
        data = _hexbytes(raw)
        if data and data[0] <= 0x7F:
            got = TypedTransaction.from_bytes(HexBytes(data)).as_dict()
        else:
            got = LegacyTransaction.from_bytes(data).as_dict()
            got["chainId"] = (got["v"] - 35) // 2 if got["v"] >= 35 else None
        sender = Account.recover_transaction(data)
    except Exception as exc:  # not a transaction at all
        return f"not a decodable signed transaction ({type(exc).__name__})"
    want = _tx_for_signing(step.tx)
    if _cs(sender) != _cs(step.signer_address):
        return f"signed by {_cs(sender)}, not {_cs(step.signer_address)}"
    checks = {"chainId": chain_id, "nonce": want["nonce"], "value": want["value"], "gas": want["gas"],
              "to": _cs(want["to"]), "data": _hexbytes(want["data"])}
    for k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"):
        if k in want:
            checks[k] = want[k]
    for k, v in checks.items():
        g = got.get(k)
        if k == "to":
            g = _cs("0x" + bytes(g).hex()) if g else None
        elif k == "data":
            g = bytes(g or b"")
        if g != v:
            return f"{k} is {g!r}, the plan says {v!r}"
    if "type" in want and got.get("type") != want["type"]:
        return f"type is {got.get('type')}, the plan says {want['type']}"
    return None


# -- the adapter ---------------------------------------------------------------------------------------
class EvmAdapter(ChainAdapter):
    family = "evm"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,
        Capability.TOKEN_SWEEP,
        Capability.GAS_TOPUP,
        Capability.SIMULATION,
        Capability.HISTORIC_BALANCES,
        Capability.BATCH_VERIFY,
        Capability.OFFLINE_EXPORT,
    })

    def __init__(self, network: NetworkConfig, *, client: RpcClient | None = None):
        super().__init__(network)
        self.client = client or RpcClient(network.rpc_urls)
        self._chain_checked = False

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, params: list | None = None) -> Any:
        try:
            return self.client.call(method, params or [])
        except RpcError as err:
            raise _node_error(method, err) from None

    def check_chain(self) -> None:
        """Refuse (``wrong_chain``) a node whose ``eth_chainId`` is not the network's; checked once."""
        if self._chain_checked:
            return
        got = _q(self._call("eth_chainId"))
        if got != self.network.chain_id:
            raise PermanentChainError(
                f"{self.network.key}: the node at {self.client.urls[0]} serves chain id {got}, "
                f"not {self.network.chain_id}", code="wrong_chain",
                details={"expected": self.network.chain_id, "got": got})
        self._chain_checked = True

    # -- observe ---------------------------------------------------------------------------------
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        """Transactions with status, block, confirmations and claimed transfers, in two batched
        requests.  ``native_value=False`` skips ``eth_getTransactionByHash`` for mined transactions
        (the one slow read: a node recovers the sender from the signature): the observation then
        has the receipt's sender/recipient and token transfers but no native-value transfer.  Use it
        for batches of token cases; a pending or unknown transaction is always looked up by hash.
        A per-transaction node error gives ``found=False`` with ``failure_reason`` "node_error: ..."."""
        self.check_chain()
        out: dict[str, TxObservation] = {}
        valid = []
        for t in dict.fromkeys(txids):
            if isinstance(t, str) and _TXID.match(t):
                valid.append(t)
            else:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")
        batch = _Batch()
        h_latest = batch.add("eth_blockNumber", [])
        h_rcpt = {t: batch.add("eth_getTransactionReceipt", [t]) for t in valid}
        h_tx = {t: batch.add("eth_getTransactionByHash", [t]) for t in valid} if native_value else {}
        res = batch.run(self.client)
        if isinstance(res[h_latest], RpcError):
            raise _node_error("eth_blockNumber", res[h_latest])
        latest = _q(res[h_latest])
        receipts = {t: res[h] for t, h in h_rcpt.items()}
        txs = {t: res[h] for t, h in h_tx.items()}
        # second round: block headers, and the transactions still needed (no receipt: pending/unknown)
        second = _Batch()
        blocks = sorted({_q(r["blockNumber"]) for r in receipts.values()
                         if isinstance(r, dict) and r.get("blockNumber") is not None})
        h_blk = {b: second.add("eth_getBlockByNumber", [hex(b), False]) for b in blocks}
        h_tx2 = {t: second.add("eth_getTransactionByHash", [t]) for t in valid
                 if t not in txs and not (isinstance(receipts[t], dict) and receipts[t].get("blockNumber") is not None)}
        res2 = second.run(self.client) if second.calls else []
        txs.update({t: res2[h] for t, h in h_tx2.items()})
        times: dict[int, tuple[str | None, datetime | None]] = {}
        for b, h in h_blk.items():
            blk = res2[h]
            if isinstance(blk, RpcError) or blk is None:
                times[b] = (None, None)
            else:
                times[b] = (blk.get("hash"), datetime.fromtimestamp(_q(blk["timestamp"]), tz=timezone.utc))
        for t in valid:
            rcpt, tx = receipts[t], txs.get(t)
            err = tx if isinstance(tx, RpcError) else rcpt if isinstance(rcpt, RpcError) else None
            if err is not None:
                out[t] = TxObservation(txid=t, found=False, failure_reason=f"node_error: {err.message}")
            elif tx is None and rcpt is None:
                out[t] = TxObservation(txid=t, found=False)
            else:
                out[t] = self._observation(t, tx, rcpt, latest, times)
        return {t: out[t] for t in txids}

    def _observation(self, txid: str, tx: dict | None, rcpt: dict | None, latest: int,
                     times: dict[int, tuple[str | None, datetime | None]]) -> TxObservation:
        src = tx if tx is not None else rcpt
        sender = _cs(src["from"]) if src.get("from") else None
        to = _cs(src["to"]) if src.get("to") else None
        value = (_q(tx.get("value")) or 0) if tx is not None else 0
        transfers: list[Transfer] = []
        recipient = to or (_cs(rcpt["contractAddress"]) if rcpt and rcpt.get("contractAddress") else None)
        if value > 0 and recipient:
            transfers.append(Transfer(index=-1, asset=NATIVE, sender=sender, recipient=recipient, amount=value))
        if rcpt is None or rcpt.get("blockNumber") is None:  # pending
            return TxObservation(txid=txid, found=True, sender=sender, to=to, confirmations=0,
                                 transfers=tuple(transfers))
        for log in rcpt.get("logs") or ():
            topics = log.get("topics") or []
            if log.get("removed") or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
                continue
            data = _hexbytes(log.get("data"))
            if len(data) != 32:
                continue
            frm, dst = "0x" + str(topics[1])[-40:], "0x" + str(topics[2])[-40:]
            transfers.append(Transfer(index=_q(log["logIndex"]), asset=_cs(log["address"]), sender=_cs(frm),
                                      recipient=_cs(dst), amount=int.from_bytes(data, "big")))
        block = _q(rcpt["blockNumber"])
        status = _q(rcpt.get("status"))
        success = None if status is None else status == 1
        block_hash, block_time = times.get(block, (None, None))
        return TxObservation(
            txid=txid, found=True, success=success, failure_reason="reverted" if success is False else None,
            block_number=block, block_hash=rcpt.get("blockHash") or block_hash, block_time=block_time,
            confirmations=max(0, latest - block + 1), sender=sender, to=to, transfers=tuple(transfers))

    def tx_status(self, txid: str) -> TxObservation:
        return self.observe([txid])[txid]

    # -- prove -----------------------------------------------------------------------------------
    def prove(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof]:
        results = self.prove_each(items)
        for r in results:
            if isinstance(r, ChainError):
                raise r
        return results  # type: ignore[return-value]

    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """Balance proofs, all reads of all items in as few batched requests as possible; an item
        that fails gets its error (``not_a_token``, ``node_error``) in its place."""
        self.check_chain()
        batch = _Batch()
        plans = []
        for obs, tr in items:
            recipient = _cs(tr.recipient)
            block = obs.block_number
            tags = [hex(block - 1) if block else None, hex(block) if block is not None else None, "latest"]
            if tr.asset == NATIVE:
                reads = [batch.add("eth_getBalance", [recipient, tag]) if tag else None for tag in tags]
                meta = None
            else:
                token = _cs(tr.asset)
                call = {"to": token, "data": _balance_of_data(recipient)}
                reads = [batch.add("eth_call", [call, tag]) if tag else None for tag in tags]
                meta = (batch.add("eth_call", [{"to": token, "data": SEL_DECIMALS}, "latest"]),
                        batch.add("eth_call", [{"to": token, "data": SEL_SYMBOL}, "latest"]))
            code = batch.add("eth_getCode", [recipient, "latest"])
            plans.append((tr, reads, meta, code))
        res = batch.run(self.client)
        out: list[BalanceProof | ChainError] = []
        for tr, reads, meta, code in plans:
            try:
                out.append(self._proof(tr, reads, meta, code, res))
            except ChainError as exc:
                out.append(exc)
        return out

    def _proof(self, tr: Transfer, reads: list, meta: tuple | None, code_h: int, res: list) -> BalanceProof:
        code = res[code_h]
        if isinstance(code, RpcError):
            raise _node_error("eth_getCode", code)
        has_code = bool(_hexbytes(code))
        vals = [None if h is None else res[h] for h in reads]
        if meta is None:
            if isinstance(vals[2], RpcError) or vals[2] is None:
                raise _node_error("eth_getBalance", vals[2] if isinstance(vals[2], RpcError) else RpcError(None, "no answer"))
            before, after, now = (None if isinstance(v, RpcError) or v is None else _q(v) for v in vals)
            decimals, symbol = self.network.native_decimals, self.network.native_symbol
        else:
            before, after = (_uint_result(v) for v in vals[:2])
            now = _uint_result(vals[2])
            decimals = _uint_result(res[meta[0]])
            if decimals is None or now is None or decimals > 77:
                raise PermanentChainError(
                    f"{tr.asset} does not answer decimals()/balanceOf() like an ERC-20 token", code="not_a_token",
                    details={"asset": tr.asset})
            symbol = _symbol_result(res[meta[1]])
        return BalanceProof(transfer=tr, before=before, after=after, now=now, decimals=decimals, symbol=symbol,
                            recipient_has_code=has_code)

    # -- cost ------------------------------------------------------------------------------------
    def _price_calls(self, batch: _Batch) -> dict[str, int]:
        handles = {"block": batch.add("eth_getBlockByNumber", ["latest", False]),
                   "gas_price": batch.add("eth_gasPrice", [])}
        if not self.network.evm_options.legacy_tx:
            handles["tip"] = batch.add("eth_maxPriorityFeePerGas", [])
        return handles

    def _price(self, handles: dict[str, int], res: list) -> dict[str, Any]:
        block = res[handles["block"]]
        if isinstance(block, RpcError):
            raise _node_error("eth_getBlockByNumber", block)
        base = _q(block.get("baseFeePerGas")) if block else None
        gas_price = res[handles["gas_price"]]
        if self.network.evm_options.legacy_tx:
            if isinstance(gas_price, RpcError):
                raise _node_error("eth_gasPrice", gas_price)
            p = _q(gas_price)
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
                tip = None if isinstance(gas_price, RpcError) else max(0, _q(gas_price) - base)
                if tip is None:
                    raise _node_error("eth_maxPriorityFeePerGas", res[handles["tip"]])
            else:
                tip = _q(tip)
            p = 2 * base + tip
            out = {"tx_type": "0x2", "gas_price": p, "base_fee": base, "priority_fee": tip}
        ceiling = self.network.evm_options.max_fee_gwei_ceiling
        if ceiling is not None and out["gas_price"] > ceiling * 10**9:
            raise SweepRefused(f"gas price {out['gas_price']} wei is above the network's ceiling of {ceiling} gwei",
                               code="gas_price_ceiling")
        return out

    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        self.check_chain()
        batch = _Batch()
        price_h = self._price_calls(batch)
        deposit = _cs(request.deposit_address)
        is_native = request.asset == NATIVE
        if is_native:
            code_h = [batch.add("eth_getCode", [_cs(a), "latest"]) for a in (request.destination, request.fee_collector)]
        else:
            token = _cs(request.asset)
            legs = [("sweep_net", request.destination, request.net)]
            if request.fee_total > 0:
                legs.append(("sweep_fee", request.fee_collector, request.fee_total))
            zero = {"gasPrice": "0x0"} if self.client.tester else {}  # eth-tester checks the balance
            est_h = [(role, batch.add("eth_estimateGas", [
                {"from": deposit, "to": token, "data": _transfer_data(to, amount), **zero}, "latest"]))
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
                    self._raise_simulation(role, est, request.asset)
                gas = _q(est)
                steps.append({"role": role, "gas": str(gas + gas * GAS_MARGIN_BPS // 10_000)})
            if isinstance(res[bal_h], RpcError):
                raise _node_error("eth_getBalance", res[bal_h])
            need = sum(int(s["gas"]) for s in steps) * p
            topup_value = max(0, need - _q(res[bal_h]))
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
                raise _node_error("eth_getCode", code)
            if _hexbytes(code):
                raise SweepRefused(
                    f"the {what} {_cs(addr)} is a contract: a native sweep to it cannot be made exact",
                    code="destination_contract", details={"address": _cs(addr)})

    def _raise_simulation(self, role: str, err: RpcError, asset: str) -> None:
        data = err.revert_data
        reason = decode_revert(data) if data is not None else err.message
        raise PermanentChainError(f"{role} would fail: {reason}", code="simulation_failed",
                                  details={"role": role, "reason": reason, "revert_data": data, "asset": asset})

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
        deposit = _cs(request.deposit_address)
        is_native = request.asset == NATIVE
        topup = bool(params.get("topup"))
        station = _cs(request.gas_station_address) if request.gas_station_address else None
        if topup and station is None:
            raise SweepRefused("a gas top-up is planned but SweepRequest.gas_station_address is not set",
                               code="gas_station_unknown")

        batch = _Batch()
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
            code_h = [batch.add("eth_getCode", [_cs(a), "latest"]) for a in (request.destination, request.fee_collector)]
        else:
            h["token_balance"] = batch.add("eth_call", [{"to": _cs(request.asset), "data": _balance_of_data(deposit)},
                                                        "latest"])
        res = batch.run(self.client)
        for key, handle in h.items():
            if isinstance(res[handle], RpcError) and key != "token_balance":
                raise _node_error(key, res[handle])

        block = res[h["block"]]
        base = _q(block.get("baseFeePerGas"))
        if base is not None and base > p:
            raise SweepRefused(f"the base fee rose to {base} wei, above the quoted gas price {p}: re-quote",
                               code="gas_price_rose", details={"base_fee": str(base), "gas_price": str(p)})
        if base is None and "gas_price" in h and _q(res[h["gas_price"]]) > p:
            raise SweepRefused(f"the gas price rose to {_q(res[h['gas_price']])} wei, above the quoted {p}: re-quote",
                               code="gas_price_rose")
        native_balance = _q(res[h["balance"]])
        if is_native:
            self._refuse_contracts(request, [res[c] for c in code_h])
            held = native_balance
        else:
            held = _uint_result(res[h["token_balance"]])
            if held is None:
                raise PermanentChainError(f"{request.asset} does not answer balanceOf()", code="not_a_token")
        if held < request.gross:
            raise PermanentChainError(
                f"the deposit address {deposit} holds {held}, less than the {request.gross} to sweep",
                code="funds_missing", details={"held": str(held), "gross": str(request.gross)})

        plan = build_evm_plan(
            network_key=self.network.key, chain_id=self.network.chain_id, request=request, params=params,
            deposit_nonce=_q(res[h["nonce"]]),
            station_nonce=_q(res[h["station_nonce"]]) if topup else None,
            deposit_native_balance=native_balance, station_address=station)
        if plan.native_cost != cost.native_cost:  # pragma: no cover - guarded above
            raise SweepRefused("the plan would not cost what the quote said: re-quote", code="requote")
        station_short = None
        if topup:
            topup_step = plan.steps[0]
            need = int(topup_step.tx["value"]) + int(topup_step.tx["gas"]) * p
            have = _q(res[h["station_balance"]])
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

    # -- simulate --------------------------------------------------------------------------------
    def simulate(self, plan: SweepPlan, *, deposit_native_balance: int | None = None) -> SweepPlan:
        """eth_call + eth_estimateGas of every step at ``latest`` (deposit steps with a state override
        for the top-up not yet made, when the node supports overrides); returns the plan with
        ``PlanStep.simulation`` filled, or raises ``PermanentChainError`` ``simulation_failed``."""
        topup_value = sum(int(s.tx["value"]) for s in plan.steps if s.role == "gas_topup")
        if deposit_native_balance is None and self.client.supports_overrides:
            deposit_native_balance = _q(self._call("eth_getBalance", [plan.steps[-1].signer_address, "latest"]))
        for use_overrides in ((True, False) if self.client.supports_overrides else (False,)):
            batch = _Batch()
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
                if self.client.tester:
                    # eth-tester enforces the sender's balance and the base fee even in eth_call and
                    # takes no overrides: a zero-price estimate still executes the transfer, so a
                    # revert is still caught (a `false` return is not visible on this devnet).
                    zero = {**call, "gasPrice": "0x0"}
                    handles.append((batch.add("eth_estimateGas", [zero, "latest"]),
                                    batch.add("eth_estimateGas", [zero, "latest"])))
                    continue
                handles.append((
                    batch.add("eth_call", [{**call, "gas": hex(int(tx["gas"]))}, "latest", *extra]),
                    batch.add("eth_estimateGas", [call, "latest", *extra]),
                ))
            res = batch.run(self.client)
            if use_overrides and any(_unsupported(res[c]) or _unsupported(res[e]) for c, e in handles):
                self.client.supports_overrides = False
                continue
            break
        checked = {}
        order = [i for i, s in enumerate(plan.steps) if s.role != "gas_topup"] + [
            i for i, s in enumerate(plan.steps) if s.role == "gas_topup"]
        for i in order:  # sweep steps first: their failure is the more telling reason
            step, (ch, eh) = plan.steps[i], handles[i]
            ret, est = res[ch], res[eh]
            if isinstance(ret, RpcError):
                self._raise_simulation(step.role, ret, plan.asset)
            if isinstance(est, RpcError):
                self._raise_simulation(step.role, est, plan.asset)
            data = b"" if self.client.tester else _hexbytes(ret)
            if plan.asset != NATIVE and step.role != "gas_topup" and data:
                if len(data) < 32 or int.from_bytes(data[:32], "big") == 0:
                    raise PermanentChainError(f"{step.role} would fail: transfer() returned false",
                                              code="simulation_failed",
                                              details={"role": step.role, "reason": "transfer() returned false"})
            gas_needed = _q(est)
            if gas_needed > int(step.tx["gas"]):
                raise PermanentChainError(
                    f"{step.role} needs {gas_needed} gas, more than the {step.tx['gas']} quoted: re-quote",
                    code="simulation_failed", details={"role": step.role, "gas_needed": str(gas_needed)})
            checked[i] = replace(step, simulation={
                "ok": True, "gas_estimate": str(gas_needed), "return_data": "0x" + data.hex(),
                "state_override": bool(use_overrides and step.role != "gas_topup" and topup_value),
                "fee_fields": bool(use_overrides)})
        return replace(plan, steps=tuple(checked[i] for i in range(len(plan.steps))))

    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """Is the deposit still there?  Its block must still be canonical (same hash at that height,
        the transaction still in it) and the address must still hold at least ``amount``."""
        self.check_chain()
        batch = _Batch()
        h_blk = batch.add("eth_getBlockByNumber", [hex(block_number), False]) if block_number is not None else None
        h_rcpt = batch.add("eth_getTransactionReceipt", [txid])
        h_bal = (batch.add("eth_getBalance", [recipient, "latest"]) if asset == NATIVE
                 else batch.add("eth_call", [{"to": asset, "data": _balance_of_data(recipient)}, "latest"]))
        res = batch.run(self.client)
        for h in (h_blk, h_rcpt, h_bal):
            if h is not None and isinstance(res[h], RpcError):
                raise _node_error("recheck", res[h])
        blk, rcpt = (res[h_blk] if h_blk is not None else None), res[h_rcpt]
        if block_number is not None and (blk is None or (block_hash and str(blk.get("hash")).lower() != block_hash.lower())):
            return f"block {block_number} that held the deposit is no longer canonical (reorganised away)"
        if rcpt is None or _q(rcpt.get("blockNumber")) != block_number or _q(rcpt.get("status")) != 1:
            return f"transaction {txid} is no longer in block {block_number} (reorganised away)"
        balance = _q(res[h_bal]) if asset == NATIVE else _uint_result(res[h_bal])
        if balance is None or balance < amount:
            return f"{recipient} now holds {balance} base units, less than the {amount} deposited"
        return None

    # -- sign / send -----------------------------------------------------------------------------
    def sign(self, plan: SweepPlan, key_for_path: Callable[[str], Any]) -> list[str]:
        if plan.family != "evm" or int(plan.meta.get("chain_id", self.network.chain_id)) != self.network.chain_id:
            raise SweepRefused("this plan is not for this EVM network", code="wrong_chain")
        raws = []
        for step in plan.steps:
            key = key_for_path(step.signer_path)
            account = key if hasattr(key, "sign_transaction") else Account.from_key(key)
            if _cs(account.address) != _cs(step.signer_address):
                raise SignerMismatch(
                    f"the key derived at {step.signer_path} controls {_cs(account.address)}, "
                    f"not {_cs(step.signer_address)} (step {step.seq}, {step.role})",
                    details={"path": step.signer_path, "expected": _cs(step.signer_address),
                             "derived": _cs(account.address)})
            if int(step.tx["chainId"]) != self.network.chain_id:
                raise SweepRefused("a step's chainId is not this network's", code="wrong_chain")
            signed = account.sign_transaction(_tx_for_signing(step.tx))
            raws.append("0x" + bytes(signed.raw_transaction).hex())
        return raws

    # -- offline signing ---------------------------------------------------------------------------
    def export_unsigned(self, plan: SweepPlan) -> dict:
        """The unsigned transactions of a plan as JSON, for an offline signer (it signs ``tx`` with the
        key at ``signer_path`` and returns the raw transactions in ``seq`` order)."""
        return {"format": "evm-unsigned-json", "chain_id": self.network.chain_id,
                "transactions": [{"seq": st.seq, "role": st.role, "signer_address": st.signer_address,
                                  "signer_path": st.signer_path, "after": list(st.after),
                                  "tx": _jsonable_tx(_tx_for_signing(st.tx))} for st in plan.steps]}

    def check_signed(self, plan: SweepPlan, raws: Sequence[str]) -> list[str]:
        """Each imported raw transaction must be exactly the plan's step, signed by its signer.
        Returns the txids; raises ``SweepRefused`` ``signed_differs`` naming the first difference."""
        if len(raws) != len(plan.steps):
            raise SweepRefused(f"{len(raws)} signed transactions for a plan of {len(plan.steps)} steps",
                               code="signed_differs")
        out = []
        for step, raw in zip(plan.steps, raws):
            problem = _signed_difference(step, raw, self.network.chain_id)
            if problem:
                raise SweepRefused(f"step {step.seq} ({step.role}): the signed transaction differs from the approved "
                                   f"plan: {problem}", code="signed_differs", details={"seq": step.seq})
            out.append(self.txid_of(raw))
        return out

    def txid_of(self, raw: str) -> str:
        return "0x" + keccak(_hexbytes(raw)).hex()

    def broadcast(self, raw: str) -> str:
        raw_bytes = _hexbytes(raw)
        txid = "0x" + keccak(raw_bytes).hex()
        try:
            self.client.call("eth_sendRawTransaction", ["0x" + raw_bytes.hex()])
            return txid
        except RpcError as err:
            msg = (err.message or "").lower()
            if any(s in msg for s in ("already known", "known transaction", "already imported", "alreadyknown",
                                      "already exists", "already in the pool")):
                return txid
            try:
                known = self.client.call("eth_getTransactionByHash", [txid])
            except RpcError:
                known = None
            if known is not None:
                return txid
            raise PermanentChainError(f"the node rejected transaction {txid}: {err.message}",
                                      code="broadcast_rejected", details={"txid": txid, "rpc_code": err.code}) from None


def _unsupported(value: Any) -> bool:
    """An error that means "this node does not take state overrides / fee fields" (not a revert)."""
    return (isinstance(value, RpcError) and value.revert_data is None
            and (value.code in (-32602, -32601) or "override" in (value.message or "").lower()))
