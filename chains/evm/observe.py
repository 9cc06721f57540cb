"""Reading deposits: observe transactions, prove them with balances, re-check them before signing.

Every read is a batched JSON-RPC request through :class:`chains.transport.JsonRpcClient`; a node's
error answer is classified by meaning (:func:`chains.transport.classify`), never retried.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Sequence

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.errors import ChainError, ExecutionReverted, PermanentChainError
from chains.evm.common import Batch, cs, hexbytes, qty
from chains.evm.erc20 import DECIMALS_DATA, SYMBOL_DATA, balance_of_data, symbol_result, transfer_log, uint_result
from chains.evm.revert import decode_revert
from chains.transport import RpcError

_TXID = re.compile(r"^0x[0-9a-fA-F]{64}$")
INTERNAL_NATIVE_INDEX = -2  # native value moved by an internal call (recover.casework.classify's placeholder index)


class ObserveMixin:
    """``observe``, ``tx_status``, ``prove``, ``prove_each``, ``recheck_deposit``, ``internal_transfer``."""

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
        batch = Batch()
        h_latest = batch.add("eth_blockNumber", [])
        h_rcpt = {t: batch.add("eth_getTransactionReceipt", [t]) for t in valid}
        h_tx = {t: batch.add("eth_getTransactionByHash", [t]) for t in valid} if native_value else {}
        res = batch.run(self.client)
        if isinstance(res[h_latest], RpcError):
            raise self._error("eth_blockNumber", res[h_latest])
        latest = qty(res[h_latest])
        receipts = {t: res[h] for t, h in h_rcpt.items()}
        txs = {t: res[h] for t, h in h_tx.items()}
        # second round: block headers, and the transactions still needed (no receipt: pending/unknown)
        second = Batch()
        blocks = sorted({qty(r["blockNumber"]) for r in receipts.values()
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
                times[b] = (blk.get("hash"), datetime.fromtimestamp(qty(blk["timestamp"]), tz=timezone.utc))
        for t in valid:
            rcpt, tx = receipts[t], txs.get(t)
            err = tx if isinstance(tx, RpcError) else rcpt if isinstance(rcpt, RpcError) else None
            if err is not None:
                out[t] = TxObservation(txid=t, found=False, failure_reason=f"node_error: {err.message}")
            elif tx is None and rcpt is None:
                out[t] = TxObservation(txid=t, found=False)
            else:
                out[t] = _observation(t, tx, rcpt, latest, times)
        return {t: out[t] for t in txids}

    def tx_status(self, txid: str) -> TxObservation:
        return self.observe([txid])[txid]

    def internal_transfer(self, obs: TxObservation, recipient: str) -> Transfer | None:
        """The native value the claimed transaction itself moved to ``recipient`` by internal calls,
        from its call trace (``debug_traceTransaction`` with the call tracer): the sum of the values of
        the calls to ``recipient`` that did not revert, below the top-level call (whose value is the
        transaction's own).  None when it moved none.  A balance change across the block proves
        nothing about *this* transaction (any other one in the block may have paid the address), so
        a node without traces is a clear refusal (``no_trace``), never a guess."""
        self.check_chain()
        try:
            trace = self.client.call("debug_traceTransaction", [obs.txid, {"tracer": "callTracer"}])
        except RpcError as err:
            if err.code in (-32601, -32600) or "not available" in err.message.lower() or \
                    "method" in err.message.lower() and "not" in err.message.lower():
                raise PermanentChainError(
                    f"{self.network.key}: the node does not trace transactions (debug_traceTransaction): native "
                    f"value moved to {recipient} by a contract call cannot be tied to transaction {obs.txid}; use "
                    "a node with the debug API", code="no_trace") from None
            raise self._error("debug_traceTransaction", err) from None
        key = recipient.lower()
        total = 0

        def walk(call: dict, top: bool) -> None:
            nonlocal total
            if call.get("error"):  # a reverted call moved nothing (nor did anything below it)
                return
            kind = str(call.get("type", "")).upper()
            if not top and kind in ("CALL", "CREATE", "CREATE2", "SELFDESTRUCT") and \
                    str(call.get("to") or "").lower() == key:
                total += qty(call.get("value") or "0x0") or 0
            for sub in call.get("calls") or ():
                walk(sub, False)

        if isinstance(trace, dict):
            walk(trace, True)
        if total <= 0:
            return None
        return Transfer(INTERNAL_NATIVE_INDEX, NATIVE, obs.to, cs(recipient), total)

    # -- prove -----------------------------------------------------------------------------------
    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """Balance proofs, all reads of all items in as few batched requests as possible; an item
        that fails gets its error (``not_a_token``, a classified node answer) in its place."""
        self.check_chain()
        batch = Batch()
        plans = []
        for obs, tr in items:
            recipient = cs(tr.recipient)
            block = obs.block_number
            tags = [hex(block - 1) if block else None, hex(block) if block is not None else None, "latest"]
            if tr.asset == NATIVE:
                reads = [batch.add("eth_getBalance", [recipient, tag]) if tag else None for tag in tags]
                meta = None
            else:
                token = cs(tr.asset)
                call = {"to": token, "data": balance_of_data(recipient)}
                reads = [batch.add("eth_call", [call, tag]) if tag else None for tag in tags]
                meta = (batch.add("eth_call", [{"to": token, "data": DECIMALS_DATA}, "latest"]),
                        batch.add("eth_call", [{"to": token, "data": SYMBOL_DATA}, "latest"]))
            code = batch.add("eth_getCode", [recipient, "latest"])
            plans.append((tr, reads, meta, code))
        res = batch.run(self.client)
        out: list[BalanceProof | ChainError] = []
        decoded: dict[int, Any] = {}  # a token's decimals()/symbol() answer (one deduplicated read), decoded once
        for tr, reads, meta, code in plans:
            try:
                out.append(self._proof(tr, reads, meta, code, res, decoded))
            except ChainError as exc:
                out.append(exc)
        return out

    def _proof(self, tr: Transfer, reads: list, meta: tuple | None, code_h: int, res: list,
               decoded: dict[int, Any]) -> BalanceProof:
        code = res[code_h]
        if isinstance(code, RpcError):
            raise self._error("eth_getCode", code)
        has_code = bool(hexbytes(code))
        vals = [None if h is None else res[h] for h in reads]
        if meta is None:
            if isinstance(vals[2], RpcError):
                raise self._error("eth_getBalance", vals[2])
            if vals[2] is None:
                raise self._error("eth_getBalance", RpcError(None, "no balance in the answer", None, "eth_getBalance"))
            before, after, now = (None if isinstance(v, RpcError) or v is None else qty(v) for v in vals)
            decimals, symbol = self.network.native_decimals, self.network.native_symbol
        else:
            before, after = (uint_result(v) for v in vals[:2])
            now = uint_result(vals[2])
            if meta[0] not in decoded:
                decoded[meta[0]] = uint_result(res[meta[0]])
            decimals = decoded[meta[0]]
            if decimals is None or now is None or decimals > 77:
                raise PermanentChainError(
                    f"{tr.asset} does not answer decimals()/balanceOf() like an ERC-20 token", code="not_a_token",
                    details={"asset": tr.asset})
            if meta[1] not in decoded:
                decoded[meta[1]] = symbol_result(res[meta[1]])
            symbol = decoded[meta[1]]
        return BalanceProof(transfer=tr, before=before, after=after, now=now, decimals=decimals, symbol=symbol,
                            recipient_has_code=has_code)

    # -- before signing --------------------------------------------------------------------------
    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """Is the deposit still there?  Its block must still be canonical (same hash at that height,
        the transaction still in it) and the address must still hold at least ``amount``."""
        self.check_chain()
        batch = Batch()
        h_blk = batch.add("eth_getBlockByNumber", [hex(block_number), False]) if block_number is not None else None
        h_rcpt = batch.add("eth_getTransactionReceipt", [txid])
        h_bal = (batch.add("eth_getBalance", [recipient, "latest"]) if asset == NATIVE
                 else batch.add("eth_call", [{"to": asset, "data": balance_of_data(recipient)}, "latest"]))
        res = batch.run(self.client)
        bal = res[h_bal]
        if asset != NATIVE and isinstance(bal, RpcError) and isinstance(self._error("eth_call", bal), ExecutionReverted):
            reason = decode_revert(bal.revert_data) if bal.revert_data is not None else bal.message
            return f"the token {asset} no longer answers balanceOf({recipient}): it reverts ({reason})"
        for h in (h_blk, h_rcpt, h_bal):
            if h is not None and isinstance(res[h], RpcError):
                raise self._error(res[h].method or "recheck", res[h])
        blk, rcpt = (res[h_blk] if h_blk is not None else None), res[h_rcpt]
        if block_number is not None and (blk is None or (block_hash and str(blk.get("hash")).lower() != block_hash.lower())):
            return f"block {block_number} that held the deposit is no longer canonical (reorganised away)"
        if rcpt is None or qty(rcpt.get("blockNumber")) != block_number or qty(rcpt.get("status")) != 1:
            return f"transaction {txid} is no longer in block {block_number} (reorganised away)"
        balance = qty(res[h_bal]) if asset == NATIVE else uint_result(res[h_bal])
        if balance is None or balance < amount:
            return f"{recipient} now holds {balance} base units, less than the {amount} deposited"
        return None


def _observation(txid: str, tx: dict | None, rcpt: dict | None, latest: int,
                 times: dict[int, tuple[str | None, datetime | None]]) -> TxObservation:
    src = tx if tx is not None else rcpt
    sender = cs(src["from"]) if src.get("from") else None
    to = cs(src["to"]) if src.get("to") else None
    value = (qty(tx.get("value")) or 0) if tx is not None else 0
    transfers: list[Transfer] = []
    recipient = to or (cs(rcpt["contractAddress"]) if rcpt and rcpt.get("contractAddress") else None)
    if value > 0 and recipient:
        transfers.append(Transfer(index=-1, asset=NATIVE, sender=sender, recipient=recipient, amount=value))
    if rcpt is None or rcpt.get("blockNumber") is None:  # pending
        return TxObservation(txid=txid, found=True, sender=sender, to=to, confirmations=0,
                             transfers=tuple(transfers))
    for log in rcpt.get("logs") or ():
        moved = transfer_log(log)
        if moved is not None:
            frm, dst, amount = moved
            transfers.append(Transfer(index=qty(log["logIndex"]), asset=cs(log["address"]), sender=frm,
                                      recipient=dst, amount=amount))
    block = qty(rcpt["blockNumber"])
    status = qty(rcpt.get("status"))
    success = None if status is None else status == 1
    block_hash, block_time = times.get(block, (None, None))
    return TxObservation(
        txid=txid, found=True, success=success, failure_reason="reverted" if success is False else None,
        block_number=block, block_hash=rcpt.get("blockHash") or block_hash, block_time=block_time,
        confirmations=max(0, latest - block + 1), sender=sender, to=to, transfers=tuple(transfers))
