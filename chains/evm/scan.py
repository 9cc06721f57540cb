"""Scanning blocks for deposits to our addresses: ERC-20 ``Transfer`` logs and native value.

A scan reads what the chain shows over a range, chunk by chunk, and asks the caller which of the
recipients it saw are ours (``match``: one question per chunk, answered by the case database's index):
its cost follows the chain, never the size of the address registry.  Per chunk:

- ``eth_getLogs`` for every ``Transfer`` log of the chunk (the topic filter cannot name millions of
  addresses).  A node that refuses a range (too many results, range too large) gets half of it, down
  to one block; a chunk with many logs makes the next one smaller (a bounded amount of JSON in memory
  at once), and the range grows back after quiet chunks.
- when the caller wants native value (``native=True``: it has retired addresses), either every block's
  transactions, read in batches (any node), or, where the network's ``[evm] native_scan =
  "trace_filter"``, ``trace_filter`` over the chunk (ranges of ``trace_filter_blocks``): only top-level
  calls that moved value and did not fail, i.e. what a transaction paid its ``to`` (the same deposits
  the block reading finds, without every transaction body).

Findings come out per chunk (:class:`chains.base.ScanChunk`), so the caller opens cases and records its
progress as it goes and can stop and resume between chunks.  Pure parsing lives in
:mod:`chains.evm.erc20`.
"""

from __future__ import annotations

from typing import Callable, Iterator

from chains.base import NATIVE, FoundDeposit, ScanChunk
from chains.errors import ChainError, RetryableChainError
from chains.evm.common import cs, qty
from chains.evm.erc20 import TRANSFER_TOPIC, transfer_log
from chains.transport import classify

BLOCKS_PER_QUERY = 2_000
LOGS_PER_CHUNK = 20_000  # above this many logs in a chunk, the next chunk is made smaller
BLOCKS_PER_BATCH = 50  # eth_getBlockByNumber with transactions, per batched request
TRACE_CALLS_PER_REQUEST = 8  # trace_filter calls per HTTP request (each answers every call of its range)


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

    def scan_deposits(self, from_block: int, to_block: int, *, match: Callable[[set[str]], set[str]],
                      native: bool = True, progress: Callable[[int], None] | None = None) -> Iterator[ScanChunk]:
        """Chunks of findings over ``from_block..to_block``, in block order.  ``match(keys)`` gets the
        lower-case recipients of a chunk (EVM addresses compare case-insensitively) and returns those
        that are ours; findings are EIP-55, sorted by block and log index."""
        start, size = from_block, BLOCKS_PER_QUERY
        while start <= to_block:
            stop = min(to_block, start + size - 1)
            try:
                logs = self.client.call_or_raise("eth_getLogs", [{"fromBlock": hex(start), "toBlock": hex(stop),
                                                                  "topics": [TRANSFER_TOPIC]}]) or []
            except RetryableChainError:
                raise
            except ChainError:
                if size == 1:
                    raise  # the node refuses even one block: not a question of range
                size = max(1, size // 2)  # the node refused the range: ask for half
                continue
            tokens = [(word, log) for log in logs if (word := _recipient_word(log)) is not None]
            del logs
            natives = self._native_payments(start, stop) if native else []
            ours = match({w for w, _ in tokens} | {to for to, *_ in natives}) if tokens or natives else set()
            found = [FoundDeposit(txid=txid, recipient=cs(to), asset=NATIVE, amount=value, block_number=block, index=-1)
                     for to, txid, value, block in natives if to in ours]
            for word, log in tokens:
                if word in ours and (parsed := transfer_log(log)) is not None:
                    found.append(FoundDeposit(txid=str(log["transactionHash"]).lower(), recipient=parsed[1],
                                              asset=cs(log["address"]), amount=parsed[2],
                                              block_number=qty(log["blockNumber"]), index=qty(log["logIndex"])))
            found.sort(key=lambda f: (f.block_number, f.index, f.txid))
            if progress:
                progress(stop - start + 1)
            yield ScanChunk(start, stop, found)
            start = stop + 1
            if len(tokens) > LOGS_PER_CHUNK:
                size = max(1, size * LOGS_PER_CHUNK // len(tokens))
            elif len(tokens) < LOGS_PER_CHUNK // 2:
                size = min(BLOCKS_PER_QUERY, size * 2)

    def _native_payments(self, start: int, end: int) -> list[tuple[str, str, int, int]]:
        """Every native payment of the range, to anyone, as (recipient in lower case, txid, value,
        block): the caller's ``match`` keeps ours (and only those are checksummed)."""
        if self.network.evm_options.native_scan == "trace_filter":
            return self._native_traces(start, end)
        out: list[tuple[str, str, int, int]] = []
        for first in range(start, end + 1, BLOCKS_PER_BATCH):
            numbers = range(first, min(end, first + BLOCKS_PER_BATCH - 1) + 1)
            blocks = self.client.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            for block in blocks:
                if isinstance(block, Exception):
                    raise classify(block, method="eth_getBlockByNumber", network=self.network.key)
                for tx in (block or {}).get("transactions") or []:
                    to, value = tx.get("to"), qty(tx.get("value")) or 0
                    if to and value > 0:
                        out.append((str(to).lower(), str(tx["hash"]).lower(), value, qty(block["number"])))
        return out

    def _native_traces(self, start: int, end: int) -> list[tuple[str, str, int, int]]:
        """``trace_filter`` over ranges of ``trace_filter_blocks`` blocks, batched; a range the node
        refuses is asked again in halves (down to one block)."""
        step = self.network.evm_options.trace_filter_blocks
        todo = [(a, min(end, a + step - 1)) for a in range(start, end + 1, step)]
        out: list[tuple[str, str, int, int]] = []
        while todo:
            calls = [("trace_filter", [{"fromBlock": hex(a), "toBlock": hex(b)}]) for a, b in todo]
            answers = [answer for i in range(0, len(calls), TRACE_CALLS_PER_REQUEST)
                       for answer in self.client.batch(calls[i:i + TRACE_CALLS_PER_REQUEST])]
            again = []
            for (a, b), answer in zip(todo, answers):
                if isinstance(answer, Exception):
                    if a == b or getattr(answer, "code", None) == -32601:  # -32601: the node has no trace_filter
                        raise classify(answer, method="trace_filter", network=self.network.key)
                    mid = (a + b) // 2
                    again += [(a, mid), (mid + 1, b)]
                    continue
                out += [f for f in map(_native_call, answer or []) if f is not None]
            todo = again
        return out


def _native_call(trace: dict) -> tuple[str, str, int, int] | None:
    """A top-level, successful call that paid value to its ``to``: what a transaction paid the address."""
    action = trace.get("action") or {}
    if (trace.get("type") != "call" or trace.get("traceAddress") or trace.get("error")
            or action.get("callType", "call") != "call"):
        return None
    value, to = qty(action.get("value")) or 0, action.get("to")
    if value <= 0 or not to:
        return None
    return str(to).lower(), str(trace["transactionHash"]).lower(), value, qty(trace["blockNumber"])
