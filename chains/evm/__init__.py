"""The EVM family (Ethereum and its L2s and sidechains), via web3 / eth-account / eth-abi.

Importing this package loads no SDK: :func:`adapter_class` imports the adapter when it is needed.
"""

from chains.evm.addresses import address_key, normalize_txid, validate_address

# Imports inside functions: web3 / eth-account / eth-utils load on first use: importing the family (to
# validate an address) loads no SDK.

__all__ = ["adapter_class", "address_key", "chain_identity", "normalize_txid", "validate_address"]


def adapter_class():
    from chains.evm.adapter import EvmAdapter

    return EvmAdapter


def chain_identity(network) -> str:
    """``eip155:<chain id>`` (CAIP-2): what identifies an EVM chain, whatever the file's key."""
    return f"eip155:{network.chain_id}"
