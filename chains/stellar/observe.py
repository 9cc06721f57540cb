"""observe / prove / status / re-check of the Stellar adapter, over Horizon's ``/transactions/{hash}`` and its
``/operations``.

Horizon serves only transactions in closed ledgers, and a closed ledger is final (SCP): what Horizon returns
is in ledger ``ledger`` with 1 confirmation, and nothing else counts.  Transfers are the transaction's
``payment``, ``path_payment_strict_send`` and ``path_payment_strict_receive`` operations, one each, ``index``
the operation's position in the transaction; ``amount`` is what arrived (the record's ``amount``, which for a
path payment is the destination amount delivered, never ``destination_min``).  A payment to a muxed
``M...`` address credits its base ``G...`` account and carries the muxed id as its memo.
"""

from __future__ import annotations

from typing import Sequence

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.errors import ChainError, InvalidTxid, PermanentChainError
from chains.stellar.addresses import normalize_txid
from chains.stellar.common import DECIMALS, asset_of, memo_text, parse_time, reads_node, to_stroops

PAYMENTS = ("payment", "path_payment_strict_send", "path_payment_strict_receive")


def transfers_of(tx: dict, operations: list[dict]) -> tuple[Transfer, ...]:
    """One :class:`Transfer` per payment-type operation, in the transaction's order."""
    memo = memo_text(tx.get("memo_type"), tx.get("memo"))
    out = []
    for index, op in enumerate(operations):
        if op.get("type") not in PAYMENTS:
            continue
        muxed_id = op.get("to_muxed_id")
        out.append(Transfer(index=index, asset=asset_of(op), sender=op.get("from") or op.get("source_account"),
                            recipient=op["to"], amount=to_stroops(op["amount"]),
                            memo=str(muxed_id) if muxed_id not in (None, "") else memo))
    return tuple(out)


class ObserveMixin:
    """Transaction reads of :class:`chains.stellar.adapter.StellarAdapter`."""

    def _operations(self, txid: str) -> list[dict]:
        page = self.horizon.get(f"/transactions/{txid}/operations", {"limit": "200", "order": "asc"})
        return list(page["_embedded"]["records"])

    @reads_node
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        self.check_chain()
        out: dict[str, TxObservation] = {}
        for t in dict.fromkeys(txids):
            try:
                h = normalize_txid(t)
            except InvalidTxid:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")
                continue
            tx = self.horizon.get_or_none(f"/transactions/{h}")
            if tx is None:
                out[t] = TxObservation(txid=h, found=False)
                continue
            ok = bool(tx["successful"])
            transfers = transfers_of(tx, self._operations(h))
            first = transfers[0] if transfers else None
            out[t] = TxObservation(
                txid=h, found=True, success=ok,
                failure_reason=None if ok else f"failed in ledger {tx['ledger']} ({tx.get('result_xdr') or 'no result'})",
                block_number=int(tx["ledger"]), block_hash=None, block_time=parse_time(tx.get("created_at")),
                confirmations=1, sender=tx.get("source_account"), to=first.recipient if first else None,
                transfers=transfers)
        return out

    def tx_status(self, txid: str) -> TxObservation:
        return self.observe([txid])[txid]

    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """``now`` is the recipient's balance in the transfer's asset (7 decimals); ``before``/``after`` stay
        None: Horizon keeps no historic balances."""
        out: list[BalanceProof | ChainError] = []
        for _obs, transfer in items:
            try:
                out.append(self._prove_one(transfer))
            except ChainError as exc:
                out.append(exc)
        return out

    @reads_node
    def _prove_one(self, transfer: Transfer) -> BalanceProof:
        if self.account(transfer.recipient) is None:
            raise PermanentChainError(f"{transfer.recipient} has no account on {self.network.key}",
                                      code="funds_missing", details={"address": transfer.recipient})
        symbol = self.network.native_symbol if transfer.asset == NATIVE else transfer.asset.split(":")[0]
        return BalanceProof(transfer=transfer, before=None, after=None,
                            now=self.balance(transfer.recipient, transfer.asset), decimals=DECIMALS, symbol=symbol,
                            recipient_has_code=False)

    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """None while Horizon still shows the transaction, successful, in its ledger, paying ``amount`` of
        ``asset`` to ``recipient``."""
        obs = self.tx_status(txid)
        if not obs.found:
            return f"transaction {txid} is no longer known to Horizon"
        if not obs.success:
            return f"transaction {txid} failed: {obs.failure_reason}"
        if block_number is not None and obs.block_number != int(block_number):
            return f"transaction {txid} is now in ledger {obs.block_number}, not {block_number}"
        if not [t for t in obs.transfers if (index is None or t.index == index) and t.asset == asset
                and t.recipient == recipient and t.amount == int(amount)]:
            return f"transaction {txid} no longer shows {amount} {asset} to {recipient}"
        return None
