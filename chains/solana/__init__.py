"""The Solana family (SOL, SPL Token and Token-2022), via solders and solana-py's SPL helpers.

Importing this package loads no SDK: :func:`adapter_class` imports the adapter when it is needed.
"""

from chains.solana.addresses import address_key, normalize_txid, validate_address

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.

__all__ = ["adapter_class", "address_key", "chain_identity", "normalize_txid", "validate_address"]


def adapter_class():
    from chains.solana.adapter import SolanaAdapter

    return SolanaAdapter


def chain_identity(network) -> str:
    """``solana:<cluster>``: the cluster (its genesis hash is checked against the node)."""
    return f"solana:{network.solana.cluster if network.solana else 'mainnet-beta'}"
