"""Stellar chain adapter: payments into the exchange's shared wallet told apart by memo (or a muxed id),
proven by Horizon's transaction and operation records, refunded from the shared wallet.

* :mod:`chains.stellar.horizon` - the Horizon client: retries with tenacity and failover over ``rpc_urls``;
* :mod:`chains.stellar.observe` - ``observe`` (one transfer per payment operation), ``prove_each``,
  ``recheck_deposit``, ``scan_incoming``;
* :mod:`chains.stellar.plan` - refunds: fee, the one-step plan, reserve, sequences;
* :mod:`chains.stellar.sign` - envelopes signed, hashed, sent, read back;
* :mod:`chains.stellar.health` - the passphrase check, newest ledger, balances, SEP-29;
* :mod:`chains.stellar.keys` - SEP-0005 keys, HSM keys' addresses and SEP-53 ownership proofs;
* :mod:`chains.stellar.txbuild` - the step as stellar-sdk builds it, pure.
"""

from __future__ import annotations

from chains.base import Capability, ChainAdapter, DerivedKey, OwnershipCheck
from chains.config import NetworkConfig
from chains.stellar.addresses import address_key
from chains.stellar.health import HealthMixin
from chains.stellar.horizon import HorizonClient
from chains.stellar.keys import SEP53, address_of_public_key, derive, from_secret, verify_message
from chains.stellar.observe import ObserveMixin
from chains.stellar.plan import PlanMixin
from chains.stellar.sign import SignMixin

__all__ = ["StellarAdapter"]


class StellarAdapter(ObserveMixin, PlanMixin, SignMixin, HealthMixin, ChainAdapter):
    family = "stellar"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,     # refunds of XLM (and credit assets) from the shared wallet
        Capability.OWNERSHIP_PROOF,  # SEP-53 signed messages
        Capability.TOKENS,           # credit assets CODE:ISSUER
        Capability.SHARED_MEMO,      # deposits at shared addresses, told apart by memo or muxed id
        Capability.SCAN_INCOMING,    # /accounts/{id}/payments by cursor, with the transaction's memo
    })

    def __init__(self, network: NetworkConfig, *, timeout: float = 15.0):
        super().__init__(network)
        if network.stellar is None:
            raise ValueError(f"{network.key} has no [stellar] table")
        self.horizon = HorizonClient(network.rpc_urls, network=network.key, timeout=timeout)
        self._chain_checked = False

    @classmethod
    def address_key(cls, address: str) -> str:
        return address_key(address)

    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        """SEP-0005: ed25519 SLIP-10 at ``m/44'/148'/N'``; ``key`` is the stellar-sdk ``Keypair``."""
        key = derive(seed, path)
        return DerivedKey(key, key.public_key)

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        key = from_secret(secret)
        return DerivedKey(key, key.public_key)

    def address_of_public_key(self, curve: str, public_key: bytes) -> str:
        return address_of_public_key(curve, public_key)

    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        """SEP-53 (stellar-sdk ``Keypair.verify_message``): base64 ed25519 signature by ``sender`` over SHA-256
        of ``"Stellar Signed Message:\\n"`` + the message."""
        ok = verify_message(message, signature, sender)
        return OwnershipCheck(ok, SEP53, sender if ok else None)
