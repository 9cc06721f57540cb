"""XRP Ledger adapter: payments to the exchange's shared wallet told apart by destination tag, proven by
the validated ledger's ``delivered_amount``, refunded from the shared wallet.

* :mod:`chains.xrpl.rpc` - rippled JSON-RPC over :class:`chains.transport.JsonRpcClient` (retries, failover);
* :mod:`chains.xrpl.observe` - ``observe`` (delivered amounts, validated ledgers only), ``prove_each``,
  ``recheck_deposit``,
  ``scan_incoming`` (``account_tx``);
* :mod:`chains.xrpl.plan` - the one-payment refund, its reserve and destination checks, sequences;
* :mod:`chains.xrpl.sign` - signing, txids, submit, signed blobs read back (xrpl-py's binary codec);
* :mod:`chains.xrpl.health` - network id, validated ledger, reserve, accounts and their flags;
* :mod:`chains.xrpl.keys` - secp256k1 (BIP-32) and ed25519 (SLIP-10) keys, HSM keys' addresses, ownership proofs.
"""

from __future__ import annotations

from chains.base import Capability, ChainAdapter, DerivedKey, OwnershipCheck
from chains.config import NetworkConfig
from chains.xrpl import rpc
from chains.xrpl.health import HealthMixin
from chains.xrpl.keys import SCHEME, address_of_public_key, derive, from_secret, verify_message
from chains.xrpl.observe import ObserveMixin
from chains.xrpl.plan import PlanMixin
from chains.xrpl.sign import SignMixin

__all__ = ["XrplAdapter"]


class XrplAdapter(ObserveMixin, PlanMixin, SignMixin, HealthMixin, ChainAdapter):
    family = "xrpl"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,     # XRP refunds from the shared wallet
        Capability.SIMULATION,       # reserve, destination tag and account-creation checks before storing a plan
        Capability.OWNERSHIP_PROOF,  # {"public_key", "signature"} over the message by the sender's key
        Capability.TOKENS,           # issued currencies (CUR.issuer) exist and are observed
        Capability.SHARED_MEMO,      # deposits at a shared wallet, told apart by DestinationTag
        Capability.SCAN_INCOMING,    # account_tx over a ledger range: payments in, with their tags
    })

    def __init__(self, network: NetworkConfig, *, timeout: float = 15.0):
        super().__init__(network)
        if network.xrpl is None:
            raise ValueError(f"{network.key} has no [xrpl] table")
        self.rpc = rpc.client(network.rpc_urls, network.key, timeout)

    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        key = derive(seed, path, self.network.xrpl.key_type)
        return DerivedKey(key, key.address)

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        key = from_secret(secret, self.network.xrpl.key_type)
        return DerivedKey(key, key.address)

    def address_of_public_key(self, curve: str, public_key: bytes) -> str:
        """The shared wallet may be an HSM key of either curve: the address is the key's, whatever ``key_type``."""
        return address_of_public_key(curve, public_key)

    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        ok, signer = verify_message(message, signature, sender)
        return OwnershipCheck(ok, SCHEME, signer)
