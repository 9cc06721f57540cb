"""``networks check KEY --live``: what only the node can say, each finding naming the commands it blocks.

Reachable (a dead RPC URL is a problem, exit 8, its URL shown redacted), the chain it serves as the
network file says (exit 4 otherwise), how old its newest block is, the gas station's native balance
against what one sweep takes from it, and the hot wallet's balance for information.  Every node read
goes through the network's adapter (``node_status``, ``native_balance``, ``sweep_gas_hint``): nothing
here knows a family.
"""

from __future__ import annotations

from datetime import datetime, timezone

from chains.errors import EXIT_NODE, ChainError, NetworkConfigError, RetryableChainError, Unsupported
from chains.transport import redact_url
from recover.errors import RecoverError
from recover.networks.chainio import adapter
from recover.networks.findings import NEEDED_BY, NODE_COMMANDS, NetworkCheck, Problem
from recover.networks.gas_station import ADDRESS_ENV, SEED_ENV, gas_station_address
from recover.text import units


def check_node(net, env, report: NetworkCheck) -> None:
    """Add the node's findings to ``report`` (and what was read to ``report.node``)."""
    if any(p.setting.startswith("rpc_urls") or p.code == "invalid_wallet" for p in report.problems):
        report.notes.append("the node was not asked: fix the settings above first")
        return
    try:
        chain = adapter(net)
        status = chain.node_status()
    except RetryableChainError as exc:
        report.problems.append(Problem("rpc_urls", str(exc), NODE_COMMANDS, "node_unreachable", EXIT_NODE))
        return
    except (NetworkConfigError, RecoverError) as exc:  # another chain, a refused credential, a bad URL
        setting = exc.details.get("key") or "rpc_urls"
        report.problems.append(Problem(setting, str(exc), NEEDED_BY.get(setting, NODE_COMMANDS), exc.code))
        return
    except ChainError as exc:
        report.problems.append(Problem("rpc_urls", f"the node answered with an error: {exc}", NODE_COMMANDS, exc.code))
        return
    age = None if status.latest_time is None else int((datetime.now(timezone.utc) - status.latest_time).total_seconds())
    report.node = {"urls": [redact_url(u) for u in chain.network.rpc_urls], "chain": status.chain,
                   "latest_block": status.latest_block, "block_age_s": age,
                   "fee_collector": _resolved_wallet(chain, "fee_collector"), "gas_station": None, "hot_wallet": None}
    _freshness(net, status, age, report)
    try:
        _gas_station(net, chain, env, report)
        _hot_wallet(net, chain, report)
    except RetryableChainError as exc:
        report.problems.append(Problem("rpc_urls", str(exc), NODE_COMMANDS, "node_unreachable", EXIT_NODE))
    except ChainError as exc:
        report.problems.append(Problem("rpc_urls", f"the node answered with an error: {exc}", NODE_COMMANDS, exc.code))


def _resolved_wallet(chain, wallet: str) -> str | None:
    """The wallet as this host resolved it (already checked, EIP-55 checksum included), None when unset here."""
    value = getattr(chain.network, wallet)
    return None if "${" in value else value


def _freshness(net, status, age, report: NetworkCheck) -> None:
    if age is None:
        report.notes.append("the node does not say when its newest block was made")
    elif age > status.stale_after and not net.devnet:
        report.problems.append(Problem("rpc_urls", f"the node's newest block ({status.latest_block}) is {age:,} s "
                                       f"old (more than {status.stale_after:,} s): it is stuck or still syncing",
                                       NEEDED_BY["node_stale"], "node_stale"))
    elif age > status.stale_after:
        report.notes.append(f"the newest block is {age:,} s old (a devnet makes blocks on demand)")


def _gas_station(net, chain, env, report: NetworkCheck) -> None:
    hint = chain.sweep_gas_hint()
    if hint is None:
        return  # this family's sweeps never spend from a wallet of ours
    try:
        station = gas_station_address(net, chain, env)
    except (ChainError, RecoverError) as exc:
        setting = ADDRESS_ENV if env.get(ADDRESS_ENV) else SEED_ENV
        report.problems.append(Problem(setting, str(exc), NEEDED_BY["gas_station"], exc.code))
        return
    if station is None:
        report.notes.append(f"the gas station's balance was not checked: this host does not know its address (set "
                            f"{ADDRESS_ENV}, or {SEED_ENV} on a host that holds the seed)")
        return
    balance = chain.native_balance(station)
    sym, dec = net.native_symbol, net.native_decimals
    report.node["gas_station"] = {"address": station, "balance": str(balance), "needs": str(hint.native),
                                  "decimals": dec, "basis": hint.basis}
    if balance < hint.native:
        report.problems.append(Problem(
            "gas_station", f"the gas station {station} holds {units(balance, dec, sym)}, less than the "
            f"{units(hint.native, dec, sym)} one sweep takes ({hint.basis}): fund it", NEEDED_BY["gas_station"],
            "gas_station_unfunded"))


def _hot_wallet(net, chain, report: NetworkCheck) -> None:
    wallet = _resolved_wallet(chain, "hot_wallet")
    if wallet is None:
        return
    try:
        balance = chain.native_balance(wallet)
    except Unsupported:
        report.notes.append(f"the hot wallet's balance is not read on {net.family} networks")
        return
    report.node["hot_wallet"] = {"address": wallet, "balance": str(balance), "decimals": net.native_decimals}
