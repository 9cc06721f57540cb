"""``recover networks check KEY [--live] [--signer]``: every missing or invalid setting of a network at once.

Using a network reports one problem per run (the first unset variable); this lists them all, each with
the commands it blocks, so a network can be configured in one pass.  It reports what the host's role
needs: every host needs the node and the trust root; only a signing host (``--signer``) needs a signer
(``RECOVER_SEED`` or a keystore), so a read-only desk without the seed passes.  Without ``--live`` it
reads the environment and the network file only; ``--live`` also asks the node
(:mod:`recover.networks.livecheck`).

Exit code of the command: 4 when any problem is a setting to fix (wrong chain and an unfunded gas
station included), else 8 when the node could not be reached, else 0.
"""

from __future__ import annotations

import os
import re

from chains.base import Capability
from chains.config import WALLETS
from chains.errors import InvalidAddress
from chains.keys import SeedError, mnemonic_seed
from chains.registry import adapter_class
from recover.networks.findings import NEEDED_BY, NetworkCheck, Problem
from recover.networks.hsm_keys import hsm_problems
from recover.networks.registry import get_network

# Imports inside functions: the node check (``--live``) loads the chain adapter and its SDK only when asked.

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _strings(value, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def check_network(key: str, env: dict | None = None, *, live: bool = False, signer: bool = False) -> NetworkCheck:
    env = os.environ if env is None else env
    net = get_network(key)
    report = NetworkCheck(net, role="signer" if signer else "read-only", live=live)
    report.problems = _settings(net, env)
    report.problems += _role(env, signer, report.notes)
    report.problems += hsm_problems(net, env, signer=signer, notes=report.notes)
    if live:
        from recover.networks.livecheck import check_node

        check_node(net, env, report)
    return report


def _settings(net, env) -> list[Problem]:
    """Unset variables, unusable wallets, missing HD paths: what the file and the environment say."""
    problems: list[Problem] = []
    values = {}
    for path, text in _strings(net.model_dump(exclude={"source"}), ""):
        top = path.split(".")[0].split("[")[0]
        missing = [v for v in _VAR.findall(text) if not env.get(v)]
        for var in missing:
            problems.append(Problem(path, f"uses ${{{var}}}, which is not set in the environment",
                                    NEEDED_BY.get(top, "commands that use this network"), "variable_unset"))
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
                                        NEEDED_BY[wallet], "invalid_wallet"))
    caps = adapter_class(net.family).capabilities
    if Capability.GAS_STATION in caps and not net.gas_station_path:
        problems.append(Problem("gas_station_path", "not set", NEEDED_BY["gas_station_path"], "not_set"))
    if not net.deposit_prefixes:
        problems.append(Problem("deposit_path_prefix", "not set: no deposit address can be registered",
                                NEEDED_BY["deposit_path_prefix"], "not_set"))
    if not env.get("RECOVER_TRUST_ROOT"):
        problems.append(Problem("RECOVER_TRUST_ROOT", "not set: no operator can be checked",
                                NEEDED_BY["trust_root"], "not_set"))
    return problems


def _role(env, signer: bool, notes: list[str]) -> list[Problem]:
    """The signer's settings: problems on a signing host, a note elsewhere.  A seed that is set is checked
    on every host (a preparing desk derives the gas station's address from it)."""
    if env.get("RECOVER_SEED"):
        try:
            mnemonic_seed(env["RECOVER_SEED"])
        except SeedError:
            return [Problem("RECOVER_SEED", "is not a valid BIP-39 mnemonic (12 to 24 English words with a valid "
                            "checksum)", NEEDED_BY["signer"], "bad_seed")]
        return []
    if env.get("RECOVER_KEYSTORE_DIR"):
        if env.get("RECOVER_KEYSTORE_PASSPHRASE"):
            return []
        if signer:
            return [Problem("RECOVER_KEYSTORE_PASSPHRASE", "not set, but RECOVER_KEYSTORE_DIR is",
                            NEEDED_BY["signer"], "not_set")]
        notes.append("RECOVER_KEYSTORE_DIR is set without RECOVER_KEYSTORE_PASSPHRASE: this host cannot sign")
        return []
    if env.get("RECOVER_PKCS11_PIN") or env.get("RECOVER_PKCS11_PIN_FILE"):
        notes.append("no HD seed or keystore here: this host signs only with wallet keys on an HSM")
        return []
    if signer:
        return [Problem("RECOVER_SEED", "no signer here: neither RECOVER_SEED nor RECOVER_KEYSTORE_DIR is set",
                        NEEDED_BY["signer"], "no_signer")]
    notes.append("no signer here (neither RECOVER_SEED nor RECOVER_KEYSTORE_DIR): fine on a host that does not "
                 "sign; check a signing host with --signer")
    return []

