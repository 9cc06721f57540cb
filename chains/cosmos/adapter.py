"""Cosmos SDK chain adapter: bank deposits at the exchange's shared addresses told apart by memo, proven by
the transaction's messages and events over the REST API, refunded from the shared hot wallet.

The class wires the package's parts together; each part documents its concern:

* :mod:`chains.cosmos.rest` - the REST (LCD) client: retries with tenacity and failover over ``rpc_urls``,
  a node's gRPC status classified by meaning, never retried;
* :mod:`chains.cosmos.observe` - ``observe`` (one transfer per coin of each bank message, cross-checked
  with the events), ``prove_each`` (the recipient's bank balance now), ``recheck_deposit``,
  ``scan_incoming`` (the node's tx index by ``transfer.recipient``);
* :mod:`chains.cosmos.plan` - refunds: cost by simulation, the one-step plan, sequences;
* :mod:`chains.cosmos.sign` - SIGN_MODE_DIRECT, txids, broadcast, signed bytes read back;
* :mod:`chains.cosmos.health` - the chain id check, newest block, balances;
* :mod:`chains.cosmos.keys` - BIP-32 keys of both key types and ADR-036 ownership proofs;
* :mod:`chains.cosmos.txbuild` - the protobuf bytes (cosmpy), pure.
"""

from __future__ import annotations

from chains.base import Capability, ChainAdapter, DerivedKey, OwnershipCheck
from chains.config import NetworkConfig
from chains.cosmos.health import HealthMixin
from chains.cosmos.keys import ADR036, address_of_public_key, derive, from_secret, verify_adr036
from chains.cosmos.observe import ObserveMixin
from chains.cosmos.plan import PlanMixin
from chains.cosmos.rest import RestClient
from chains.cosmos.sign import SignMixin

__all__ = ["CosmosAdapter"]


class CosmosAdapter(ObserveMixin, PlanMixin, SignMixin, HealthMixin, ChainAdapter):
    family = "cosmos"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,     # refunds of the native coin from the shared wallet
        Capability.SIMULATION,       # every refund is simulated by the node before it is stored and signed
        Capability.OWNERSHIP_PROOF,  # ADR-036 signArbitrary (Keplr)
        Capability.TOKENS,           # IBC and factory denominations are bank coins like the native one
        Capability.SHARED_MEMO,      # deposits at shared addresses, told apart by the transaction memo
        Capability.SCAN_INCOMING,    # the node's tx index by transfer.recipient, with memos
    })

    def __init__(self, network: NetworkConfig, *, timeout: float = 15.0):
        super().__init__(network)
        if network.cosmos is None:
            raise ValueError(f"{network.key} has no [cosmos] table")
        self.rest = RestClient(network.rpc_urls, network=network.key, timeout=timeout)
        self._chain_checked = False
        self._blocks: dict[int, dict] = {}
        self._denoms: dict[str, tuple[int, str | None]] = {}

    @classmethod
    def address_key(cls, address: str) -> str:
        return address.lower() if isinstance(address, str) else address

    # -- keys (pure) ----------------------------------------------------------------------------
    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        """BIP-32 secp256k1 at ``path``; the address by the network's ``key_type`` and prefix."""
        opts = self.network.cosmos
        key = derive(seed, path, opts.key_type, opts.bech32_prefix)
        return DerivedKey(key, key.address)

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        opts = self.network.cosmos
        key = from_secret(secret, opts.key_type, opts.bech32_prefix)
        return DerivedKey(key, key.address)

    def address_of_public_key(self, curve: str, public_key: bytes) -> str:
        """The address of a token's secp256k1 key under the network's ``key_type`` and prefix (a shared
        wallet kept on an HSM); both key types are secp256k1 keys, told apart only by their address."""
        opts = self.network.cosmos
        return address_of_public_key(curve, public_key, opts.key_type, opts.bech32_prefix)

    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        """ADR-036 ``signArbitrary`` (Keplr's JSON answer) by ``sender`` over ``message``; a malformed
        answer raises ``InvalidRequest`` ``bad_signature``."""
        opts = self.network.cosmos
        ok, signer = verify_adr036(message, signature, sender, opts.key_type, opts.bech32_prefix)
        return OwnershipCheck(ok, ADR036, signer)
