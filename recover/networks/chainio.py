"""The domain's door to the chains: the adapter of a case's network, built on first use.

Resolving the network here (``${ENV}`` placeholders) means an unset variable only matters for the
network actually used, and the exchange's wallets (fee collector, hot wallet) only for the operations
that pay them: an adapter never reads them (plans take them from the ``SweepRequest``), so
:func:`adapter` leaves an unset wallet unresolved, and the operations that pay one ask for it by name
with :func:`resolved` (quote and prepare in ``recover.casework.sweeps``, sign in
``recover.casework.signer_check``).  Tests may install a factory (``use_adapter_factory``) to reach a
devnet.
"""

from __future__ import annotations

from typing import Callable

from chains.base import SweepPlan, adapter_for
from chains.config import WALLETS, NetworkConfig
from chains.errors import ChainError, NetworkConfigError
from recover.errors import ConfigError, RecoverError

_factory: Callable[[NetworkConfig], object] | None = None
_cache: dict[tuple, object] = {}


def use_adapter_factory(factory: Callable[[NetworkConfig], object] | None) -> None:
    global _factory
    _factory = factory
    _cache.clear()


def adapter(net: NetworkConfig):
    """The network's adapter; needs the node's settings, not the wallets (see the module docstring)."""
    resolved = _resolve(net, wallets=())
    key = (resolved.key, resolved.rpc_urls)
    if key not in _cache:
        if _factory is not None:
            _cache[key] = _factory(resolved)
        else:
            _cache[key] = adapter_for(resolved)
    return _cache[key]


def resolved(net: NetworkConfig, *, wallets: tuple[str, ...] = WALLETS) -> NetworkConfig:
    """``net`` with its placeholders resolved; ``wallets``: the exchange wallets the caller pays (an
    unset one of them is exit 4 naming the key and the variable)."""
    return _resolve(net, wallets=wallets)


def _resolve(net: NetworkConfig, *, wallets: tuple[str, ...]) -> NetworkConfig:
    try:
        return net.resolved(wallets=wallets)
    except NetworkConfigError as exc:
        raise ConfigError(str(exc), details=exc.details) from None


def offline_adapter(net: NetworkConfig):
    """The network's adapter for pure work only (``txid_of``, ``signed_step_problem``,
    ``describe_plan``) on a host that may not have the node's address (an auditor's): when the network
    does not resolve here, its RPC URLs are replaced by an address that cannot be reached, so a
    mistaken node call fails loudly instead of reaching anything."""
    try:
        return adapter(net)
    except ConfigError:
        offline = net.model_copy(update={"rpc_urls": ["http://offline.invalid:1"]})
        return adapter_for(offline)


def plan_rows(net: NetworkConfig, plan_doc: dict) -> list[dict] | None:
    """The rows people read of a stored plan, made by its adapter's pure ``describe_plan`` (None
    when the network cannot be used here)."""
    try:
        return [v.to_dict() for v in offline_adapter(net).describe_plan(SweepPlan.from_dict(plan_doc))]
    except (ChainError, RecoverError):
        return None
