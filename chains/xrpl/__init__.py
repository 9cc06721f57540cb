"""The XRP Ledger family: payments to the exchange's shared wallet told apart by destination tag, read over
rippled's JSON-RPC, refunds signed with xrpl-py's binary codec and keypairs.

Importing this package loads no SDK: :func:`adapter_class` imports the adapter when it is needed.
"""

# Imports inside functions: the adapter and xrpl-py load when needed: importing the family (to validate
# an address) loads no SDK.

from chains.xrpl.addresses import address_key, normalize_txid, validate_address, validate_asset

__all__ = ["adapter_class", "address_key", "chain_identity", "normalize_txid", "sign_message", "validate_address",
           "validate_asset"]


def adapter_class():
    from chains.xrpl.adapter import XrplAdapter

    return XrplAdapter


def chain_identity(network) -> str:
    """``xrpl:<network id>`` (0 for mainnet when not set): two network files for one ledger share deposits."""
    return f"xrpl:{network.xrpl.network_id or 0}"


def sign_message(key, message: str) -> str:
    """The ownership proof JSON of ``message`` by ``key`` (a derived key's ``.key``; pure)."""
    from chains.xrpl.keys import sign_message as make

    return make(key, message)
