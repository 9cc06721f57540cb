"""observe / prove / status / re-check / scan of the Cosmos adapter: bank transfers as the REST API reports
them (``/cosmos/tx/v1beta1/txs/{hash}``), block facts from ``/cosmos/base/tendermint/v1beta1/blocks/{h}``.

Transfers are the transaction's bank messages: one per coin of each ``MsgSend`` (index = the message's
index when it moves one coin, else ``msg_index * 1000 + k``) and one per coin of each ``MsgMultiSend``
output (``msg_index * 1000 + k``, k counting coins over the outputs).  A failed transaction still lists
them (the domain refuses it by ``success``).  For a successful one each transfer must also be in the
transaction's ``coin_received`` events of its message (SDK 0.50: ``msg_index`` attributes; older nodes:
``logs[i].events``): a transfer the events do not show is left out, so a message the chain did not
execute as written is never credited.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Sequence

from chains.base import NATIVE, BalanceProof, FoundDeposit, Transfer, TxObservation
from chains.cosmos.addresses import normalize_txid
from chains.cosmos.common import asset_of, denom_of, hex_hash, parse_coins, parse_time, reads_node
from chains.cosmos.rest import RestError, classify
from chains.cosmos.txbuild import MSG_MULTI_SEND, MSG_SEND
from chains.errors import ChainError, InvalidTxid

INDEX_BASE = 1000
SCAN_PAGE = 100


def message_transfers(tx: dict, memo: str | None) -> list[tuple[int, int, Transfer]]:
    """``(msg_index, index, Transfer)`` for every coin the body's bank messages move."""
    out = []
    for i, msg in enumerate(tx["body"]["messages"]):
        kind = msg.get("@type")
        if kind == MSG_SEND:
            coins = msg.get("amount") or []
            for k, c in enumerate(coins):
                index = i if len(coins) == 1 else i * INDEX_BASE + k
                out.append((i, index, Transfer(index, c["denom"], msg["from_address"], msg["to_address"],
                                               int(c["amount"]), memo)))
        elif kind == MSG_MULTI_SEND:
            inputs = msg.get("inputs") or []
            sender = inputs[0]["address"] if len(inputs) == 1 else None
            k = 0
            for o in msg.get("outputs") or []:
                for c in o.get("coins") or []:
                    out.append((i, i * INDEX_BASE + k, Transfer(i * INDEX_BASE + k, c["denom"], sender, o["address"],
                                                                int(c["amount"]), memo)))
                    k += 1
    return out


def _received(resp: dict) -> Counter:
    """``(msg_index, receiver, denom, amount)`` of every ``coin_received`` event of the messages."""
    seen: Counter = Counter()
    logs = resp.get("logs") or []
    if logs:  # before SDK 0.50: events grouped per message
        groups = [(int(log.get("msg_index") or 0), log.get("events") or []) for log in logs]
    else:
        groups = [(None, resp.get("events") or [])]
    for msg_index, events in groups:
        for e in events:
            if e.get("type") != "coin_received":
                continue
            attrs = {a.get("key"): a.get("value") for a in e.get("attributes") or []}
            idx = msg_index if msg_index is not None else attrs.get("msg_index")
            if idx is None:
                continue  # the fee's, before any message
            for denom, amount in parse_coins(attrs.get("amount") or ""):
                seen[(int(idx), attrs.get("receiver"), denom, amount)] += 1
    return seen


def transfers_of(answer: dict) -> tuple[Transfer, ...]:
    """The transfers of a REST ``GetTx`` answer (see the module docstring)."""
    tx, resp = answer["tx"], answer["tx_response"]
    memo = tx["body"].get("memo") or None
    found = message_transfers(tx, memo)
    if int(resp.get("code") or 0) != 0:
        return tuple(t for _, _, t in found)
    seen, kept = _received(resp), []
    for msg_index, _, t in found:
        key = (msg_index, t.recipient, t.asset, t.amount)
        if seen[key] > 0:
            seen[key] -= 1
            kept.append(t)
    return tuple(kept)


class ObserveMixin:
    """Transaction reads of :class:`chains.cosmos.adapter.CosmosAdapter`."""

    def _get_tx(self, txid: str) -> dict | None:
        try:
            return self.rest.get(f"/cosmos/tx/v1beta1/txs/{txid}")
        except RestError as err:
            if err.not_found or "not found" in err.node_message.lower():
                return None
            raise classify(err, network=self.network.key) from None

    def _block(self, height: int) -> dict:
        if height not in self._blocks:
            self._blocks[height] = self.rest.get_or_raise(f"/cosmos/base/tendermint/v1beta1/blocks/{int(height)}")
        return self._blocks[height]

    @reads_node
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        self.check_chain()
        out: dict[str, TxObservation] = {}
        latest = None
        for t in dict.fromkeys(txids):
            try:
                h = normalize_txid(t)
            except InvalidTxid:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")
                continue
            answer = self._get_tx(h)
            if answer is None:
                out[t] = TxObservation(txid=h, found=False)
                continue
            if latest is None:
                latest = self.latest_block()
            out[t] = self._observation(h, answer, latest)
        return out

    def _observation(self, txid: str, answer: dict, latest: int) -> TxObservation:
        resp, body = answer["tx_response"], answer["tx"]["body"]
        height = int(resp["height"])
        block = self._block(height)
        code = int(resp.get("code") or 0)
        first = (body.get("messages") or [{}])[0]
        transfers = transfers_of(answer) if code == 0 else tuple(t for _, _, t in message_transfers(
            answer["tx"], body.get("memo") or None))
        transfers = tuple(replace(t, asset=asset_of(self.network, t.asset)) for t in transfers)
        return TxObservation(
            txid=txid, found=True, success=code == 0,
            failure_reason=None if code == 0 else (f"code {code} ({resp.get('codespace') or 'sdk'}): "
                                                   f"{resp.get('raw_log') or 'failed'}"),
            block_number=height, block_hash=hex_hash(block["block_id"]["hash"]),
            block_time=parse_time(block["block"]["header"].get("time")),
            confirmations=max(0, latest - height + 1),
            sender=first.get("from_address") or next((t.sender for t in transfers if t.sender), None),
            to=first.get("to_address"), transfers=transfers)

    def tx_status(self, txid: str) -> TxObservation:
        return self.observe([txid])[txid]

    # -- prove -----------------------------------------------------------------------------------
    def asset_info(self, denom: str) -> tuple[int, str | None]:
        """``(decimals, symbol)`` of a denomination: the network file's native coin or listed token, else
        the bank module's metadata (the display unit's exponent), else ``(0, None)``."""
        net = self.network
        if denom in (NATIVE, net.cosmos.native_denom):
            return net.native_decimals, net.native_symbol
        token = net.listed_token(denom)
        if token is not None:
            return token.decimals, token.symbol
        if denom not in self._denoms:
            try:
                meta = self.rest.get("/cosmos/bank/v1beta1/denoms_metadata_by_query_string",
                                     {"denom": denom})["metadata"]
                exponent = {u["denom"]: int(u.get("exponent") or 0) for u in meta.get("denom_units") or []}
                self._denoms[denom] = (exponent.get(meta.get("display"), 0), meta.get("symbol") or None)
            except RestError as err:
                if not (err.not_found or "metadata" in err.node_message.lower()):
                    raise classify(err, network=net.key) from None
                self._denoms[denom] = (0, None)
        return self._denoms[denom]

    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """``now`` is the recipient's bank balance in the transfer's denomination; ``before``/``after`` stay
        None (historic balances need an archive node's ``x-cosmos-block-height``, which pruned nodes lack)."""
        out: list[BalanceProof | ChainError] = []
        for _obs, transfer in items:
            try:
                out.append(self._prove_one(transfer))
            except ChainError as exc:
                out.append(exc)
        return out

    @reads_node
    def _prove_one(self, transfer: Transfer) -> BalanceProof:
        denom = denom_of(self.network, transfer.asset)
        decimals, symbol = self.asset_info(denom)
        return BalanceProof(transfer=transfer, before=None, after=None, now=self.balance(transfer.recipient, denom),
                            decimals=decimals, symbol=symbol, recipient_has_code=False)

    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """None while the transaction is still known, successful and moving ``amount`` of ``asset`` to
        ``recipient`` (CometBFT blocks are final: a found transaction is not reorganised away)."""
        obs = self.tx_status(txid)
        if not obs.found:
            return f"transaction {txid} is no longer known to the node"
        if not obs.success:
            return f"transaction {txid} failed: {obs.failure_reason}"
        if block_number is not None and obs.block_number != int(block_number):
            return f"transaction {txid} is now in block {obs.block_number}, not {block_number}"
        denom = denom_of(self.network, asset)
        match = [t for t in obs.transfers if (index is None or t.index == index)
                 and denom_of(self.network, t.asset) == denom
                 and self.same_address(t.recipient, recipient) and t.amount == int(amount)]
        if not match:
            return f"transaction {txid} no longer shows {amount} {denom} to {recipient}"
        return None

    # -- scan ------------------------------------------------------------------------------------
    @reads_node
    def scan_incoming(self, addresses: Sequence[str], from_block: int, to_block: int, *,
                      progress=None) -> list[FoundDeposit]:
        """Every successful bank transfer into ``addresses`` in heights ``from_block..to_block``, found by the
        node's tx index (``query=transfer.recipient='ADDR' AND tx.height>=A AND tx.height<=B``: SDK 0.50
        takes ``query``, not ``events``), page by page."""
        self.check_chain()
        wanted = {self.address_key(a): a for a in addresses}
        found: dict[tuple[str, int], FoundDeposit] = {}
        for n, address in enumerate(wanted.values(), 1):
            query = f"transfer.recipient='{address}' AND tx.height>={int(from_block)} AND tx.height<={int(to_block)}"
            page = 1
            while True:
                answer = self.rest.get_or_raise("/cosmos/tx/v1beta1/txs", {
                    "query": query, "page": str(page), "limit": str(SCAN_PAGE), "order_by": "ORDER_BY_ASC"})
                for tx, resp in zip(answer.get("txs") or [], answer.get("tx_responses") or []):
                    if int(resp.get("code") or 0) != 0:
                        continue
                    for t in transfers_of({"tx": tx, "tx_response": resp}):
                        if self.address_key(t.recipient) in wanted:
                            key = (resp["txhash"].upper(), t.index)
                            found[key] = FoundDeposit(txid=key[0], recipient=t.recipient,
                                                      asset=asset_of(self.network, t.asset),
                                                      amount=t.amount, block_number=int(resp["height"]),
                                                      index=t.index, sender=t.sender, memo=t.memo)
                total = int(answer.get("total") or 0)
                if not answer.get("tx_responses") or page * SCAN_PAGE >= total:
                    break
                page += 1
            if progress:
                progress(n)
        return sorted(found.values(), key=lambda d: (d.block_number, d.txid, d.index))
