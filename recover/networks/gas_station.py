"""The gas station of a network as this host knows it, and the error that names what to set.

A host that prepares plans needs the gas station's *address* (a token sweep's gas top-up comes from
it; Solana's fee payer is it), not its key: it is named by ``RECOVER_GAS_STATION_ADDRESS``, written in the network file for an HSM
key (``gas_station_path = "hsm:<label>"``, ``[hsm.keys]``), or derived at the network file's
``gas_station_path`` from ``RECOVER_SEED`` on a host that holds the seed.
``prepare`` and ``networks check --live`` read it here, so both say the same thing about the same
settings.
"""

from __future__ import annotations

import os

from chains.base import Capability
from chains.config import hsm_label
from chains.errors import ChainError
from chains.keys import mnemonic_seed
from recover.errors import ConfigError, InvalidInput

ADDRESS_ENV = "RECOVER_GAS_STATION_ADDRESS"
SEED_ENV = "RECOVER_SEED"


def gas_station_address(net, chain, env=None) -> str | None:
    """The gas station's address (checked for the network), or None when this host cannot know it:
    neither variable is set, the file has no ``gas_station_path``, or the family has no gas station."""
    env = os.environ if env is None else env
    if env.get(ADDRESS_ENV):
        return net.validate_address(env[ADDRESS_ENV], what=ADDRESS_ENV)
    if hsm_label(net.gas_station_path) is not None and chain.can(Capability.GAS_STATION):
        return hsm_station_address(net, env)
    if not env.get(SEED_ENV) or not net.gas_station_path or not chain.can(Capability.GAS_STATION):
        return None
    try:
        seed = mnemonic_seed(env[SEED_ENV])
    except ChainError:  # the message names no word
        raise InvalidInput(f"{SEED_ENV} is not a valid BIP-39 mnemonic (12 to 24 English words with a valid "
                           "checksum)", code="bad_seed") from None
    try:
        return chain.derive_key(seed, net.gas_station_path).address
    except ChainError as exc:
        raise InvalidInput(f"cannot derive a key at {net.gas_station_path}: {exc}",
                           code="bad_derivation_path") from None


def hsm_station_address(net, env=None) -> str:
    """The address the network file writes for its HSM gas station (``gas_station_path = "hsm:<label>"``),
    checked for the network: a preparing host needs no token to know it."""
    value = net.hsm_address(net.gas_station_path)
    if value and "${" in value:
        value = net.resolved(env, wallets=()).hsm_address(net.gas_station_path)
    return net.validate_address(value, what=f"hsm.keys.{hsm_label(net.gas_station_path)}")


def not_configured(net, why: str, *, doing: str) -> ConfigError:
    """Exit 4 naming the setting to give: the file's ``gas_station_path`` when it has none, else the
    variables (``doing``: what could not be done, e.g. "case 3 cannot be prepared")."""
    if not net.gas_station_path:
        return ConfigError(f"{doing}: {why}, but {net.source} does not set the key 'gas_station_path' (the HD "
                           "path of the gas station)", code="gas_station_not_configured",
                           details={"network": net.key, "file": net.source, "key": "gas_station_path"})
    return ConfigError(f"{doing}: {why}, and this host does not know its address: set {ADDRESS_ENV} to the "
                       f"address of the gas station ({net.gas_station_path} of the signer's seed), or {SEED_ENV} "
                       "on a host that holds the seed", code="gas_station_not_configured",
                       details={"network": net.key, "variables": [ADDRESS_ENV, SEED_ENV]})
