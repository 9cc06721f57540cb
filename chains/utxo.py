"""UTXO chain adapter (Bitcoin, Litecoin, Dogecoin, Dash; Bitcoin Cash/SV as fork chains).

Reads go to the node's JSON-RPC (Bitcoin Core dialect: ``getrawtransaction`` verbose with
``txindex``, ``getblockheader``, ``gettxout``, ``estimatesmartfee``, ``testmempoolaccept``,
``sendrawtransaction``) through :class:`chains.rpc.RpcClient` batches (retries, failover); the
client here parses JSON numbers as ``Decimal`` (never float) and never shows the RPC password.
The node URL carries basic auth: ``http://user:password@host:port``.

Deposits
--------
A deposit is one transaction output: ``Transfer.index`` is its ``vout``, ``asset`` is ``NATIVE``,
``amount`` in base units converted exactly from the node's decimal text.  :meth:`UtxoAdapter.prove`
reads ``gettxout(txid, vout, include_mempool=True)``: unspent -> ``before=0, after=value,
now=value``; spent -> ``now=0`` (``now`` is summed over the claimed outputs of one transaction to
one address, so the service's ``now < total`` check means "an output is spent").  An output below
``[utxo] dust_limit`` gives ``PermanentChainError`` code ``below_dust`` in its place
(:func:`is_dust` is the pure check).  The proof is a :class:`UtxoBalanceProof`: a ``BalanceProof``
with ``details`` (``script_type``, ``txid``, ``vout``, ``value``).

Cost and plan
-------------
Fee rate: ``estimatesmartfee`` (sat/vB, rounded up), at least the mempool minimum, clamped to
``[fee_rate_floor, fee_rate_ceiling]`` (regtest has no estimate: the floor).  The size is the
worst-case vsize of the exact inputs (their script types) and two outputs (net + fee), with
72-byte signatures: the real transaction is never larger, so ``native_cost = fee_rate * vsize`` is
the exact network fee of the plan and the effective rate is never below the quoted one.
A fee output below the dust limit is *folded*: the transaction has only the net output and the fee
goes to the miners (``params["fee_folded"]`` and :func:`fee_is_folded` say so; the plan's meta
carries ``fee_folded``, ``folded_fee`` and ``network_fee_paid``).

One step, role ``sweep``: spend exactly ``request.outputs`` (amounts and scripts from the node),
pay ``net`` to the destination and ``fee_total`` to the fee collector, no change.  ``step.tx``
holds the inputs, outputs and the unsigned transaction hex; :meth:`UtxoAdapter.export_psbt` gives
the BIP-174 PSBT for an offline signer and :meth:`UtxoAdapter.check_signed` checks what comes
back.

Simulation: ``testmempoolaccept`` needs a signed transaction, so :meth:`prepare` and
:meth:`simulate` check that every input is still unspent with the planned value and script and that
the node parses the unsigned transaction, and :meth:`sign` runs ``testmempoolaccept`` on the signed
bytes before returning them (``PermanentChainError`` ``simulation_failed`` with the node's reject
reason).  bitcoinlib builds and signs; it does not refresh the txid/size after ``sign()`` and trusts
the input values it is given, so the txid is computed from the raw bytes here and the values are
re-read from the node before signing.

Fork chains
-----------
On a ``[utxo] fork_id`` network (Bitcoin Cash, Bitcoin SV) :meth:`UtxoAdapter.sign` signs every
input with SIGHASH_ALL|SIGHASH_FORKID (:mod:`chains.forkid`: the BIP-143 style digest committing to
the spent value; bitcash's key primitive signs), P2PKH inputs only (``PermanentChainError``
``unsupported_script_type`` otherwise), verifies the signatures locally, and has the node check the
bytes: ``testmempoolaccept`` where the node has it (Bitcoin Cash Node), else ``verifyscript`` on
every input plus the size check here (Bitcoin SV has no ``testmempoolaccept``).  ``can(FORK_SIGNING)``
is true only there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import requests

import chains.utxo_networks  # noqa: F401  (registers litecoin_regtest, dash in bitcoinlib)
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
    InvalidAddress,
    PermanentChainError,
    RetryableChainError,
    SignerMismatch,
    SweepRefused,
)
from chains.rpc import RpcClient, RpcError, _Transient

__all__ = [
    "UtxoAdapter",
    "UtxoBalanceProof",
    "BitcoindRpcClient",
    "is_dust",
    "fee_is_folded",
    "tx_vsize",
    "parse_tx",
    "txid_of_raw",
    "script_for_address",
    "build_unsigned_tx",
    "PARAMS_VERSION",
]

PARAMS_VERSION = 1
SEQUENCE_FINAL = 0xFFFFFFFF
TX_VERSION = 2
FEE_CONF_TARGET = 6
_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
# scriptPubKey "type" from the node -> our script family
_NODE_TYPES = {
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "p2wpkh",
    "witness_v0_scripthash": "p2wsh",
    "witness_v1_taproot": "p2tr",
    "pubkey": "p2pk",
    "multisig": "multisig",
    "nulldata": "nulldata",
}
SPENDABLE = ("p2pkh", "p2sh-p2wpkh", "p2wpkh")

# -- sizes (bytes / weight units); signatures at their 72-byte DER maximum + sighash byte -----------
_SIG_PUSH = 1 + 73
_PUB_PUSH = 1 + 33
_INPUT_BASE = 32 + 4 + 4  # outpoint + sequence
_INPUT_SIZES = {  # (non-witness bytes incl. script length varint, witness bytes)
    "p2pkh": (_INPUT_BASE + 1 + _SIG_PUSH + _PUB_PUSH, 0),
    "p2sh-p2wpkh": (_INPUT_BASE + 1 + 23, 1 + _SIG_PUSH + _PUB_PUSH),
    "p2wpkh": (_INPUT_BASE + 1, 1 + _SIG_PUSH + _PUB_PUSH),
}


def _varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5 if n <= 0xFFFFFFFF else 9


def tx_vsize(input_types: Sequence[str], output_scripts: Sequence[bytes]) -> int:
    """Worst-case virtual size of a transaction spending ``input_types`` to ``output_scripts``."""
    if not input_types:
        raise ValueError("a transaction needs inputs")
    base = 4 + 4 + _varint_len(len(input_types)) + _varint_len(len(output_scripts))
    witness = 0
    for t in input_types:
        if t not in _INPUT_SIZES:
            raise ValueError(f"cannot spend a {t} input")
        nw, w = _INPUT_SIZES[t]
        base += nw
        witness += w
    for s in output_scripts:
        base += 8 + _varint_len(len(s)) + len(s)
    if witness:
        witness += 2  # marker + flag
        witness += sum(1 for t in input_types if _INPUT_SIZES[t][1] == 0)  # empty witness of legacy inputs
    weight = 4 * base + witness
    return -(-weight // 4)


def is_dust(amount: int, network: NetworkConfig) -> bool:
    """Is an output of ``amount`` base units below the network's dust limit (unrecoverable)?"""
    return amount < network.utxo_options.dust_limit


def fee_is_folded(params: dict, fee_total: int) -> bool:
    """Does a plan at ``params`` (from :meth:`UtxoAdapter.estimate_cost`) fold a recovery fee of
    ``fee_total`` into the network fee (fee output below the dust limit: no fee output)?"""
    return fee_total < int(params["dust_limit"])


# -- serialization ------------------------------------------------------------------------------------
def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated transaction")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xFD:
            return first
        return int.from_bytes(self.take({0xFD: 2, 0xFE: 4, 0xFF: 8}[first]), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")


def _hex_bytes(raw: str | bytes) -> bytes:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    s = raw.strip()
    s = s[2:] if s.startswith("0x") else s
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise ValueError("not a hex-encoded transaction") from None


def parse_tx(raw: str | bytes) -> dict:
    """Decode a serialized transaction: version, inputs (txid, vout, script_sig, sequence, witness),
    outputs (value, script), locktime, ``segwit`` and ``txid`` (of the non-witness serialization)."""
    data = _hex_bytes(raw)
    r = _Reader(data)
    version = r.u32()
    segwit = False
    if r.data[r.pos:r.pos + 2] == b"\x00\x01":
        segwit = True
        r.take(2)
    inputs = []
    for _ in range(r.varint()):
        prev = r.take(32)[::-1].hex()
        vout = r.u32()
        script = r.take(r.varint())
        seq = r.u32()
        inputs.append({"txid": prev, "vout": vout, "script_sig": script.hex(), "sequence": seq, "witness": []})
    outputs = []
    for _ in range(r.varint()):
        value = int.from_bytes(r.take(8), "little")
        script = r.take(r.varint())
        outputs.append({"value": value, "script": script.hex()})
    if segwit:
        for inp in inputs:
            inp["witness"] = [r.take(r.varint()).hex() for _ in range(r.varint())]
    locktime = r.u32()
    if r.pos != len(data):
        raise ValueError("trailing bytes after the transaction")
    if not inputs:
        raise ValueError("a transaction without inputs")
    stripped = _serialize(version, inputs, outputs, locktime, with_scripts=True)
    return {"version": version, "segwit": segwit, "inputs": inputs, "outputs": outputs, "locktime": locktime,
            "txid": _sha256d(stripped)[::-1].hex(), "size": len(data)}


def _serialize(version: int, inputs: list[dict], outputs: list[dict], locktime: int, *,
               with_scripts: bool) -> bytes:
    out = version.to_bytes(4, "little") + _varint(len(inputs))
    for i in inputs:
        script = bytes.fromhex(i.get("script_sig", "")) if with_scripts else b""
        out += bytes.fromhex(i["txid"])[::-1] + int(i["vout"]).to_bytes(4, "little") + _varint(len(script)) + script
        out += int(i.get("sequence", SEQUENCE_FINAL)).to_bytes(4, "little")
    out += _varint(len(outputs))
    for o in outputs:
        script = bytes.fromhex(o["script"])
        out += int(o["value"]).to_bytes(8, "little") + _varint(len(script)) + script
    return out + locktime.to_bytes(4, "little")


def txid_of_raw(raw: str | bytes) -> str:
    """The txid of serialized transaction bytes: double SHA-256 of the non-witness serialization."""
    return parse_tx(raw)["txid"]


def build_unsigned_tx(inputs: Sequence[dict], outputs: Sequence[dict], *, version: int = TX_VERSION,
                      locktime: int = 0) -> str:
    """Unsigned transaction hex (empty scriptSigs, no witness): ``inputs`` have txid/vout/sequence,
    ``outputs`` amount/script_pubkey (hex)."""
    ins = [{"txid": i["txid"], "vout": int(i["vout"]), "sequence": int(i.get("sequence", SEQUENCE_FINAL))}
           for i in inputs]
    outs = [{"value": int(o["amount"]), "script": o["script_pubkey"]} for o in outputs]
    return _serialize(version, ins, outs, locktime, with_scripts=False).hex()


def script_for_address(address: str, network: str) -> tuple[bytes, str]:
    """The locking script of ``address`` on the bitcoinlib ``network`` and its type
    (p2pkh, p2sh, p2wpkh, p2wsh, p2tr).  Raises ``InvalidAddress``."""
    from bitcoinlib.keys import deserialize_address

    try:
        info = deserialize_address(address, network=network)
    except Exception as exc:
        raise InvalidAddress(f"{address!r} is not a {network} address: {exc}") from None
    h = info["public_key_hash_bytes"]
    st = info["script_type"]
    if info["encoding"] == "base58":
        if st == "p2pkh" and len(h) == 20:
            return b"\x76\xa9\x14" + h + b"\x88\xac", "p2pkh"
        if st == "p2sh" and len(h) == 20:
            return b"\xa9\x14" + h + b"\x87", "p2sh"
    else:
        if network not in (info.get("networks") or []):
            raise InvalidAddress(f"{address!r} is not a {network} address")
        if st == "p2wpkh" and len(h) == 20:
            return b"\x00\x14" + h, "p2wpkh"
        if st == "p2wsh" and len(h) == 32:
            return b"\x00\x20" + h, "p2wsh"
        if st == "p2tr" and len(h) == 32:
            return b"\x51\x20" + h, "p2tr"
    raise InvalidAddress(f"{address!r}: unsupported address type {st}")


# -- RPC ---------------------------------------------------------------------------------------------
def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


class BitcoindRpcClient(RpcClient):
    """:class:`RpcClient` for bitcoind-family nodes: JSON numbers parse as ``Decimal`` (amounts are
    exact), basic auth from the URL (``requests`` takes it from ``user:pass@``), and error messages
    show URLs without their password."""

    def _send(self, url: str, body: str) -> Any:
        self.http_requests += 1
        try:
            resp = self._session.post(url, data=body, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(type(exc).__name__) from None
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        if resp.status_code in (401, 403):
            raise _Transient(f"HTTP {resp.status_code}: the node refused the RPC credentials in the URL")
        try:
            answer = json.loads(resp.content, parse_float=Decimal)
        except ValueError:
            raise _Transient(f"HTTP {resp.status_code}, body is not JSON") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            ok = (isinstance(answer, list) and all(isinstance(a, dict) and ("result" in a or "error" in a)
                                                   for a in answer)) or \
                 (isinstance(answer, dict) and ("result" in answer or "error" in answer) and answer.get("error"))
            if not ok:
                raise _Transient(f"HTTP {resp.status_code}")
        return answer

    def _post(self, body: str) -> Any:
        try:
            return super()._post(body)
        except RetryableChainError as exc:
            urls = [_redact(u) for u in self.urls]
            failures = [_redact_text(f, self.urls) for f in exc.details.get("failures", [])]
            raise RetryableChainError(
                f"node unreachable after {self.retries} attempt(s) per URL; tried {', '.join(urls)} "
                f"({'; '.join(failures)})", details={"urls": urls, "failures": failures}) from None


def _redact_text(text: str, urls: Sequence[str]) -> str:
    for u in urls:
        text = text.replace(u, _redact(u))
    return text


def _node_error(method: str, err: RpcError) -> RetryableChainError:
    return RetryableChainError(f"node error on {method}: {err.message}", code="node_error",
                               details={"method": method, "rpc_code": err.code})


@dataclass(frozen=True)
class UtxoBalanceProof(BalanceProof):
    """A ``BalanceProof`` of one output with what the service should keep about it
    (``details``: ``script_type``, ``txid``, ``vout``, ``value``, ``unspent``)."""

    details: dict = field(default_factory=dict)


def _addresses_of(spk: dict) -> list[str]:
    if spk.get("address"):
        return [spk["address"]]
    return list(spk.get("addresses") or [])


# -- the adapter -----------------------------------------------------------------------------------------
class UtxoAdapter(ChainAdapter):
    family = "utxo"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,
        Capability.SIMULATION,
        Capability.BATCH_VERIFY,
        Capability.OFFLINE_EXPORT,
        Capability.FORK_SIGNING,  # only for ``[utxo] fork_id`` networks: see :meth:`can`
    })

    def can(self, capability: Capability) -> bool:
        """``FORK_SIGNING`` (SIGHASH_FORKID, :mod:`chains.forkid`) only on a fork-chain network."""
        if capability is Capability.FORK_SIGNING:
            return bool(self.opts.fork_id)
        return super().can(capability)

    def __init__(self, network: NetworkConfig, *, client: RpcClient | None = None):
        super().__init__(network)
        self.opts = network.utxo_options
        self.address_network = self.opts.address_network
        self.decimals = network.native_decimals
        self.client = client or BitcoindRpcClient(network.rpc_urls)
        self._chain_checked = False

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, params: list | None = None) -> Any:
        try:
            return self.client.call(method, params or [])
        except RpcError as err:
            raise _node_error(method, err) from None

    def _units(self, value: Any) -> int:
        """A node amount (Decimal, or its text) -> base units, exactly (never through float)."""
        if isinstance(value, float):  # a client that parsed floats: refuse to guess
            raise PermanentChainError("the node amount was parsed as a float; refusing to round money",
                                      code="float_amount")
        d = Decimal(str(value)).scaleb(self.decimals)
        if d != d.to_integral_value():
            raise PermanentChainError(f"amount {value} has more than {self.decimals} decimals", code="bad_amount")
        return int(d)

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
            raise PermanentChainError(
                f"{self.network.key}: the node serves the '{chain}' chain, not the one of "
                f"{self.address_network}", code="wrong_chain", details={"chain": chain})
        self._chain_checked = True

    def validate(self, address: str, *, what: str = "address") -> str:
        from chains.addresses import validate_utxo_address

        return validate_utxo_address(address, self.address_network, what=what, legacy_only=self.opts.fork_id)

    # -- observe ---------------------------------------------------------------------------------
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
            raise _node_error("getblockcount", res[0])
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
    def prove(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof]:
        results = self.prove_each(items)
        for r in results:
            if isinstance(r, ChainError):
                raise r
        return results  # type: ignore[return-value]

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
            raise _node_error("gettxout", r)
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
            return script_for_address(address, self.address_network)[1]
        except InvalidAddress:
            return None

    # -- inputs and cost ---------------------------------------------------------------------------
    def _input_script_type(self, node_type: str | None, claimed: str | None, path: str | None) -> str:
        from chains.utxo_keys import script_type_for_path

        t = _NODE_TYPES.get(node_type or "", node_type)
        if t in ("p2pkh", "p2wpkh"):
            return t
        if t in ("p2sh", "p2sh-p2wpkh"):
            purpose = None
            try:
                purpose = script_type_for_path(path) if path else None
            except ValueError:
                purpose = None
            if (claimed or "").replace("_", "-") == "p2sh-p2wpkh" or purpose == "p2sh-p2wpkh":
                return "p2sh-p2wpkh"
            raise SweepRefused("a P2SH deposit output can only be swept as P2SH-P2WPKH (BIP-49 path)",
                               code="unsupported_script_type", details={"script_type": t})
        raise SweepRefused(f"cannot sweep a {t} output (supported: {', '.join(SPENDABLE)})",
                           code="unsupported_script_type", details={"script_type": t})

    def _outpoints(self, request: SweepRequest) -> list[dict]:
        if request.asset != NATIVE:
            raise SweepRefused(f"{self.network.key} has no tokens", code="not_native")
        if not request.outputs:
            raise SweepRefused("a UTXO sweep needs the exact outputs to spend (SweepRequest.outputs)",
                               code="no_outputs")
        seen = set()
        out = []
        for o in request.outputs:
            txid, index = str(o["txid"]).lower(), int(o["index"])
            if not _TXID.match(txid) or index < 0:
                raise SweepRefused(f"bad output reference {o!r}", code="bad_output")
            if (txid, index) in seen:
                raise SweepRefused(f"output {txid}:{index} is listed twice", code="bad_output")
            seen.add((txid, index))
            out.append({"txid": txid, "vout": index, "claimed_amount": o.get("amount"),
                        "claimed_script_type": o.get("script_type")})
        return out

    def _read_inputs(self, request: SweepRequest, refs: list[dict], extra: Sequence[tuple[str, list]] = ()
                     ) -> tuple[list[dict], list[Any]]:
        """``gettxout`` of each referenced output (amounts and scripts from the node) -> inputs."""
        calls = [("gettxout", [r["txid"], r["vout"], True]) for r in refs] + list(extra)
        res = self.client.batch(calls)
        inputs = []
        for r, txo in zip(refs, res[:len(refs)]):
            if isinstance(txo, RpcError):
                raise _node_error("gettxout", txo)
            if txo is None:
                raise PermanentChainError(f"output {r['txid']}:{r['vout']} is spent or unknown: nothing to sweep",
                                          code="funds_missing", details={"txid": r["txid"], "vout": r["vout"]})
            spk = txo.get("scriptPubKey") or {}
            addrs = _addresses_of(spk)
            if addrs != [request.deposit_address]:
                raise PermanentChainError(
                    f"output {r['txid']}:{r['vout']} pays {addrs}, not the deposit address {request.deposit_address}",
                    code="not_deposit_output")
            amount = self._units(txo["value"])
            if r["claimed_amount"] is not None and int(r["claimed_amount"]) != amount:
                raise SweepRefused(f"output {r['txid']}:{r['vout']} holds {amount}, not the {r['claimed_amount']} "
                                   "recorded", code="amounts_mismatch")
            if int(txo.get("confirmations") or 0) < 1:
                raise PermanentChainError(f"output {r['txid']}:{r['vout']} is not confirmed", code="unconfirmed")
            st = self._input_script_type(spk.get("type"), r["claimed_script_type"], request.deposit_path)
            inputs.append({"txid": r["txid"], "vout": r["vout"], "amount": str(amount),
                           "address": request.deposit_address, "script_type": st, "script_pubkey": spk["hex"],
                           "sequence": SEQUENCE_FINAL})
        if len({i["script_type"] for i in inputs}) != 1:
            raise SweepRefused("the outputs to spend have different script types", code="mixed_script_types")
        return inputs, res[len(refs):]

    def _fee_rate(self, estimate: Any, mempool: Any) -> tuple[int, str]:
        """Base units per vbyte: the estimate (rounded up), at least the mempool minimum and the
        floor, at most the ceiling; and where it came from."""
        scale = Decimal(10) ** self.decimals / 1000  # coin/kvB -> base units/vB
        est = None
        if isinstance(estimate, dict) and estimate.get("feerate") is not None:
            est = math.ceil(Decimal(str(estimate["feerate"])) * scale)
        minimum = 0
        if isinstance(mempool, dict) and mempool.get("mempoolminfee") is not None:
            minimum = math.ceil(Decimal(str(mempool["mempoolminfee"])) * scale)
        floor, ceiling = self.opts.fee_rate_floor, self.opts.fee_rate_ceiling
        rate = max(est or 0, minimum, floor)
        if est is not None and rate == est:
            source = "estimatesmartfee"
        elif rate == minimum and minimum > floor:
            source = "mempool_minimum"
        else:
            source = "floor"
        if rate > ceiling:
            rate, source = ceiling, "ceiling"
        return rate, source

    def _output_scripts(self, request: SweepRequest) -> tuple[bytes, bytes]:
        dest = self._script(request.destination, "destination")
        fee = self._script(request.fee_collector, "fee_collector")
        return dest, fee

    def _script(self, address: str, what: str) -> bytes:
        try:
            self.validate(address, what=what)
            script, st = script_for_address(address, self.address_network)
        except InvalidAddress as exc:
            raise SweepRefused(str(exc), code="invalid_address", details={"what": what}) from None
        if self.opts.fork_id and st not in ("p2pkh", "p2sh"):
            raise SweepRefused(f"the {what} {address} is not a legacy address", code="invalid_address")
        return script

    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        """Fee rate x worst-case vsize of spending exactly ``request.outputs`` to two outputs."""
        self.check_chain()
        if request.cost_mode != "deduct":
            raise SweepRefused("a UTXO sweep pays its network fee from the deposit itself: only the "
                               "'deduct' network cost mode is possible", code="cost_mode_unsupported")
        refs = self._outpoints(request)
        dest_script, fee_script = self._output_scripts(request)
        inputs, (estimate, mempool) = self._read_inputs(
            request, refs, [("estimatesmartfee", [FEE_CONF_TARGET]), ("getmempoolinfo", [])])
        if isinstance(mempool, RpcError):
            raise _node_error("getmempoolinfo", mempool)
        rate, source = self._fee_rate(estimate, mempool)
        types = [i["script_type"] for i in inputs]
        vsize = tx_vsize(types, [dest_script, fee_script])
        vsize_folded = tx_vsize(types, [dest_script])
        params = {
            "version": PARAMS_VERSION,
            "kind": "utxo",
            "fee_rate": str(rate),  # base units per vbyte
            "fee_rate_source": source,
            "vsize": vsize,  # worst case with the fee output; the plan never exceeds it
            "vsize_without_fee_output": vsize_folded,
            "inputs": [f"{i['txid']}:{i['vout']}" for i in inputs],
            "input_script_type": types[0],
            "destination_script": dest_script.hex(),
            "fee_collector_script": fee_script.hex(),
            "dust_limit": str(self.opts.dust_limit),
            "fee_folded": request.fee_total < self.opts.dust_limit,
            "fork_id": self.opts.fork_id,
        }
        return CostEstimate(native_cost=rate * vsize, params=params)

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        self.check_chain()
        params = cost.params
        if int(params.get("version", 0)) != PARAMS_VERSION or params.get("kind") != "utxo":
            raise SweepRefused("the quote's cost parameters are from another version: re-quote", code="requote")
        rate, vsize = int(params["fee_rate"]), int(params["vsize"])
        if rate * vsize != cost.native_cost:
            raise SweepRefused("the quote's native cost does not match its parameters: re-quote", code="requote")
        if request.cost_mode != "deduct":
            raise SweepRefused("only the 'deduct' network cost mode is possible on a UTXO network",
                               code="cost_mode_unsupported")
        if request.net < 0 or request.fee_total < 0 or request.gross - request.net - request.fee_total != cost.native_cost:
            raise SweepRefused(
                f"amounts do not add up: gross {request.gross} - net {request.net} - fee {request.fee_total} != "
                f"network cost {cost.native_cost}", code="amounts_mismatch")
        refs = self._outpoints(request)
        if [f"{r['txid']}:{r['vout']}" for r in refs] != list(params.get("inputs") or []):
            raise SweepRefused("the quote was for other outputs: re-quote", code="requote")
        dest_script, fee_script = self._output_scripts(request)
        inputs, _ = self._read_inputs(request, refs)
        if tx_vsize([i["script_type"] for i in inputs], [dest_script, fee_script]) > vsize:
            raise SweepRefused("the transaction would be larger than quoted (other destination or input types): "
                               "re-quote", code="requote")
        held = sum(int(i["amount"]) for i in inputs)
        if held != request.gross:
            raise SweepRefused(f"the outputs hold {held} base units, not the {request.gross} quoted",
                               code="amounts_mismatch", details={"held": str(held), "gross": str(request.gross)})
        plan = build_utxo_plan(network=self.network, request=request, params=params, inputs=inputs,
                               dest_script=dest_script, fee_script=fee_script)
        return self.simulate(plan)

    # -- simulate --------------------------------------------------------------------------------
    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """Before signing: every input still unspent with the planned value and script, the node
        parses the unsigned transaction, the outputs are above dust and the fee is the planned one.
        (``testmempoolaccept`` runs on the signed bytes in :meth:`sign`.)"""
        self.check_chain()
        checked = []
        for step in plan.steps:
            tx = step.tx
            calls = [("gettxout", [i["txid"], int(i["vout"]), True]) for i in tx["inputs"]]
            calls.append(("decoderawtransaction", [tx["unsigned_hex"]]))
            res = self.client.batch(calls)
            for i, txo in zip(tx["inputs"], res):
                if isinstance(txo, RpcError):
                    raise _node_error("gettxout", txo)
                if txo is None:
                    raise PermanentChainError(f"input {i['txid']}:{i['vout']} is spent or unknown",
                                              code="simulation_failed",
                                              details={"reason": "input spent", "input": f"{i['txid']}:{i['vout']}"})
                if self._units(txo["value"]) != int(i["amount"]) or txo["scriptPubKey"]["hex"] != i["script_pubkey"]:
                    raise PermanentChainError(f"input {i['txid']}:{i['vout']} is not the output planned",
                                              code="simulation_failed", details={"reason": "input changed"})
            decoded = res[-1]
            if isinstance(decoded, RpcError):
                raise PermanentChainError(f"the node cannot decode the unsigned transaction: {decoded.message}",
                                          code="simulation_failed", details={"reason": decoded.message})
            fee = sum(int(i["amount"]) for i in tx["inputs"]) - sum(int(o["amount"]) for o in tx["outputs"])
            if fee != int(tx["fee"]) or any(int(o["amount"]) < self.opts.dust_limit for o in tx["outputs"]):
                raise PermanentChainError("the plan's amounts are inconsistent", code="simulation_failed")
            checked.append(replace(step, simulation={
                "ok": True, "inputs_unspent": True, "decoded_txid": decoded.get("txid"),
                "testmempoolaccept": "runs on the signed transaction at sign time"}))
        return replace(plan, steps=tuple(checked))

    # -- sign ------------------------------------------------------------------------------------
    def sign(self, plan: SweepPlan, key_for_path: Callable[[str], Any]) -> list[str]:
        """Sign every step with bitcoinlib; check the key controls the inputs' address, the input
        values against the node, the signed bytes against the plan, and ``testmempoolaccept``."""
        from chains.utxo_keys import as_utxo_key

        if plan.family != "utxo" or plan.network != self.network.key:
            raise SweepRefused("this plan is not for this UTXO network", code="wrong_chain")
        raws = []
        for step in plan.steps:
            tx = step.tx
            if bool(tx.get("fork_id")) != bool(self.opts.fork_id):
                raise SweepRefused("the plan's fork_id does not match this network's", code="wrong_chain")
            if self.opts.fork_id:
                raws.append(self._sign_forkid(plan, step, key_for_path))
                continue
            st = tx["inputs"][0]["script_type"]
            key = as_utxo_key(key_for_path(step.signer_path), self.address_network, st)
            if key.address != step.signer_address or any(i["address"] != key.address for i in tx["inputs"]):
                raise SignerMismatch(
                    f"the key derived at {step.signer_path} controls {key.address} ({st}), not "
                    f"{step.signer_address}", details={"path": step.signer_path, "expected": step.signer_address,
                                                      "derived": key.address})
            self.simulate(replace(plan, steps=(step,)))  # values and scripts re-read from the node
            raw = _sign_with_bitcoinlib(tx, key, self.address_network)
            problem = signed_differs(tx, raw)
            if problem:
                raise PermanentChainError(f"the signed transaction differs from the plan: {problem}",
                                          code="simulation_failed", details={"reason": problem})
            self._testmempoolaccept(raw, tx)
            raws.append(raw)
        return raws

    # -- fork chains (Bitcoin Cash, Bitcoin SV): SIGHASH_FORKID ------------------------------------
    def _sign_forkid(self, plan: SweepPlan, step: PlanStep, key_for_path: Callable[[str], Any]) -> str:
        """Sign a fork-chain step: every input P2PKH, SIGHASH_ALL|SIGHASH_FORKID over the BIP-143 style
        digest that commits to each spent output's value (re-read from the node by :meth:`simulate`
        first); verified locally, compared with the plan, and checked by the node
        (:meth:`_testmempoolaccept`: ``testmempoolaccept``, or ``verifyscript`` on nodes without it)."""
        from chains.forkid import sign_p2pkh_forkid, verify_p2pkh_forkid
        from chains.utxo_keys import as_utxo_key

        tx = step.tx
        bad = sorted({i["script_type"] for i in tx["inputs"] if i["script_type"] != "p2pkh"})
        if bad:
            raise PermanentChainError(
                f"{self.network.key}: SIGHASH_FORKID signing spends legacy P2PKH outputs only, not {', '.join(bad)} "
                "(a fork chain has no segwit)", code="unsupported_script_type", details={"script_types": bad})
        key = as_utxo_key(key_for_path(step.signer_path), self.address_network, "p2pkh")
        if key.address != step.signer_address or any(i["address"] != key.address for i in tx["inputs"]):
            raise SignerMismatch(
                f"the key derived at {step.signer_path} controls {key.address} (p2pkh), not {step.signer_address}",
                details={"path": step.signer_path, "expected": step.signer_address, "derived": key.address})
        own_script = script_for_address(key.address, self.address_network)[0].hex()
        if any(i["script_pubkey"] != own_script for i in tx["inputs"]):
            raise SignerMismatch("an input is not locked to the key's P2PKH script",
                                 details={"path": step.signer_path, "expected": step.signer_address})
        self.simulate(replace(plan, steps=(step,)))  # values and scripts re-read from the node
        amounts = [int(i["amount"]) for i in tx["inputs"]]
        try:
            raw = sign_p2pkh_forkid(tx["unsigned_hex"], amounts, key.secret)
        except ValueError as exc:
            raise PermanentChainError(f"SIGHASH_FORKID signing failed: {exc}", code="signing_failed") from None
        prevouts = [(a, bytes.fromhex(i["script_pubkey"])) for a, i in zip(amounts, tx["inputs"])]
        problems = verify_p2pkh_forkid(raw, prevouts)
        if problems:
            raise PermanentChainError(f"the FORKID signatures do not verify: {'; '.join(problems)}",
                                      code="signing_failed", details={"problems": problems})
        problem = signed_differs(tx, raw)
        if problem:
            raise PermanentChainError(f"the signed transaction differs from the plan: {problem}",
                                      code="simulation_failed", details={"reason": problem})
        self._testmempoolaccept(raw, tx)
        return raw

    def _forkid_node_check(self, raw: str, tx: dict) -> dict:
        """A fork chain's node acceptance check.  Bitcoin Cash Node has ``testmempoolaccept``; Bitcoin SV
        has not (``Method not found``), so there every input's script is run by ``verifyscript`` (with
        the node's consensus flags at the tip, which require SIGHASH_FORKID) and the size and fee are
        checked here."""
        try:
            res = self.client.call("testmempoolaccept", [[raw]])
        except RpcError as err:
            if err.code != -32601:  # anything but "method not found"
                raise _node_error("testmempoolaccept", err) from None
        else:
            return self._accept_result(res[0], tx)
        n_inputs = len(parse_tx(raw)["inputs"])
        try:
            results = self.client.call("verifyscript", [[{"tx": raw, "n": n} for n in range(n_inputs)], False])
        except RpcError as err:
            raise PermanentChainError(
                f"the node has neither testmempoolaccept nor verifyscript ({err.message}): cannot check the "
                "signed sweep", code="simulation_failed", details={"reason": "no_simulation_rpc"}) from None
        bad = [f"input {n}: {r.get('result')} {r.get('description') or ''}".strip()
               for n, r in enumerate(results or []) if r.get("result") != "ok"]
        if len(results or []) != n_inputs or bad:
            reason = "; ".join(bad) or "verifyscript answered for another number of inputs"
            raise PermanentChainError(f"verifyscript rejects the sweep: {reason}", code="simulation_failed",
                                      details={"reason": reason, "txid": txid_of_raw(raw)})
        size = len(_hex_bytes(raw))
        if size > int(tx["vsize_max"]):
            raise PermanentChainError(f"the signed sweep is {size} B, larger than the {tx['vsize_max']} B quoted",
                                      code="simulation_failed", details={"reason": "vsize"})
        return {"txid": txid_of_raw(raw), "allowed": True, "size": size, "checked_by": "verifyscript"}

    def _testmempoolaccept(self, raw: str, tx: dict) -> dict:
        if self.opts.fork_id:
            return self._forkid_node_check(raw, tx)
        return self._accept_result(self._call("testmempoolaccept", [[raw]])[0], tx)

    def _accept_result(self, res: dict, tx: dict) -> dict:
        if not res.get("allowed"):
            reason = res.get("reject-reason") or "rejected"
            if reason in ("txn-already-in-mempool", "txn-already-known", "txn-already-in-chain"):
                return res
            raise PermanentChainError(f"testmempoolaccept rejects the sweep: {reason}", code="simulation_failed",
                                      details={"reason": reason, "txid": res.get("txid")})
        vsize = res.get("vsize")
        if vsize is not None and int(vsize) > int(tx["vsize_max"]):
            raise PermanentChainError(f"the signed sweep is {vsize} vB, larger than the {tx['vsize_max']} vB quoted",
                                      code="simulation_failed", details={"reason": "vsize"})
        fees = (res.get("fees") or {}).get("base")
        if fees is not None and self._units(fees) != int(tx["fee"]):
            raise PermanentChainError("the node computes another fee than the plan's", code="simulation_failed")
        return res

    # -- offline signing -------------------------------------------------------------------------
    def export_psbt(self, plan: SweepPlan) -> str:
        """BIP-174 PSBT (base64) of the plan's single sweep step, for an offline signer: the unsigned
        transaction; per input the previous output (``witness_utxo`` for segwit inputs, the full previous
        transaction for P2PKH) and SIGHASH_ALL."""
        if len(plan.steps) != 1:
            raise SweepRefused("a UTXO plan has one step", code="bad_plan")
        tx = plan.steps[0].tx
        prevs = {}
        legacy = [i["txid"] for i in tx["inputs"] if i["script_type"] == "p2pkh"]
        if legacy:
            res = self.client.batch([("getrawtransaction", [t, False]) for t in dict.fromkeys(legacy)])
            for t, r in zip(dict.fromkeys(legacy), res):
                if isinstance(r, RpcError):
                    raise _node_error("getrawtransaction", r)
                if parse_tx(r)["txid"] != t:
                    raise PermanentChainError("the node returned another previous transaction", code="bad_prevtx")
                prevs[t] = r
        return build_psbt(tx, prevs)

    def check_signed(self, plan: SweepPlan, raws: Sequence[str]) -> list[str]:
        """An offline-signed import: each raw must spend exactly the plan's inputs to exactly its outputs
        (and pass ``testmempoolaccept``).  Returns the txids; raises ``SweepRefused`` ``signed_differs``."""
        if len(raws) != len(plan.steps):
            raise SweepRefused(f"{len(raws)} signed transactions for a plan of {len(plan.steps)} steps",
                               code="signed_differs")
        txids = []
        for step, raw in zip(plan.steps, raws):
            problem = signed_differs(step.tx, raw)
            if problem:
                raise SweepRefused(f"the signed transaction differs from the approved plan: {problem}",
                                   code="signed_differs", details={"reason": problem})
            try:
                self._testmempoolaccept(raw, step.tx)
            except PermanentChainError as exc:
                raise SweepRefused(f"the signed transaction is not valid: {exc}", code="signed_invalid",
                                   details=exc.details) from None
            txids.append(txid_of_raw(raw))
        return txids

    # -- send / track ----------------------------------------------------------------------------
    def txid_of(self, raw: str) -> str:
        return txid_of_raw(raw)

    def broadcast(self, raw: str) -> str:
        txid = txid_of_raw(raw)
        try:
            got = self.client.call("sendrawtransaction", [_hex_bytes(raw).hex()])
            if isinstance(got, str) and got.lower() != txid:
                raise PermanentChainError(f"the node reports txid {got} for {txid}", code="txid_mismatch")
            return txid
        except RpcError as err:
            msg = (err.message or "").lower()
            if any(s in msg for s in ("already in block chain", "txn-already-known", "txn-already-in-mempool",
                                      "already in the mempool", "transaction already in block chain",
                                      "already-in-chain", "outputs already in utxo set")):
                return txid
            try:
                known = self.client.call("getrawtransaction", [txid, False])
            except RpcError:
                known = None
            if known:
                return txid
            raise PermanentChainError(f"the node rejected transaction {txid}: {err.message}",
                                      code="broadcast_rejected", details={"txid": txid, "rpc_code": err.code}) from None

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
            raise _node_error("getrawtransaction", tx)
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
                raise _node_error("gettxout", r)
            if r is None:
                return f"output {txid}:{o['n']} to {recipient} has been spent: the funds have moved"
        return None


# -- the pure plan builder ---------------------------------------------------------------------------------
def build_utxo_plan(*, network: NetworkConfig, request: SweepRequest, params: dict, inputs: list[dict],
                    dest_script: bytes, fee_script: bytes) -> SweepPlan:
    """The unsigned sweep plan: ``inputs`` (from the node) to ``net`` at the destination and
    ``fee_total`` at the fee collector (folded into the network fee when below dust).  Pure."""
    opts = network.utxo_options
    rate, vsize = int(params["fee_rate"]), int(params["vsize"])
    native_cost = rate * vsize
    gross = sum(int(i["amount"]) for i in inputs)
    if gross != request.gross or request.gross - request.net - request.fee_total != native_cost:
        raise SweepRefused("amounts do not add up to the quoted network cost", code="amounts_mismatch")
    if request.net < opts.dust_limit:
        raise SweepRefused(f"the user would get {request.net} base units, below the dust limit {opts.dust_limit}",
                           code="net_below_dust")
    folded = request.fee_total < opts.dust_limit
    outputs = [{"role": "net", "address": request.destination, "amount": str(request.net),
                "script_pubkey": dest_script.hex()}]
    if not folded:
        outputs.append({"role": "fee", "address": request.fee_collector, "amount": str(request.fee_total),
                        "script_pubkey": fee_script.hex()})
    types = [i["script_type"] for i in inputs]
    vsize_max = tx_vsize(types, [bytes.fromhex(o["script_pubkey"]) for o in outputs])
    if vsize_max > vsize:  # pragma: no cover - the quote always assumed the larger transaction
        raise SweepRefused("the transaction would be larger than quoted: re-quote", code="requote")
    fee = gross - sum(int(o["amount"]) for o in outputs)
    unsigned = build_unsigned_tx(inputs, outputs)
    tx = {
        "format": "utxo-sweep/1",
        "network": opts.address_network,
        "version": TX_VERSION,
        "locktime": 0,
        "fork_id": opts.fork_id,
        "inputs": inputs,
        "outputs": outputs,
        "fee": str(fee),
        "fee_rate": str(rate),
        "vsize_max": vsize_max,
        "unsigned_hex": unsigned,
        "unsigned_txid": txid_of_raw(unsigned),
    }
    step = PlanStep(seq=0, role="sweep", signer_address=request.deposit_address, signer_path=request.deposit_path,
                    tx=tx)
    return SweepPlan(
        network=network.key, family="utxo", case_id=request.case_id, asset=NATIVE, gross=request.gross,
        net=request.net, fee_total=request.fee_total, native_cost=native_cost, destination=request.destination,
        fee_collector=request.fee_collector, steps=(step,),
        meta={"fee_rate": str(rate), "vsize": vsize, "fee_folded": folded,
              "folded_fee": str(request.fee_total if folded else 0), "network_fee_paid": str(fee),
              "script_type": types[0], "fork_id": opts.fork_id},
    )


def signed_differs(tx: dict, raw: str) -> str | None:
    """Why signed ``raw`` is not the plan step ``tx`` (same inputs in order, same outputs, same
    version/locktime/sequences), or None."""
    try:
        p = parse_tx(raw)
    except ValueError as exc:
        return f"not a transaction ({exc})"
    want_in = [(i["txid"], int(i["vout"]), int(i.get("sequence", SEQUENCE_FINAL))) for i in tx["inputs"]]
    got_in = [(i["txid"], i["vout"], i["sequence"]) for i in p["inputs"]]
    if want_in != got_in:
        return "it spends other inputs"
    want_out = [(int(o["amount"]), o["script_pubkey"]) for o in tx["outputs"]]
    got_out = [(o["value"], o["script"]) for o in p["outputs"]]
    if want_out != got_out:
        return "it pays other outputs or amounts"
    if p["version"] != int(tx["version"]) or p["locktime"] != int(tx["locktime"]):
        return "other version or locktime"
    if p["txid"] == txid_of_raw(tx["unsigned_hex"]) and not any(i["script_sig"] or i["witness"] for i in p["inputs"]):
        return "it is not signed"
    return None


def _sign_with_bitcoinlib(tx: dict, key, network: str) -> str:
    from bitcoinlib.transactions import Transaction

    st = tx["inputs"][0]["script_type"]
    witness_type = {"p2pkh": "legacy", "p2sh-p2wpkh": "p2sh-segwit", "p2wpkh": "segwit"}[st]
    script_type = {"p2pkh": "sig_pubkey", "p2sh-p2wpkh": "p2sh_p2wpkh", "p2wpkh": "sig_pubkey"}[st]
    t = Transaction(network=network, witness_type="legacy" if st == "p2pkh" else "segwit",
                    version=int(tx["version"]), locktime=int(tx["locktime"]))
    for i in tx["inputs"]:
        t.add_input(i["txid"], int(i["vout"]), keys=key.public_hex, value=int(i["amount"]),
                    witness_type=witness_type, script_type=script_type, sequence=int(i["sequence"]))
    for o in tx["outputs"]:
        t.add_output(int(o["amount"]), lock_script=bytes.fromhex(o["script_pubkey"]))
    t.sign(key.bitcoinlib_key())
    if not t.verify():
        raise PermanentChainError("bitcoinlib could not produce valid signatures", code="signing_failed")
    return t.raw_hex()


# -- PSBT (BIP-174) ---------------------------------------------------------------------------------------
PSBT_MAGIC = b"psbt\xff"


def _kv(key: bytes, value: bytes) -> bytes:
    return _varint(len(key)) + key + _varint(len(value)) + value


def build_psbt(tx: dict, prev_txs: dict[str, str]) -> str:
    """A BIP-174 PSBT (base64) of plan step ``tx``; ``prev_txs`` holds the raw previous transactions
    of P2PKH inputs (required there by BIP-174)."""
    out = PSBT_MAGIC + _kv(b"\x00", bytes.fromhex(tx["unsigned_hex"])) + b"\x00"
    sighash = (0x41 if tx.get("fork_id") else 0x01).to_bytes(4, "little")
    for i in tx["inputs"]:
        if i["script_type"] == "p2pkh":
            out += _kv(b"\x00", bytes.fromhex(prev_txs[i["txid"]]))
        else:
            spk = bytes.fromhex(i["script_pubkey"])
            out += _kv(b"\x01", int(i["amount"]).to_bytes(8, "little") + _varint(len(spk)) + spk)
        out += _kv(b"\x03", sighash)
        out += b"\x00"
    for _ in tx["outputs"]:
        out += b"\x00"
    return base64.b64encode(out).decode()


def parse_psbt(psbt: str | bytes) -> dict:
    """Decode a PSBT (base64 or raw bytes): ``{"tx": unsigned hex, "inputs": [{type: value hex}],
    "outputs": [...]}``; keys are the hex of the whole key (type byte + key data)."""
    data = psbt if isinstance(psbt, (bytes, bytearray)) else base64.b64decode(psbt)
    r = _Reader(bytes(data))
    if r.take(5) != PSBT_MAGIC:
        raise ValueError("not a PSBT")

    def read_map() -> dict[str, str]:
        m = {}
        while True:
            klen = r.varint()
            if klen == 0:
                return m
            key = r.take(klen)
            m[key.hex()] = r.take(r.varint()).hex()

    glob = read_map()
    unsigned = glob.get("00")
    if unsigned is None:
        raise ValueError("PSBT without an unsigned transaction")
    p = parse_tx(unsigned)
    inputs = [read_map() for _ in p["inputs"]]
    outputs = [read_map() for _ in p["outputs"]]
    return {"tx": unsigned, "global": glob, "inputs": inputs, "outputs": outputs}


def finalize_psbt(psbt: str | bytes) -> str:
    """The signed transaction hex of a finalized PSBT (final scriptSig 0x07 / scriptWitness 0x08 on
    every input), as an offline signer returns it."""
    d = parse_psbt(psbt)
    p = parse_tx(d["tx"])
    witness_any = False
    for inp, m in zip(p["inputs"], d["inputs"]):
        if "07" not in m and "08" not in m:
            raise ValueError("the PSBT is not finalized (an input has no final scriptSig/scriptWitness)")
        inp["script_sig"] = m.get("07", "")
        wit = []
        if "08" in m:
            wr = _Reader(bytes.fromhex(m["08"]))
            wit = [wr.take(wr.varint()).hex() for _ in range(wr.varint())]
            witness_any = witness_any or bool(wit)
        inp["witness"] = wit
    body = _serialize(p["version"], p["inputs"], p["outputs"], p["locktime"], with_scripts=True)
    if not witness_any:
        return body.hex()
    head = p["version"].to_bytes(4, "little") + b"\x00\x01"
    mid = body[4:-4]
    wits = b"".join(_varint(len(i["witness"])) + b"".join(_varint(len(bytes.fromhex(w))) + bytes.fromhex(w)
                                                          for w in i["witness"]) for i in p["inputs"])
    return (head + mid + wits + p["locktime"].to_bytes(4, "little")).hex()
