"""bitcoinlib network definitions the UTXO adapter needs beyond bitcoinlib's bundled ones.

bitcoinlib 0.7 reads its networks from ``networks.json`` in its data directory (``~/.bitcoinlib``
or ``BCL_DATA_DIR``) once, at import, into the module-level dict
``bitcoinlib.networks.NETWORK_DEFINITIONS``; every lookup (``Network(name)``, ``network_by_value``,
``deserialize_address``) reads that dict.  :func:`register_networks` adds our definitions to that dict
*in memory* (and the bech32 prefixes to ``ENCODING_BECH32_PREFIXES``), idempotently: nothing is
written to the user's bitcoinlib data directory, so other programs using bitcoinlib see nothing.

Defined here:

* ``litecoin_regtest``: Litecoin Core ``-regtest`` (bech32 ``rltc``; base58 prefixes of testnet:
  P2PKH 0x6f, P2SH 0x3a, WIF 0xef).  Lowest priority, so address auto-detection still prefers the
  public test networks that share those base58 prefixes.
* ``dash``: Dash mainnet (P2PKH 0x4c ``X...``, P2SH 0x10 ``7...``, WIF 0xcc, BIP-44 coin type 5, no
  segwit; xpub/xprv extended keys as Dash Core uses today).

Importing this module changes nothing: the code that needs these networks (address validation, key
derivation, transaction building) calls :func:`register_networks` first; it runs once.
"""

from __future__ import annotations

import copy
import threading

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = ["register_networks", "EXTRA_NETWORKS", "BECH32_PREFIXES"]

_LOCK = threading.Lock()
_DONE = False


def _hd(pub: str, pub_name: str, prv: str, prv_name: str) -> list[list]:
    """Legacy-only extended key prefixes (for networks without segwit)."""
    return [[pub, pub_name, "public", False, "legacy", "p2pkh"],
            [pub, pub_name, "public", True, "legacy", "p2sh"],
            [prv, prv_name, "private", False, "legacy", "p2pkh"],
            [prv, prv_name, "private", True, "legacy", "p2sh"]]


def _definitions() -> dict[str, dict]:
    from bitcoinlib.networks import NETWORK_DEFINITIONS

    out: dict[str, dict] = {}
    base = NETWORK_DEFINITIONS.get("litecoin_testnet")
    if base is not None:
        ltc_rt = copy.deepcopy(base)
    else:  # pragma: no cover - every bitcoinlib 0.7 ships litecoin_testnet
        ltc_rt = {"prefixes_wif": _hd("043587CF", "tpub", "04358394", "tprv"), "bip44_cointype": 1,
                  "denominator": 1e-08, "dust_amount": 1000, "fee_default": 50000, "fee_min": 1000,
                  "fee_max": 1000000}
    ltc_rt.update({
        "description": "Litecoin Regression Test Network",
        "currency_name": "regtest-litecoin",
        "currency_name_plural": "regtest-litecoins",
        "currency_symbol": "rLTC",
        "currency_code": "rLTC",
        "prefix_address": "6F",
        "prefix_address_p2sh": "3A",
        "prefix_bech32": "rltc",
        "prefix_wif": "EF",
        "bip44_cointype": 1,
        "priority": 0,
    })
    out["litecoin_regtest"] = ltc_rt
    out["dash"] = {
        "description": "Dash Network",
        "currency_name": "dash",
        "currency_name_plural": "dash",
        "currency_symbol": "DASH",
        "currency_code": "DASH",
        "prefix_address": "4C",
        "prefix_address_p2sh": "10",
        "prefix_bech32": "dash-no-bech32",  # Dash has no segwit; a value no address can carry
        "prefix_wif": "CC",
        "prefixes_wif": _hd("0488B21E", "xpub", "0488ADE4", "xprv"),
        "bip44_cointype": 5,
        "denominator": 1e-08,
        "dust_amount": 546,
        "fee_default": 10000,
        "fee_min": 1000,
        "fee_max": 1000000,
        "priority": 1,
    }
    return out


BECH32_PREFIXES = ("rltc",)
EXTRA_NETWORKS = ("litecoin_regtest", "dash")


def register_networks() -> None:
    """Add our networks to bitcoinlib's in-memory definitions (idempotent, thread-safe)."""
    global _DONE
    if _DONE:
        return
    with _LOCK:
        if _DONE:
            return
        from bitcoinlib.config import config as bcl_config
        from bitcoinlib.networks import NETWORK_DEFINITIONS

        for name, definition in _definitions().items():
            NETWORK_DEFINITIONS.setdefault(name, definition)  # a user's own definition wins
        prefixes = bcl_config.ENCODING_BECH32_PREFIXES  # the same list object keys.py uses
        for prefix in BECH32_PREFIXES:
            if prefix not in prefixes:
                prefixes.append(prefix)
        _DONE = True
