"""UTXO chain adapter (Bitcoin, Litecoin, Dogecoin, Dash; Bitcoin Cash/SV as fork chains): the class
that wires the package together.

* :mod:`chains.utxo.observe`: reads (observe, prove, tx status, the pre-sign re-check);
* :mod:`chains.utxo.plan`: the pure plan builder, fee rate and size rule, plan rows for people;
* :mod:`chains.utxo.tx`: bitcoinlib transactions (build, parse, txid, scripts, worst-case vsize);
* :mod:`chains.utxo.sign`: signing, node acceptance checks, offline export/import, broadcast;
* :mod:`chains.utxo.psbt` (embit), :mod:`chains.utxo.forkid` (SIGHASH_FORKID),
  :mod:`chains.utxo.keys` (BIP-32 keys, signmessage), :mod:`chains.utxo.networks` (bitcoinlib
  network definitions, registered lazily).

Node calls go through :class:`chains.transport.JsonRpcClient` (``parse_float=Decimal``: amounts are
exact; credentials in the URL are redacted from every message; HTTP 401/403 is a configuration error)
and a node's error answer is classified by :func:`chains.transport.classify`.  The URL carries basic
auth: ``http://user:password@host:port``.

One step, role ``sweep``: spend exactly ``request.outputs`` (amounts and scripts from the node), pay
``net`` to the destination and ``fee_total`` to the fee collector (folded into the network fee when
below dust), no change.  Simulation: ``testmempoolaccept`` needs a signed transaction, so
:meth:`prepare` and :meth:`simulate` check that every input is still unspent with the planned value
and script and that the node parses the unsigned transaction; :meth:`sign` runs ``testmempoolaccept``
on the signed bytes.  ``can(FORK_SIGNING)`` is true only on ``[utxo] fork_id`` networks.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, Sequence

from chains.base import (
    NATIVE,
    Capability,
    ChainAdapter,
    CostEstimate,
    DerivedKey,
    OwnershipCheck,
    StepView,
    SweepPlan,
    SweepRequest,
)
from chains.config import NetworkConfig
from chains.errors import InvalidAddress, PermanentChainError, SweepRefused
from chains.keys import SeedError
from chains.transport import JsonRpcClient, RpcError
from chains.utxo.addresses import validate_utxo_address
from chains.utxo.health import HealthMixin
from chains.utxo.keys import as_utxo_key, derive_from_seed, script_type_for_path, verify_signed_message
from chains.utxo.networks import register_networks
from chains.utxo.observe import NODE_TYPES, TXID_RE, ObserveMixin, UtxoBalanceProof, addresses_of
from chains.utxo.plan import (
    FEE_CONF_TARGET,
    PARAMS_VERSION,
    build_utxo_plan,
    describe_utxo_plan,
    fee_is_folded,
    fee_rate,
    is_dust,
)
from chains.utxo.scan import HoldingsScanMixin
from chains.utxo.sign import SignMixin
from chains.utxo.tx import SEQUENCE_FINAL, SPENDABLE, output_script, worst_case_vsize

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = ["UtxoAdapter", "UtxoBalanceProof", "is_dust", "fee_is_folded", "PARAMS_VERSION"]


class UtxoAdapter(ObserveMixin, HoldingsScanMixin, SignMixin, HealthMixin, ChainAdapter):
    family = "utxo"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,
        Capability.SIMULATION,
        Capability.BATCH_VERIFY,
        Capability.OFFLINE_EXPORT,
        Capability.OWNERSHIP_PROOF,
        Capability.SCAN_HOLDINGS,      # unspent outputs at retired addresses (scantxoutset)
        Capability.FORK_SIGNING,  # only for ``[utxo] fork_id`` networks: see :meth:`can`
    })

    def can(self, capability: Capability) -> bool:
        """``FORK_SIGNING`` (SIGHASH_FORKID, :mod:`chains.utxo.forkid`) only on a fork-chain network."""
        if capability is Capability.FORK_SIGNING:
            return bool(self.opts.fork_id)
        return super().can(capability)

    def __init__(self, network: NetworkConfig, *, client: JsonRpcClient | None = None):
        super().__init__(network)
        self.opts = network.utxo_options
        self.address_network = self.opts.address_network
        self.decimals = network.native_decimals
        self.client = client or JsonRpcClient(network.rpc_urls, network=network.key, parse_float=Decimal)
        self._chain_checked = False

    # -- plumbing --------------------------------------------------------------------------------
    def _units(self, value: Any) -> int:
        """A node amount (Decimal, or its text) -> base units, exactly (never through float)."""
        if isinstance(value, float):  # a client that parsed floats: refuse to guess
            raise PermanentChainError("the node amount was parsed as a float; refusing to round money",
                                      code="float_amount")
        d = Decimal(str(value)).scaleb(self.decimals)
        if d != d.to_integral_value():
            raise PermanentChainError(f"amount {value} has more than {self.decimals} decimals", code="bad_amount")
        return int(d)

    def _vsize(self, types: Sequence[str], scripts: Sequence[bytes]) -> int:
        return worst_case_vsize(types, scripts, network=self.address_network)

    @classmethod
    def dust_limit_for(cls, network: NetworkConfig) -> int:
        """``[utxo] dust_limit``: outputs below it are refused as deposits and folded as fee outputs."""
        return int(network.utxo_options.dust_limit)

    def validate(self, address: str, *, what: str = "address") -> str:
        return validate_utxo_address(address, self.address_network, what=what, legacy_only=self.opts.fork_id)

    # -- keys and ownership messages (pure) --------------------------------------------------------
    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        """The key at BIP-44/49/84 ``path`` of a BIP-39 seed; the script type follows the path's purpose,
        the address is on ``[utxo] address_network``.  ``DerivedKey.key`` is a ``UtxoKey``."""
        try:
            key, address = derive_from_seed(seed, path, self.address_network)
        except ValueError as exc:
            raise SeedError(f"cannot derive a {self.network.key} key at {path}: {exc}", code="bad_path") from None
        return DerivedKey(key=key, address=address)

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        """A raw 32-byte private key (a decrypted keystore), with the P2WPKH address where the network
        has segwit, else P2PKH (``sign`` re-derives the address of the input's script type)."""
        st = "p2pkh" if self.opts.fork_id or not self._has_segwit() else "p2wpkh"
        try:
            key = as_utxo_key(bytes(secret), self.address_network, st)
        except (TypeError, ValueError) as exc:
            raise SeedError(f"not a usable private key: {type(exc).__name__}", code="bad_keystore") from None
        return DerivedKey(key=key, address=key.address)

    def _has_segwit(self) -> bool:
        from bitcoinlib.networks import Network

        register_networks()
        try:
            prefix = Network(self.address_network).prefix_bech32
        except Exception:
            return False
        return bool(prefix) and not str(prefix).endswith("no-bech32")

    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        """Bitcoin ``signmessage`` (base64, with this network's message magic) by ``sender``."""
        ok = verify_signed_message(message, signature, sender, self.address_network)
        return OwnershipCheck(ok=ok, scheme="signmessage", signer=sender if ok else None)

    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        return describe_utxo_plan(plan, self.network.native_symbol)

    # -- inputs and cost ---------------------------------------------------------------------------
    def _input_script_type(self, node_type: str | None, claimed: str | None, path: str | None) -> str:
        t = NODE_TYPES.get(node_type or "", node_type)
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
            if not TXID_RE.match(txid) or index < 0:
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
                raise self._node_error("gettxout", txo)
            if txo is None:
                raise PermanentChainError(f"output {r['txid']}:{r['vout']} is spent or unknown: nothing to sweep",
                                          code="funds_missing", details={"txid": r["txid"], "vout": r["vout"]})
            spk = txo.get("scriptPubKey") or {}
            addrs = addresses_of(spk)
            if addrs != [request.deposit_address]:
                raise PermanentChainError(
                    f"output {r['txid']}:{r['vout']} pays {addrs}, not the deposit address {request.deposit_address}",
                    code="not_deposit_output")
            amount = self._units(txo["value"])
            if r["claimed_amount"] is not None and int(r["claimed_amount"]) != amount:
                raise SweepRefused(f"output {r['txid']}:{r['vout']} holds {amount}, not the {r['claimed_amount']} "
                                   "recorded", code="amounts_mismatch")
            if int(txo.get("confirmations") or 0) < 1:
                raise PermanentChainError(f"output {r['txid']}:{r['vout']} is not confirmed",
                                          code="output_unconfirmed")
            st = self._input_script_type(spk.get("type"), r["claimed_script_type"], request.deposit_path)
            inputs.append({"txid": r["txid"], "vout": r["vout"], "amount": str(amount),
                           "address": request.deposit_address, "script_type": st, "script_pubkey": spk["hex"],
                           "sequence": SEQUENCE_FINAL})
        if len({i["script_type"] for i in inputs}) != 1:
            raise SweepRefused("the outputs to spend have different script types", code="mixed_script_types")
        return inputs, res[len(refs):]

    def _fee_rate(self, estimate: Any, mempool: Any) -> tuple[int, str]:
        return fee_rate(estimate, mempool, decimals=self.decimals, floor=self.opts.fee_rate_floor,
                        ceiling=self.opts.fee_rate_ceiling)

    def _output_scripts(self, request: SweepRequest) -> tuple[bytes, bytes]:
        dest = self._script(request.destination, "destination")
        fee = self._script(request.fee_collector, "fee_collector")
        return dest, fee

    def _script(self, address: str, what: str) -> bytes:
        try:
            self.validate(address, what=what)
            script, st = output_script(address, self.address_network)
        except InvalidAddress as exc:
            raise InvalidAddress(str(exc), code="invalid_address", details={"what": what}) from None
        if self.opts.fork_id and st not in ("p2pkh", "p2sh"):
            raise InvalidAddress(f"the {what} {address} is not a legacy address", details={"what": what})
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
            raise self._node_error("getmempoolinfo", mempool)
        rate, source = self._fee_rate(estimate, mempool)
        types = [i["script_type"] for i in inputs]
        vsize = self._vsize(types, [dest_script, fee_script])
        vsize_folded = self._vsize(types, [dest_script])
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
        if self._vsize([i["script_type"] for i in inputs], [dest_script, fee_script]) > vsize:
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
                    raise self._node_error("gettxout", txo)
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

