"""UTXO reads: transactions, output proofs and the pre-sign re-check, over the node's JSON-RPC
(Bitcoin Core dialect: ``getrawtransaction`` verbose with ``txindex``, ``getblockheader``,
``gettxout``), batched through :class:`chains.transport.JsonRpcClient`.

A deposit is one transaction output: ``Transfer.index`` is its ``vout``, ``asset`` is ``NATIVE``,
``amount`` in base units converted exactly from the node's decimal text.  :meth:`ObserveMixin.prove`
reads ``gettxout(txid, vout, include_mempool=True)``: unspent -> ``before=0, after=value,
now=value``; spent -> ``now=0`` (``now`` is summed over the claimed outputs of one transaction to
one address, so the service's ``now < total`` check means "an output is spent").  An output below
``[utxo] dust_limit`` gives ``PermanentChainError`` code ``below_dust`` in its place.

A node's error answer is classified by :func:`chains.transport.classify` (``-5``: not found), never
retried; only transport failures are retryable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.errors import ChainError, InvalidAddress, NetworkConfigError, PermanentChainError
from chains.transport import RpcError, classify
from chains.utxo.plan import is_dust
from chains.utxo.tx import output_script

__all__ = ["ObserveMixin", "UtxoBalanceProof", "NODE_TYPES", "addresses_of", "TXID_RE"]

TXID_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_TXID = TXID_RE
# scriptPubKey "type" from the node -> our script family
NODE_TYPES = {
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "p2wpkh",
    "witness_v0_scripthash": "p2wsh",
    "witness_v1_taproot": "p2tr",
    "pubkey": "p2pk",
    "multisig": "multisig",
    "nulldata": "nulldata",
}
_NODE_TYPES = NODE_TYPES


@dataclass(frozen=True)
class UtxoBalanceProof(BalanceProof):
    """A ``BalanceProof`` of one output with what the service should keep about it
    (``details``: ``script_type``, ``txid``, ``vout``, ``value``, ``unspent``)."""

    details: dict = field(default_factory=dict)


def addresses_of(spk: dict) -> list[str]:
    if spk.get("address"):
        return [spk["address"]]
    return list(spk.get("addresses") or [])


_addresses_of = addresses_of


class ObserveMixin:
    """Reads of :class:`chains.utxo.adapter.UtxoAdapter` (needs ``client``, ``network``, ``opts``,
    ``address_network``, ``decimals``, ``_units``)."""

    def _node_error(self, method: str, err: RpcError) -> ChainError:
        return classify(err, method=method, network=self.network.key)

    def _call(self, method: str, params: list | None = None) -> Any:
        try:
            return self.client.call(method, params or [])
        except RpcError as err:
            raise self._node_error(method, err) from None

    def check_chain(self) -> None:
        """Refuse a node of another chain kind (``getblockchaininfo.chain``): a regtest network needs a
        regtest node and a main network a main node.  Checked once."""
        if self._chain_checked:
            return
        info = self._call("getblockchaininfo")
        chain = str(info.get("chain", ""))
        want_regtest = self.address_network.endswith("regtest") or self.network.devnet
        want_test = self.address_network.endswith("testnet")
        ok = (chain == "regtest") if want_regtest else (chain == "test") if want_test else (chain == "main")
        if not ok:
            raise NetworkConfigError(
                f"{self.network.key}: the node in rpc_urls serves the '{chain}' chain, not the one of "
                f"{self.address_network}: check rpc_urls", code="wrong_chain",
                details={"network": self.network.key, "key": "rpc_urls", "chain": chain})
        self._chain_checked = True


    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        """Transactions with block, confirmations and their outputs as transfers (two batches).
        ``sender`` is the first input's address (its previous output, read in the second batch)."""
        self.check_chain()
        out: dict[str, TxObservation] = {}
        valid: list[str] = []
        for t in dict.fromkeys(txids):
            if isinstance(t, str) and _TXID.match(t):
                valid.append(t)
            else:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")
        calls = [("getblockcount", [])] + [("getrawtransaction", [t.lower(), True]) for t in valid]
        res = self.client.batch(calls)
        if isinstance(res[0], RpcError):
            raise self._node_error("getblockcount", res[0])
        txs = dict(zip(valid, res[1:]))
        second: list[tuple[str, list]] = []
        idx: dict[tuple, int] = {}

        def add(method: str, params: list) -> int:
            key = (method, json.dumps(params))
            if key not in idx:
                idx[key] = len(second)
                second.append((method, params))
            return idx[key]

        for t, tx in txs.items():
            if isinstance(tx, dict):
                if tx.get("blockhash"):
                    add("getblockheader", [tx["blockhash"], True])
                vin = tx.get("vin") or []
                if vin and "txid" in vin[0]:
                    add("getrawtransaction", [vin[0]["txid"], True])
        res2 = self.client.batch(second) if second else []
        for t in valid:
            tx = txs[t]
            if isinstance(tx, RpcError):
                if tx.code == -5:  # no such mempool or blockchain transaction
                    out[t] = TxObservation(txid=t, found=False)
                else:
                    out[t] = TxObservation(txid=t, found=False, failure_reason=f"node_error: {tx.message}")
                continue
            if tx is None:
                out[t] = TxObservation(txid=t, found=False)
                continue
            header = None
            if tx.get("blockhash"):
                h = res2[idx[("getblockheader", json.dumps([tx["blockhash"], True]))]]
                header = h if isinstance(h, dict) else None
            sender = None
            vin = tx.get("vin") or []
            if vin and "txid" in vin[0]:
                prev = res2[idx[("getrawtransaction", json.dumps([vin[0]["txid"], True]))]]
                if isinstance(prev, dict):
                    outs = prev.get("vout") or []
                    n = int(vin[0].get("vout", -1))
                    if 0 <= n < len(outs):
                        addrs = _addresses_of(outs[n].get("scriptPubKey") or {})
                        sender = addrs[0] if len(addrs) == 1 else None
            out[t] = self._observation(t, tx, header, sender)
        return {t: out[t] for t in txids}

    def _observation(self, txid: str, tx: dict, header: dict | None, sender: str | None) -> TxObservation:
        transfers = []
        for o in tx.get("vout") or []:
            addrs = _addresses_of(o.get("scriptPubKey") or {})
            if len(addrs) != 1:
                continue  # OP_RETURN, bare multisig, non-standard
            transfers.append(Transfer(index=int(o["n"]), asset=NATIVE, sender=sender, recipient=addrs[0],
                                      amount=self._units(o["value"])))
        confirmations = int(tx.get("confirmations") or 0)
        if not tx.get("blockhash") or confirmations <= 0:
            return TxObservation(txid=txid, found=True, success=None, confirmations=0, sender=sender,
                                 transfers=tuple(transfers))
        block_time = tx.get("blocktime") or (header or {}).get("time")
        return TxObservation(
            txid=txid, found=True, success=True, block_number=int(header["height"]) if header else None,
            block_hash=tx["blockhash"],
            block_time=datetime.fromtimestamp(int(block_time), tz=timezone.utc) if block_time else None,
            confirmations=confirmations, sender=sender, to=None, transfers=tuple(transfers))

    def tx_status(self, txid: str) -> TxObservation:
        return self.observe([txid])[txid]

    # -- prove -----------------------------------------------------------------------------------
    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """One ``gettxout`` per output, all in one batch.  ``now`` of a proof is the unspent value of
        all the items of the same transaction and recipient (an address "balance" restricted to the
        claimed outputs), so one spent output makes ``now`` fall below the claimed total."""
        self.check_chain()
        calls = [("gettxout", [obs.txid.lower(), int(tr.index), True]) for obs, tr in items]
        res = self.client.batch(calls) if calls else []
        per: list[tuple[int, str | None, ChainError | None]] = []  # (unspent value, script type, error)
        for (obs, tr), r in zip(items, res):
            try:
                per.append((*self._txout_fact(obs, tr, r), None))
            except ChainError as exc:
                per.append((0, None, exc))
        groups: dict[tuple[str, str], int] = {}
        for (obs, tr), (value, _st, err) in zip(items, per):
            if err is None:
                key = (obs.txid.lower(), tr.recipient)
                groups[key] = groups.get(key, 0) + value
        out: list[BalanceProof | ChainError] = []
        for (obs, tr), (value, st, err) in zip(items, per):
            if err is not None:
                out.append(err)
                continue
            out.append(UtxoBalanceProof(
                transfer=tr, before=0, after=tr.amount, now=groups[(obs.txid.lower(), tr.recipient)],
                decimals=self.decimals, symbol=self.network.native_symbol, recipient_has_code=False,
                details={"script_type": st, "txid": obs.txid.lower(), "vout": int(tr.index),
                         "value": str(tr.amount), "unspent": value > 0}))
        return out

    def _txout_fact(self, obs: TxObservation, tr: Transfer, r: Any) -> tuple[int, str | None]:
        if tr.asset != NATIVE or tr.index < 0:
            raise PermanentChainError(f"{self.network.key} has no tokens: only native outputs can be proven",
                                      code="not_an_output")
        if isinstance(r, RpcError):
            raise self._node_error("gettxout", r)
        if is_dust(tr.amount, self.network):
            raise PermanentChainError(
                f"output {obs.txid}:{tr.index} holds {tr.amount} base units, below the dust limit of "
                f"{self.opts.dust_limit}: spending it costs more than it is worth (unrecoverable)",
                code="below_dust", details={"amount": str(tr.amount), "dust_limit": str(self.opts.dust_limit)})
        if r is None:  # spent (or never existed): nothing left to sweep
            st = self._script_type_from_address(tr.recipient)
            return 0, st
        spk = r.get("scriptPubKey") or {}
        addrs = _addresses_of(spk)
        value = self._units(r["value"])
        if addrs != [tr.recipient] or value != tr.amount:
            raise PermanentChainError(
                f"output {obs.txid}:{tr.index} pays {value} to {addrs}, not {tr.amount} to {tr.recipient}",
                code="output_mismatch")
        return value, _NODE_TYPES.get(spk.get("type"), spk.get("type"))

    def _script_type_from_address(self, address: str) -> str | None:
        try:
            return output_script(address, self.address_network)[1]
        except InvalidAddress:
            return None


    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """Is the deposit still there?  Its block still canonical (same hash at that height, the
        transaction still in it) and its output(s) still unspent.  Without ``index``, every output of
        the transaction paying ``amount`` to ``recipient`` must be unspent."""
        self.check_chain()
        calls = [("getrawtransaction", [txid.lower(), True])]
        if block_number is not None:
            calls.append(("getblockhash", [int(block_number)]))
        res = self.client.batch(calls)
        tx = res[0]
        if isinstance(tx, RpcError):
            if tx.code == -5:
                return f"transaction {txid} is no longer known to the node (reorganised away?)"
            raise self._node_error("getrawtransaction", tx)
        if block_number is not None:
            bh = res[1]
            if isinstance(bh, RpcError) or (block_hash and str(bh).lower() != block_hash.lower()):
                return f"block {block_number} that held the deposit is no longer canonical (reorganised away)"
            if str(tx.get("blockhash") or "").lower() != str(bh).lower():
                return f"transaction {txid} is no longer in block {block_number} (reorganised away)"
        outs = [o for o in tx.get("vout") or []
                if _addresses_of(o.get("scriptPubKey") or {}) == [recipient]
                and (index is None or int(o["n"]) == int(index))]
        if index is None:
            outs = [o for o in outs if self._units(o["value"]) == amount]
        if not outs:
            return f"transaction {txid} has no output of {amount} to {recipient}"
        spent = self.client.batch([("gettxout", [txid.lower(), int(o["n"]), True]) for o in outs])
        for o, r in zip(outs, spent):
            if isinstance(r, RpcError):
                raise self._node_error("gettxout", r)
            if r is None:
                return f"output {txid}:{o['n']} to {recipient} has been spent: the funds have moved"
        return None

