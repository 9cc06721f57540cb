"""The Stellar family: payments read over Horizon, refunds from the exchange's shared wallet built, signed and
hashed with stellar-sdk (its XDR, ``Keypair`` and ``StrKey``; nothing is serialized by hand here).

Importing this package loads no SDK beyond what address checks need: :func:`adapter_class` imports the adapter
when it is needed.
"""

from chains.stellar.addresses import address_key, normalize_txid, validate_address, validate_asset

# Imports inside functions: the adapter and stellar-sdk load on first use: importing the family (to
# validate an address) loads only what that needs.

__all__ = ["adapter_class", "address_key", "chain_identity", "normalize_txid", "sign_message", "validate_address",
           "validate_asset"]


def adapter_class():
    from chains.stellar.adapter import StellarAdapter

    return StellarAdapter


def chain_identity(network) -> str:
    """``stellar:<network passphrase>``: the passphrase is what Horizon reports and what every signature
    commits to, so two network files for one network share their deposits."""
    return f"stellar:{network.stellar.network_passphrase}"


def sign_message(secret: str, message: str) -> str:
    """A SEP-53 signed message (base64) of ``message`` by the key whose ``S...`` seed is ``secret``: what a
    claimant's wallet sends as an ownership proof (pure)."""
    from chains.stellar.keys import sign_message as make

    return make(secret, message)
