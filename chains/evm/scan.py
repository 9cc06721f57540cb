"""Scanning blocks for deposits to our addresses: ERC-20 ``Transfer`` logs and native value.

``eth_getLogs`` is asked for every ``Transfer`` log of a block range (the topic filter cannot name a
million addresses); each log's recipient is matched in memory by the caller's predicate.  A node
that refuses a range (too many results, range too large) gets half of it, down to one block, and
the range grows back after a success.  Native deposits come from the blocks' transactions, read in
batches.  Pure parsing lives in :mod:`chains.evm.erc20`.
"""

from __future__ import annotations

from typing import Callable

from chains.base import NATIVE, FoundDeposit
from chains.errors import ChainError, RetryableChainError
from chains.evm.common import cs, qty
from chains.evm.erc20 import TRANSFER_TOPIC, transfer_log

BLOCKS_PER_QUERY = 2_000
BLOCKS_PER_BATCH = 50  # eth_getBlockByNumber with transactions, per batched request


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
                      native_to: Callable[[str], bool] | None = None,
                      progress: Callable[[int], None] | None = None) -> list[FoundDeposit]:
        """The predicates get addresses in lower case (EVM addresses compare case-insensitively):
        a million-address set is matched without checksumming every log; findings are EIP-55."""
        found = self._scan_logs(from_block, to_block, token_to, progress)
        if native_to is not None:
            found += self._scan_native(from_block, to_block, native_to)
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
                    if to and value > 0 and wanted(str(to).lower()):
                        out.append(FoundDeposit(txid=str(tx["hash"]).lower(), recipient=cs(to), asset=NATIVE,
                                                amount=value, block_number=qty(block["number"]), index=-1))
        return out
