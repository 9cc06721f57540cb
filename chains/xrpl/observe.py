"""observe / prove / status / re-check of the XRPL adapter, read with rippled's ``tx``, ``account_info`` and
``account_lines``.

A deposit is a ``Payment`` whose amount is ``meta.delivered_amount``: never ``Amount``, which a partial
payment (``tfPartialPayment``) claims but need not deliver (the "partial payments exploit").  A payment in
a ledger older than 2014-01-20 has no ``delivered_amount`` (rippled says ``"unavailable"``): it is refused,
not guessed.  Only a *validated* ledger counts: a transaction the node knows in an open or closed ledger
is found with ``block_number`` None (the domain says "unconfirmed"); a validated one is final
(``confirmations`` 1).  The memo is the ``DestinationTag`` as text (None without one).
"""

from __future__ import annotations

from typing import Sequence

from chains.assets import NATIVE
from chains.base import BalanceProof, FoundDeposit, Transfer, TxObservation
from chains.errors import ChainError, InvalidTxid, PermanentChainError
from chains.xrpl.addresses import normalize_txid
from chains.xrpl.common import IOU_DECIMALS, amount_of, reads_node, ripple_time
from chains.xrpl.rpc import call, call_or_none

UNAVAILABLE = "unavailable"
SCAN_PAGE = 200


def tx_fields(answer: dict) -> dict:
    """The transaction's own fields of a ``tx`` answer (API v2 nests them in ``tx_json``, v1 does not)."""
    return answer.get("tx_json") or answer


def observation(txid: str, answer: dict) -> TxObservation:
    """A ``tx`` answer as a :class:`TxObservation` (pure; see the module docstring)."""
    tx, meta = tx_fields(answer), answer.get("meta") or answer.get("metaData")
    validated = bool(answer.get("validated")) and isinstance(meta, dict)
    if not validated:
        return TxObservation(txid=txid, found=True, sender=tx.get("Account"), to=tx.get("Destination"))
    result = meta.get("TransactionResult")
    ok = result == "tesSUCCESS"
    transfers: tuple[Transfer, ...] = ()
    if tx.get("TransactionType") == "Payment" and tx.get("Destination"):
        delivered = meta.get("delivered_amount", meta.get("DeliveredAmount"))
        tag = tx.get("DestinationTag")
        memo = None if tag is None else str(int(tag))
        if delivered is None or delivered == UNAVAILABLE:
            if ok:
                raise PermanentChainError(
                    f"transaction {txid}: the node cannot say what it delivered (delivered_amount unavailable: a "
                    "ledger before 2014-01-20); its Amount is not proof of payment",
                    details={"txid": txid})
            claimed = tx.get("Amount", tx.get("DeliverMax"))
            asset, amount = amount_of(claimed) if claimed is not None else (NATIVE, 0)
        else:
            asset, amount = amount_of(delivered)
        transfers = (Transfer(0, asset, tx.get("Account"), tx["Destination"], amount, memo),)
    ledger = answer.get("ledger_index", tx.get("ledger_index"))
    return TxObservation(
        txid=txid, found=True, success=ok, failure_reason=None if ok else f"{result}",
        block_number=int(ledger), block_hash=answer.get("ledger_hash"),
        block_time=ripple_time(tx.get("date", answer.get("date"))), confirmations=1,
        sender=tx.get("Account"), to=tx.get("Destination"), transfers=transfers)


class ObserveMixin:
    """Transaction reads of :class:`chains.xrpl.adapter.XrplAdapter`."""

    @reads_node
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        out: dict[str, TxObservation] = {}
        for t in dict.fromkeys(txids):
            try:
                h = normalize_txid(t)
            except InvalidTxid:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")
                continue
            answer = call_or_none(self.rpc, "tx", transaction=h, binary=False)
            out[t] = TxObservation(txid=h, found=False) if answer is None else observation(h, answer)
        return out

    def tx_status(self, txid: str) -> TxObservation:
        return self.observe([txid])[txid]

    # -- prove -----------------------------------------------------------------------------------
    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """``now`` is the recipient's balance (XRP: ``account_info``; an issued currency: its trust line
        with the issuer); ``before``/``after`` stay None (the ledger's transaction is itself final)."""
        out: list[BalanceProof | ChainError] = []
        for _obs, transfer in items:
            try:
                out.append(self._prove_one(transfer))
            except ChainError as exc:
                out.append(exc)
        return out

    @reads_node
    def _prove_one(self, transfer: Transfer) -> BalanceProof:
        if transfer.asset == NATIVE:
            now, decimals, symbol = self.native_balance(transfer.recipient), self.network.native_decimals, \
                self.network.native_symbol
        else:
            now, decimals, symbol = self.line_balance(transfer.recipient, transfer.asset), IOU_DECIMALS, \
                transfer.asset.split(".")[0]
        return BalanceProof(transfer=transfer, before=None, after=None, now=now, decimals=decimals, symbol=symbol,
                            recipient_has_code=False)

    @reads_node
    def line_balance(self, address: str, asset: str) -> int:
        """Units (10^-15) of issued currency ``asset`` (``CUR.issuer``) that ``address`` holds now."""
        currency, issuer = asset.split(".", 1)
        answer = call(self.rpc, "account_lines", account=address, peer=issuer, ledger_index="validated")
        for line in answer.get("lines") or []:
            if line.get("currency") == currency and line.get("account") == issuer:
                return max(0, amount_of({"currency": currency, "issuer": issuer, "value": line["balance"]})[1])
        return 0

    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """None while the transaction is still validated, successful, delivering ``amount`` of ``asset`` to
        ``recipient`` (validated ledgers are final)."""
        obs = self.tx_status(txid)
        if not obs.found or obs.block_number is None:
            return f"transaction {txid} is no longer in a validated ledger of the node"
        if not obs.success:
            return f"transaction {txid} failed: {obs.failure_reason}"
        if block_number is not None and obs.block_number != int(block_number):
            return f"transaction {txid} is now in ledger {obs.block_number}, not {block_number}"
        if not any(t.asset == asset and t.recipient == recipient and t.amount == int(amount) for t in obs.transfers):
            return f"transaction {txid} no longer shows {amount} {asset} delivered to {recipient}"
        return None

    # -- scan ------------------------------------------------------------------------------------
    @reads_node
    def scan_incoming(self, addresses: Sequence[str], from_block: int, to_block: int, *,
                      progress=None) -> list[FoundDeposit]:
        """Every successful payment into ``addresses`` in validated ledgers ``from_block..to_block``, by
        ``account_tx`` page by page (its ``marker``), at its delivered amount with its tag as the memo.  A
        payment whose delivered amount the node cannot say is left out: it cannot be proven either."""
        found: dict[tuple[str, int], FoundDeposit] = {}
        for n, address in enumerate(dict.fromkeys(addresses), 1):
            marker = None
            while True:
                params = {"account": address, "ledger_index_min": int(from_block), "ledger_index_max": int(to_block),
                          "forward": True, "limit": SCAN_PAGE}
                if marker is not None:
                    params["marker"] = marker
                answer = call(self.rpc, "account_tx", **params)
                for item in answer.get("transactions") or []:
                    tx = tx_fields(item)
                    h = str(item.get("hash") or tx.get("hash") or "").upper()
                    if not h or tx.get("Destination") != address or not item.get("validated"):
                        continue
                    try:
                        obs = observation(h, {**item, "ledger_index": item.get("ledger_index", tx.get("ledger_index"))})
                    except PermanentChainError:
                        continue  # delivered_amount unavailable
                    for t in obs.transfers if obs.success else ():
                        found[(h, t.index)] = FoundDeposit(txid=h, recipient=t.recipient, asset=t.asset,
                                                           amount=t.amount, block_number=obs.block_number,
                                                           index=t.index, sender=t.sender, memo=t.memo)
                marker = answer.get("marker")
                if not marker:
                    break
            if progress:
                progress(n)
        return sorted(found.values(), key=lambda d: (d.block_number, d.txid, d.index))
