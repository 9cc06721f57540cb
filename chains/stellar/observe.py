"""observe / prove / status / re-check of the Stellar adapter, over Horizon's ``/transactions/{hash}`` and its
``/operations``.

Horizon serves only transactions in closed ledgers, and a closed ledger is final (SCP): what Horizon returns
is in ledger ``ledger`` with 1 confirmation, and nothing else counts.  Transfers are the transaction's
``payment``, ``path_payment_strict_send`` and ``path_payment_strict_receive`` operations (the last named
``path_payment`` in records Horizon wrote before protocol 12), one each, ``index`` the operation's position in
the transaction as its id (a TOID: ledger << 32 | transaction order << 12 | operation order from 1) says, not
its place in the page Horizon answered; ``amount`` is what arrived (the record's ``amount``, which for a path
payment is the destination amount delivered, never ``destination_min`` nor ``source_max``).  A payment to a
muxed ``M...`` address credits its base ``G...`` account and carries the muxed id as its memo.

``scan_incoming`` pages ``/accounts/{id}/payments`` (ascending, from the first operation of ``from_block``,
``join=transactions`` for the memo) and stops past ``to_block``.
"""

from __future__ import annotations

from typing import Sequence

from chains.base import NATIVE, BalanceProof, FoundDeposit, Transfer, TxObservation
from chains.errors import ChainError, InvalidTxid, PermanentChainError
from chains.stellar.addresses import normalize_txid
from chains.stellar.common import DECIMALS, asset_of, memo_text, parse_time, reads_node, to_stroops

PAYMENTS = ("payment", "path_payment_strict_send", "path_payment_strict_receive", "path_payment")
SCAN_PAGE = 200


def op_index(op: dict, position: int) -> int:
    """The operation's index in its transaction: its id's low 12 bits less one (``position`` in the answered
    page only for a record without a numeric id)."""
    try:
        return (int(op["id"]) & 0xFFF) - 1
    except (KeyError, TypeError, ValueError):
        return position


def op_ledger(op: dict) -> int:
    """The ledger of an operation record: its id's high 32 bits."""
    return int(op["id"]) >> 32


def transfer_of(op: dict, memo: str | None, position: int = 0) -> Transfer | None:
    """The :class:`Transfer` of one operation record, None unless a payment-type operation."""
    if op.get("type") not in PAYMENTS:
        return None
    muxed_id = op.get("to_muxed_id")
    return Transfer(index=op_index(op, position), asset=asset_of(op),
                    sender=op.get("from") or op.get("source_account"), recipient=op["to"],
                    amount=to_stroops(op["amount"]), memo=str(muxed_id) if muxed_id not in (None, "") else memo)


def transfers_of(tx: dict, operations: list[dict]) -> tuple[Transfer, ...]:
    """One :class:`Transfer` per payment-type operation, in the transaction's order."""
    memo = memo_text(tx.get("memo_type"), tx.get("memo"))
    out = [t for t in (transfer_of(op, memo, i) for i, op in enumerate(operations)) if t is not None]
    return tuple(sorted(out, key=lambda t: t.index))


def deposits_in_page(records: list[dict], address: str, from_block: int, to_block: int,
                     tx_of) -> tuple[list[FoundDeposit], bool]:
    """The deposits into ``address`` among one ascending page of ``/accounts/{id}/payments`` records in
    ledgers ``from_block..to_block``, and whether a record past ``to_block`` ended the scan.  A record's
    transaction is its joined ``transaction``, else ``tx_of(hash)``; failed ones are left out."""
    out: list[FoundDeposit] = []
    for op in records:
        ledger = op_ledger(op)
        if ledger > to_block:
            return out, True
        if ledger < from_block or op.get("type") not in PAYMENTS or op.get("to") != address:
            continue
        if op.get("transaction_successful") is False:
            continue
        tx = op.get("transaction") or tx_of(op["transaction_hash"])
        if not tx["successful"]:
            continue
        t = transfer_of(op, memo_text(tx.get("memo_type"), tx.get("memo")))
        out.append(FoundDeposit(txid=normalize_txid(op["transaction_hash"]), recipient=t.recipient, asset=t.asset,
                                amount=t.amount, block_number=ledger, index=t.index, sender=t.sender, memo=t.memo))
    return out, False


class ObserveMixin:
    """Transaction reads of :class:`chains.stellar.adapter.StellarAdapter`."""

    def _operations(self, txid: str) -> list[dict]:
        page = self.horizon.get(f"/transactions/{txid}/operations", {"limit": "200", "order": "asc"})
        return list(page["_embedded"]["records"])

    def _tx_of(self, txid: str) -> dict:
        return self.horizon.get(f"/transactions/{txid}")

    @reads_node
    def scan_incoming(self, addresses: Sequence[str], from_block: int, to_block: int, *,
                      progress=None) -> list[FoundDeposit]:
        """Every successful payment into ``addresses`` in ledgers ``from_block..to_block``: Horizon's
        ``/accounts/{id}/payments?order=asc&include_failed=false&join=transactions`` paged by cursor from the
        first operation of ``from_block`` (``from_block << 32``), up to the first record past ``to_block``.
        The memo is the transaction's (joined; fetched when a record comes without it), or the muxed id."""
        self.check_chain()
        found: dict[tuple[str, int], FoundDeposit] = {}
        for n, address in enumerate(dict.fromkeys(addresses), 1):
            cursor = str(max(int(from_block), 0) << 32)
            while True:
                page = self.horizon.get_or_none(f"/accounts/{address}/payments", {
                    "order": "asc", "limit": str(SCAN_PAGE), "include_failed": "false", "join": "transactions",
                    "cursor": cursor})
                records = list(page["_embedded"]["records"]) if page is not None else []
                deposits, done = deposits_in_page(records, address, int(from_block), int(to_block), self._tx_of)
                found.update(((d.txid, d.index), d) for d in deposits)
                if done or len(records) < SCAN_PAGE:
                    break
                cursor = str(records[-1]["paging_token"])
            if progress:
                progress(n)
        return sorted(found.values(), key=lambda d: (d.block_number, d.txid, d.index))

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
