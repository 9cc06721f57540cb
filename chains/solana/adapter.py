"""Solana chain adapter: SOL and SPL (Token, Token-2022) deposits proven by balance deltas, swept in
one transaction whose fee (and any rent) the gas station pays.

The class wires the package's parts together; each part documents its concern:

* :mod:`chains.solana.node` - JSON-RPC requests (batched through :class:`chains.transport.JsonRpcClient`:
  retries and failover by tenacity, a node's error answer classified by meaning, never retried);
* :mod:`chains.solana.observe` - ``observe`` (transfers are the transaction's *balance deltas*: SOL per
  account index, SPL summed per (owner, mint) at ``TOKEN_INDEX_BASE + i``), ``prove`` (before/after from
  the transaction's own pre/post balances, ``now`` from ``getBalance`` / ``getTokenAccountsByOwner``),
  nested token accounts (RecoverNested), ``tx_status``, ``recheck_deposit``.  Finality: a transaction
  found at ``finalized`` commitment is rooted, so its confirmations are
  ``max(FINALIZED_CONFIRMATIONS, finalized_slot - slot + 1)``;
* :mod:`chains.solana.spl` - token/mint account parsing (``spl.token`` layouts), ATAs, token instructions;
* :mod:`chains.solana.plan` - the pure plan builder and cost (``LAMPORTS_PER_SIGNATURE`` x 2 signatures,
  plus the rent of each ATA the sweep creates); :mod:`chains.solana.prepare` gathers its facts;
* :mod:`chains.solana.sign` - simulate, sign (fresh blockhash; the gas station is the fee payer), send;
* :mod:`chains.solana.describe` - the plan in words; :mod:`chains.solana.keys` - SLIP-10 keys (solders),
  and the address of an HSM token's Ed25519 key (a fee payer kept on a token, ``hsm:<label>``).

The plan's single step: ``signer_address``/``signer_path`` = the deposit (for a nested deposit: the
wallet owning the parent ATA); ``tx`` = ``{"format": "solana-v0-instructions", "fee_payer": ...,
"fee_payer_path": ..., "instructions": [...]}``.  Signed transactions are base64 of the wire bytes;
a txid is the first signature (base58).
"""

from __future__ import annotations

from chains.base import Capability, ChainAdapter, CostEstimate, DerivedKey, OwnershipCheck, StepView, SweepPlan
from chains.config import NetworkConfig
from chains.solana.addresses import burn_reason
from chains.solana.common import FINALIZED_CONFIRMATIONS, LAMPORTS_PER_SIGNATURE, TOKEN_INDEX_BASE, decode_ix, encode_ix
from chains.solana.describe import describe_plan
from chains.solana.health import HealthMixin
from chains.solana.keys import address_of_public_key, derive_keypair, keypair_from_secret, verify_signed_message
from chains.solana.node import SolanaNode
from chains.solana.observe import ObserveMixin
from chains.solana.prepare import PrepareMixin
from chains.solana.scan import HoldingsScanMixin
from chains.solana.sign import SignMixin

__all__ = ["SolanaAdapter", "TOKEN_INDEX_BASE", "LAMPORTS_PER_SIGNATURE", "encode_ix", "decode_ix",
           "FINALIZED_CONFIRMATIONS"]


class SolanaAdapter(ObserveMixin, HoldingsScanMixin, PrepareMixin, SignMixin, HealthMixin, ChainAdapter):
    family = "solana"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,
        Capability.TOKEN_SWEEP,
        Capability.GAS_STATION,        # the gas station is every sweep's fee payer
        Capability.SIMULATION,
        Capability.HISTORIC_BALANCES,  # before/after come from the transaction's pre/post balances
        Capability.BATCH_VERIFY,
        Capability.OWNERSHIP_PROOF,    # ed25519 over the UTF-8 message
        Capability.NESTED_ACCOUNTS,
        Capability.TOKENS,
        Capability.SCAN_HOLDINGS,      # token accounts of our wallets holding unlisted mints
    })

    def __init__(self, network: NetworkConfig, *, timeout: float = 20.0, send=None):
        super().__init__(network)
        self.node = SolanaNode(network.rpc_urls, network=network.key, timeout=timeout, send=send)
        self._cluster_checked = False
        self._tx_cache: dict[str, dict] = {}

    # -- keys (pure) ----------------------------------------------------------------------------
    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        """SLIP-10 ed25519 at a hardened-only ``path`` (solders); ``key`` is the solders ``Keypair``."""
        key = derive_keypair(seed, path)
        return DerivedKey(key, str(key.pubkey()))

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        """A 32-byte ed25519 seed or a 64-byte keypair (``solana-keygen`` form)."""
        key = keypair_from_secret(secret)
        return DerivedKey(key, str(key.pubkey()))

    def address_of_public_key(self, curve: str, public_key: bytes) -> str:
        """An HSM wallet key's address (the fee payer on a token): Ed25519 only, the key itself in base58."""
        return address_of_public_key(curve, public_key)

    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        """ed25519 signature (base58) by ``sender`` over the UTF-8 bytes of ``message``."""
        ok = verify_signed_message(message, signature, sender)
        return OwnershipCheck(ok, "ed25519", sender if ok else None)

    # -- destinations --------------------------------------------------------------------------
    @classmethod
    def burn_reason(cls, network: NetworkConfig, address: str) -> str | None:
        return burn_reason(address)

    def is_contract(self, address: str) -> bool:
        """An executable account (a program) cannot receive funds it could send on."""
        (acc,) = self.node.accounts_from(self.node.batch(self.node.accounts_requests([address])), 1)
        return bool(acc and acc.get("executable"))

    # -- plans (pure) ---------------------------------------------------------------------------
    def gas_station_use(self, cost: CostEstimate) -> str | None:
        """Every Solana sweep: the gas station is the fee payer (and pays any rent)."""
        return "the gas station pays every Solana sweep's fee (and any rent)"

    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        return describe_plan(plan)
