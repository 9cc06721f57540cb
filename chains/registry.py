"""The chain families this toolkit knows, by name: where each one's package lives.

A family is a package ``chains/<name>/`` whose ``__init__`` is light (no SDK import) and provides:

* ``validate_address(value, *, what="address", network=None) -> str`` (checksums; ``network`` is the
  :class:`chains.config.NetworkConfig` for family options such as a UTXO address network),
* ``normalize_txid(txid) -> str``, ``address_key(address) -> str``,
* ``adapter_class()`` -> the :class:`chains.base.ChainAdapter` subclass (imports the SDK),
* optionally ``validate_asset(value, *, network=None) -> str``, for a family whose assets are not
  addresses (a Cosmos bank denomination); otherwise a token is checked as an address.

Adding a family is one line here and one package; nothing in ``recover/`` changes.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FAMILIES: dict[str, str] = {
    "evm": "chains.evm",
    "utxo": "chains.utxo",
    "solana": "chains.solana",
    "cosmos": "chains.cosmos",
    "stellar": "chains.stellar",
    "xrpl": "chains.xrpl",
}


def family(name: str) -> ModuleType:
    """The package of family ``name`` (``ValueError`` for an unknown one)."""
    try:
        path = FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown chain family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
    return importlib.import_module(path)


def adapter_class(name: str):
    return family(name).adapter_class()
