"""The Cosmos SDK family (Cosmos Hub, Injective, Osmosis...): bank transfers read over the REST (LCD) API,
refunds from the exchange's shared hot wallet signed in SIGN_MODE_DIRECT with cosmpy's protobufs.

Importing this package loads no SDK: :func:`adapter_class` imports the adapter when it is needed.
"""

from chains.cosmos.addresses import address_key, normalize_txid, validate_address, validate_asset

# Imports inside functions: cosmpy's protobufs load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = ["adapter_class", "address_key", "chain_identity", "normalize_txid", "sign_arbitrary", "validate_address",
           "validate_asset"]


def adapter_class():
    from chains.cosmos.adapter import CosmosAdapter

    return CosmosAdapter


def chain_identity(network) -> str:
    """``cosmos:<chain id>``: the chain id is what the node reports (``node_info.network``), so two
    network files for one chain share their deposits."""
    return f"cosmos:{network.cosmos.chain_id}"


def sign_arbitrary(key, message, signer=None) -> str:
    """Keplr's ``signArbitrary`` JSON (ADR-036) of ``message`` by ``key`` (a derived key's ``.key``): what a
    claimant's tooling sends as an ownership proof (pure)."""
    from chains.cosmos.keys import sign_arbitrary as make

    return make(key, message, signer)
