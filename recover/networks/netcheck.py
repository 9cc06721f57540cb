"""``recover networks check KEY``: every missing or invalid setting of a network, all at once.

Using a network reports one problem per run (the first unset variable); this lists them all, with
the commands that need each setting, so a network can be configured in one pass.  It reads the
environment and the network file; it never asks a node.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from chains.base import Capability
from chains.config import WALLETS
from chains.errors import InvalidAddress
from chains.registry import adapter_class
from recover.networks.registry import get_network

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

NEEDED_BY = {
    "rpc_urls": "verify, quote, prepare, sign, broadcast, track, scan",
    "fee_collector": "quote, prepare, sign",
    "hot_wallet": "prepare and sign of credit-account cases",
    "gas_station_path": "prepare and sign of token sweeps (gas top-up, fee payer)",
    "deposit_path_prefix": "addresses import, sign",
    "signer": "sign, and prepare where a gas station pays",
    "trust_root": "every state-changing command",
}


@dataclass(frozen=True)
class Problem:
    setting: str
    problem: str
    needed_by: str

    def to_dict(self) -> dict:
        return {"setting": self.setting, "problem": self.problem, "needed_by": self.needed_by}


def _strings(value, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def check_network(key: str, env: dict | None = None) -> tuple[object, list[Problem]]:
    env = os.environ if env is None else env
    net = get_network(key)
    problems: list[Problem] = []
    values = {}
    for path, text in _strings(net.model_dump(exclude={"source"}), ""):
        top = path.split(".")[0].split("[")[0]
        missing = [v for v in _VAR.findall(text) if not env.get(v)]
        for var in missing:
            problems.append(Problem(path, f"uses ${{{var}}}, which is not set in the environment",
                                    NEEDED_BY.get(top, "commands that use this network")))
        if not missing:
            values[path] = (_VAR.sub(lambda m: env[m.group(1)], text), _VAR.findall(text))
    for wallet in WALLETS:
        if wallet in values:
            text, names = values[wallet]
            try:  # the rule every command applies when it uses the network (NetworkConfig.resolved)
                net.check_wallet(wallet, text)
            except InvalidAddress as exc:
                origin = f"from ${{{names[0]}}}" if names else f"written in {net.source}"
                problems.append(Problem(wallet, f"{text!r} ({origin}) is not a usable address: {exc}",
                                        NEEDED_BY[wallet]))
    caps = adapter_class(net.family).capabilities
    if Capability.GAS_STATION in caps and not net.gas_station_path:
        problems.append(Problem("gas_station_path", "not set", NEEDED_BY["gas_station_path"]))
    if not net.deposit_prefixes:
        problems.append(Problem("deposit_path_prefix", "not set: no deposit address can be registered",
                                NEEDED_BY["deposit_path_prefix"]))
    if not env.get("RECOVER_SEED") and not env.get("RECOVER_KEYSTORE_DIR"):
        problems.append(Problem("RECOVER_SEED", "no signer here: neither RECOVER_SEED nor RECOVER_KEYSTORE_DIR is "
                                "set (fine on a host that does not sign)", NEEDED_BY["signer"]))
    if not env.get("RECOVER_TRUST_ROOT"):
        problems.append(Problem("RECOVER_TRUST_ROOT", "not set: no operator can be checked",
                                NEEDED_BY["trust_root"]))
    return net, problems
