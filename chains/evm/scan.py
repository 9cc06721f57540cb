"""Scanning blocks for deposits to our addresses: ERC-20 ``Transfer`` logs and native value.

``eth_getLogs`` is asked for every ``Transfer`` log of a block range (the topic filter cannot name a
million addresses); each log's recipient is matched in memory by the caller's predicate.  A node
that refuses a range (too many results, range too large) gets half of it, down to one block, and
the range grows back after a success.  Native deposits to the (few) retired addresses come either
from every block's transactions, read in batches (any node), or, where the network's ``[evm]
native_scan = "trace_filter"``, from ``trace_filter`` calls naming those addresses: only top-level
calls that moved value and did not fail, i.e. what a transaction to the address paid it (the same
deposits the block reading finds, without reading every transaction of every block).  Pure parsing
lives in :mod:`chains.evm.erc20`.
"""

from __future__ import annotations

from typing import Callable, Collection

from chains.base import NATIVE, FoundDeposit
from chains.errors import ChainError, RetryableChainError
from chains.evm.common import cs, qty
from chains.evm.erc20 import TRANSFER_TOPIC, transfer_log
from chains.transport import classify

BLOCKS_PER_QUERY = 2_000
BLOCKS_PER_BATCH = 50  # eth_getBlockByNumber with transactions, per batched request
TRACE_ADDRESSES_PER_CALL = 1_000  # toAddress entries per trace_filter (~45 kB of request)
TRACE_CALLS_PER_REQUEST = 16  # trace_filter calls per HTTP request (~0.7 MB: nodes limit request bodies)


def _recipient_word(log: dict) -> str | None:
    """The lower-case recipient of what looks like a ``Transfer`` log (its third topic), or None.
    Only a pre-filter: a match is parsed in full by :func:`transfer_log`."""
    topics = log.get("topics") or []
    if len(topics) != 3:
        return None
    word = str(topics[2]).lower()
    if len(word) != 66 or word[:26] != "0x" + "0" * 24:
        return None
    return "0x" + word[26:]


class ScanMixin:
    def latest_block(self) -> int:
        return qty(self.client.call_or_raise("eth_blockNumber", []))

    def scan_deposits(self, from_block: int, to_block: int, *, token_to: Callable[[str], bool],
                      native_to: Collection[str] | None = None,
                      progress: Callable[[int], None] | None = None) -> list[FoundDeposit]:
        """``token_to`` gets addresses in lower case (EVM addresses compare case-insensitively): a
        million-address set is matched without checksumming every log; ``native_to`` is the set of
        addresses (lower case) whose native deposits are wanted; findings are EIP-55."""
        found = self._scan_logs(from_block, to_block, token_to, progress)
        if native_to:
            wanted = {str(a).lower() for a in native_to}
            if self.network.evm_options.native_scan == "trace_filter":
                found += self._scan_native_traces(from_block, to_block, sorted(wanted))
            else:
                found += self._scan_native(from_block, to_block, wanted)
        return sorted(found, key=lambda f: (f.block_number, f.index, f.txid))

    def _scan_logs(self, start: int, end: int, wanted, progress) -> list[FoundDeposit]:
        out: list[FoundDeposit] = []
        size = BLOCKS_PER_QUERY
        while start <= end:
            stop = min(end, start + size - 1)
            try:
                logs = self.client.call_or_raise("eth_getLogs", [{"fromBlock": hex(start), "toBlock": hex(stop),
                                                                  "topics": [TRANSFER_TOPIC]}])
            except RetryableChainError:
                raise
            except ChainError:
                if size == 1:
                    raise  # the node refuses even one block: not a question of range
                size = max(1, size // 2)  # the node refused the range: ask for half
                continue
            for log in logs or []:
                recipient = _recipient_word(log)
                if recipient is None or not wanted(recipient):
                    continue  # most logs: a cheap look at the topic, no ABI decoding, no checksum
                parsed = transfer_log(log)
                if parsed is None:
                    continue
                out.append(FoundDeposit(txid=str(log["transactionHash"]).lower(), recipient=parsed[1],
                                        asset=cs(log["address"]), amount=parsed[2],
                                        block_number=qty(log["blockNumber"]), index=qty(log["logIndex"])))
            if progress:
                progress(stop - start + 1)
            start = stop + 1
            size = min(BLOCKS_PER_QUERY, size * 2)
        return out

    def _scan_native(self, start: int, end: int, wanted) -> list[FoundDeposit]:
        out: list[FoundDeposit] = []
        for first in range(start, end + 1, BLOCKS_PER_BATCH):
            numbers = range(first, min(end, first + BLOCKS_PER_BATCH - 1) + 1)
            blocks = self.client.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            for block in blocks:
                for tx in (block or {}).get("transactions") or []:
                    to, value = tx.get("to"), qty(tx.get("value")) or 0
                    if to and value > 0 and str(to).lower() in wanted:
                        out.append(FoundDeposit(txid=str(tx["hash"]).lower(), recipient=cs(to), asset=NATIVE,
                                                amount=value, block_number=qty(block["number"]), index=-1))
        return out

    def _scan_native_traces(self, start: int, end: int, wanted: list[str]) -> list[FoundDeposit]:
        """``trace_filter`` over ranges of ``trace_filter_blocks`` blocks and groups of addresses, in
        one batch; a range the node refuses is asked again in halves (down to one block)."""
        step = self.network.evm_options.trace_filter_blocks
        groups = [wanted[i:i + TRACE_ADDRESSES_PER_CALL] for i in range(0, len(wanted), TRACE_ADDRESSES_PER_CALL)]
        todo = [(a, min(end, a + step - 1), g) for a in range(start, end + 1, step) for g in groups]
        out: list[FoundDeposit] = []
        while todo:
            calls = [("trace_filter", [{"fromBlock": hex(a), "toBlock": hex(b), "toAddress": g}]) for a, b, g in todo]
            answers = [answer for i in range(0, len(calls), TRACE_CALLS_PER_REQUEST)
                       for answer in self.client.batch(calls[i:i + TRACE_CALLS_PER_REQUEST])]
            again = []
            for (a, b, g), answer in zip(todo, answers):
                if isinstance(answer, Exception):
                    if a == b or getattr(answer, "code", None) == -32601:  # -32601: the node has no trace_filter
                        raise classify(answer, method="trace_filter", network=self.network.key)
                    mid = (a + b) // 2
                    again += [(a, mid, g), (mid + 1, b, g)]
                    continue
                out += [f for f in map(_native_call, answer or []) if f is not None]
            todo = again
        return out


def _native_call(trace: dict) -> FoundDeposit | None:
    """A top-level, successful call that paid value to its ``to``: what a transaction paid the address."""
    action = trace.get("action") or {}
    if (trace.get("type") != "call" or trace.get("traceAddress") or trace.get("error")
            or action.get("callType", "call") != "call"):
        return None
    value, to = qty(action.get("value")) or 0, action.get("to")
    if value <= 0 or not to:
        return None
    return FoundDeposit(txid=str(trace["transactionHash"]).lower(), recipient=cs(to), asset=NATIVE, amount=value,
                        block_number=qty(trace["blockNumber"]), index=-1)
