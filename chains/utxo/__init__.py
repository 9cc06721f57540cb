"""The UTXO family (Bitcoin, Litecoin, Dogecoin, Dash; Bitcoin Cash / SV as fork chains), via bitcoinlib.

Importing this package loads no SDK: :func:`adapter_class` imports the adapter when it is needed.
"""

from chains.utxo.addresses import address_key, normalize_txid, validate_address

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = ["adapter_class", "address_key", "chain_identity", "normalize_txid", "validate_address"]


def adapter_class():
    from chains.utxo.adapter import UtxoAdapter

    return UtxoAdapter


def chain_identity(network) -> str:
    """``utxo:<chain>``: the ``[utxo] chain`` a fork chain names, else its address network (the
    address format identifies the chain: bitcoin, litecoin, dogecoin...)."""
    opts = network.utxo
    return f"utxo:{(opts.chain or opts.address_network) if opts else network.key}"
