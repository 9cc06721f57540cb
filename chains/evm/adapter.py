"""The EVM chain adapter: the :class:`chains.base.ChainAdapter` contract wired from the family's parts.

* :mod:`chains.evm.observe`: observe, tx_status, prove, prove_each, recheck_deposit, internal_transfer
* :mod:`chains.evm.prepare`: estimate_cost, prepare (facts gathered in batches, plan built purely by
  :func:`chains.evm.plan.build_evm_plan`)
* :mod:`chains.evm.simulate`: simulate (revert reasons by :func:`chains.evm.revert.decode_revert`)
* :mod:`chains.evm.sign`: sign, export_unsigned, check_signed, txid_of, broadcast
* :mod:`chains.evm.nonces`: nonce_conflict, nonce_ahead, station_nonce_of, own_gas_left
* :mod:`chains.evm.keys`: derive_key, key_from_secret, verify_ownership (EIP-191)
* :mod:`chains.evm.describe`: describe_plan
* :mod:`chains.evm.health`: node_status, native_balance, sweep_gas_hint (``networks check --live``)

Every node call goes through :class:`chains.transport.JsonRpcClient` (batching, tenacity retries,
failover); a node's error answer is classified by meaning.  Pass ``client=`` to reach a node some
other way (the demo's in-process chain: :func:`chains.evm.devchain.send`).
"""

from __future__ import annotations

from chains.base import Capability, ChainAdapter, CostEstimate, DerivedKey, OwnershipCheck, StepView, SweepPlan
from chains.config import NetworkConfig
from chains.errors import ChainError, NetworkConfigError
from chains.evm import keys as _keys
from chains.evm.addresses import address_key as _address_key
from chains.evm.addresses import burn_reason
from chains.evm.common import qty
from chains.evm.describe import describe_plan as _describe_plan
from chains.evm.erc20 import TRANSFER_TOPIC
from chains.evm.health import HealthMixin
from chains.evm.nonces import NonceMixin
from chains.evm.observe import INTERNAL_NATIVE_INDEX, ObserveMixin
from chains.evm.plan import GAS_MARGIN_BPS, build_evm_plan, native_cost_from_params
from chains.evm.prepare import PrepareMixin
from chains.evm.revert import decode_revert
from chains.evm.scan import ScanMixin
from chains.evm.sign import SignMixin
from chains.evm.simulate import SimulateMixin
from chains.transport import JsonRpcClient, RpcError, classify, redact_url

__all__ = [
    "EvmAdapter",
    "build_evm_plan",
    "decode_revert",
    "native_cost_from_params",
    "TRANSFER_TOPIC",
    "GAS_MARGIN_BPS",
    "INTERNAL_NATIVE_INDEX",
]


class EvmAdapter(ObserveMixin, PrepareMixin, SimulateMixin, SignMixin, NonceMixin, ScanMixin, HealthMixin,
                 ChainAdapter):
    family = "evm"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,
        Capability.TOKEN_SWEEP,
        Capability.GAS_TOPUP,
        Capability.GAS_STATION,
        Capability.SIMULATION,
        Capability.HISTORIC_BALANCES,
        Capability.BATCH_VERIFY,
        Capability.OFFLINE_EXPORT,
        Capability.OWNERSHIP_PROOF,
        Capability.INTERNAL_TRANSFERS,
        Capability.SCAN,
        Capability.TOKENS,
    })

    def __init__(self, network: NetworkConfig, *, client: JsonRpcClient | None = None):
        super().__init__(network)
        self._client = client
        self._chain_checked = False
        self._overrides_ok = True

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def client(self) -> JsonRpcClient:
        """The network's JSON-RPC client, made on first use (constructing the adapter checks nothing)."""
        if self._client is None:
            self._client = JsonRpcClient(self.network.rpc_urls, network=self.network.key)
        return self._client

    @client.setter
    def client(self, value: JsonRpcClient) -> None:
        self._client = value

    def _error(self, method: str, err: RpcError) -> ChainError:
        return classify(err, method=method, network=self.network.key)

    def check_chain(self) -> None:
        """Refuse a node whose ``eth_chainId`` is not the network's ``chain_id`` (a configuration
        error, exit 4, code ``wrong_chain``); checked once per adapter."""
        if self._chain_checked:
            return
        try:
            got = qty(self.client.call("eth_chainId", []))
        except RpcError as err:
            raise self._error("eth_chainId", err) from None
        if got != self.network.chain_id:
            where = ", ".join(redact_url(u) for u in self.client.urls)
            raise NetworkConfigError(
                f"{self.network.key}: the node at {where} serves chain id {got}, not the chain_id "
                f"{self.network.chain_id} of the network file: check rpc_urls and chain_id",
                code="wrong_chain",
                details={"network": self.network.key, "key": "chain_id", "expected": self.network.chain_id,
                         "got": got})
        self._chain_checked = True

    def gas_station_use(self, cost: CostEstimate) -> str | None:
        """A plan needs the gas station when its quote planned a top-up (``params["topup"]``)."""
        if cost.params.get("topup"):
            return "it tops up the deposit address with gas from the gas station"
        return None

    # -- identity, keys, ownership (pure) --------------------------------------------------------
    @classmethod
    def address_key(cls, address: str) -> str:
        return _address_key(address)

    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        return _keys.derive_key(seed, path)

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        return _keys.key_from_secret(secret)

    def address_of_public_key(self, curve: str, public_key: bytes) -> str:
        return _keys.address_of_public_key(curve, public_key)

    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        return _keys.verify_ownership(message, signature, sender)

    # -- destinations -----------------------------------------------------------------
    @classmethod
    def burn_reason(cls, network: NetworkConfig, address: str) -> str | None:
        return burn_reason(address)

    def is_contract(self, address: str) -> bool:
        self.check_chain()
        try:
            code = self.client.call("eth_getCode", [address, "latest"])
        except RpcError as err:
            raise self._error("eth_getCode", err) from None
        return bool(code) and code not in ("0x", "0x0")

    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        return _describe_plan(plan, native_symbol=self.network.native_symbol,
                              native_decimals=self.network.native_decimals)

    def signing_keys(self, plan: SweepPlan) -> dict[str, str]:
        return {s.signer_path: s.signer_address for s in plan.steps}

    def __repr__(self) -> str:
        return f"EvmAdapter({self.network.key!r})"


