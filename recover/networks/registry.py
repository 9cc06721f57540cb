"""The network registry as the domain sees it: load once per process, look up by key."""

from __future__ import annotations

import os
from functools import lru_cache

from chains.config import NetworkConfig, load_networks
from chains.errors import NetworkConfigError
from recover.errors import ConfigError, InvalidInput


@lru_cache(maxsize=8)
def _load(config_dir: str | None) -> dict[str, NetworkConfig]:
    try:
        return load_networks(config_dir)
    except NetworkConfigError as exc:
        raise ConfigError(str(exc), details=exc.details) from None


def networks(config_dir: str | None = None) -> dict[str, NetworkConfig]:
    return _load(config_dir if config_dir is not None else os.environ.get("RECOVER_CONFIG_DIR"))


def get_network(key: str, config_dir: str | None = None) -> NetworkConfig:
    nets = networks(config_dir)
    if key not in nets:
        raise InvalidInput(
            f"unknown network {key!r}; `recover networks` lists the {len(nets)} known ones",
            code="unknown_network",
        )
    return nets[key]


def family_networks(family: str) -> frozenset[str]:
    """Keys of every network of a family: an address registered on any of them shares its key.
    Grouped once per loaded configuration (verification asks it for every case)."""
    return _families(os.environ.get("RECOVER_CONFIG_DIR")).get(family, frozenset())


@lru_cache(maxsize=8)
def _families(config_dir: str | None) -> dict[str, frozenset[str]]:
    by_family: dict[str, set[str]] = {}
    for key, net in _load(config_dir).items():
        by_family.setdefault(net.family, set()).add(key)
    return {family: frozenset(keys) for family, keys in by_family.items()}


def clear_cache() -> None:
    _load.cache_clear()
    _families.cache_clear()
