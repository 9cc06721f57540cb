"""Which wallets a registered ``hsm:<label>`` key name may stand for (DESIGN.md "Signers", issue 26).

An HSM cannot derive per-deposit keys, so a registration may name an HSM key only for a wallet of the
exchange's own: a memo network's shared wallet (``kind = shared``), never a user's deposit address.
The key must be one the network file lists in ``[hsm.keys]`` with that very address, and not the gas
station's key (one key, one wallet).  ``addresses import`` asks this before it registers a row (exit 4)
and the signer asks it again of its own network file before it signs (exit 7): the database is not a
source of trust, the file on the signing host is.
"""

from __future__ import annotations

from chains.addresses import address_key
from chains.config import hsm_label


def hsm_wallet_problem(net, path: str, address: str, env: dict | None = None) -> str | None:
    """Why ``address`` may not be the wallet of the HSM key ``path`` (``hsm:<label>``) on ``net``, or
    None when ``net``'s ``[hsm.keys]`` lists the label with that address and it is not the gas station."""
    label = hsm_label(path)
    if label is None:
        return f"{path!r} is not an HSM key name (hsm:<label>)"
    if path == net.gas_station_path:
        return f"{path} is the gas station's key of {net.key}: a shared wallet needs a key of its own"
    configured = net.hsm_address(path)
    if configured is None:
        return (f"{net.source} lists no HSM key {label!r} ([hsm.keys] of network {net.key} must name it with the "
                "address it controls)")
    if "${" in configured:
        configured = net.resolved(env, wallets=()).hsm_address(path)
    if address_key(net.family, configured) != address_key(net.family, address):
        return f"{net.source} says HSM key {label!r} controls {configured}, not {address}"
    return None
