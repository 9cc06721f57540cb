"""What the HSM tokens the network files name hold, and whether they hold what the files say.

``recover keys hsm list`` shows each token's keys (label, curve, public key) with the address each key
controls on every network that names the token; ``networks check`` reports a token it cannot open
(missing, wrong PIN, no PIN set) and each ``[hsm.keys]`` entry the token does not hold, or holds with a
key that controls another address.  The same checks :func:`recover.casework.signing.hsm_wallet_key`
makes before it signs, made ahead so a signing host is set up in one pass.
"""

from __future__ import annotations

import os

from chains.errors import ChainError
from recover.errors import ToolkitError
from recover.networks.chainio import adapter
from recover.networks.findings import Problem
from recover.networks.hsm_token import hsm_token
from recover.networks.registry import get_network, networks as all_networks

# Imports inside functions: chains.hsm (python-pkcs11) loads only when a token is read.

NEEDED_BY = "sign of plans whose wallet key is on the HSM (gas station, fee payer, shared wallet)"


def _address(net, key) -> str | None:
    """The address ``key`` controls on ``net``, or None when the family cannot use its curve."""
    try:
        return adapter(net).address_of_public_key(key.curve, key.public_key)
    except ChainError:
        return None


def hsm_inventory(*, token: str | None = None, network: str | None = None, env: dict | None = None) -> list[dict]:
    """Every token the network files name (or the one labelled ``token``, or the one of ``network``),
    opened with this host's PIN: its keys, and per network naming the token, the address of each key
    and whether the file's ``[hsm.keys]`` entry for that label matches."""
    from chains.hsm import token_keys

    env = os.environ if env is None else env
    nets = [get_network(network)] if network else list(all_networks().values())
    nets = [n for n in nets if n.hsm is not None and (token is None or n.hsm.token == token)]
    if not nets:
        from recover.errors import NotFound

        raise NotFound("no network file names " + (f"token {token!r}" if token else
                                                   f"an [hsm] table{' for ' + network if network else ''}"),
                       code="hsm_unknown")
    tokens: dict[tuple, list] = {}
    for net in nets:
        ref = hsm_token(net, env)
        tokens.setdefault((ref.module, ref.label), [ref, []])[1].append(net)
    out = []
    for (module, label), (ref, users) in sorted(tokens.items()):
        keys = token_keys(ref)
        entries = []
        for key in keys:
            networks = []
            for net in users:
                address = _address(net, key)
                if address is None:
                    continue
                configured = net.hsm.keys.get(key.label)
                networks.append({"network": net.key, "address": address, "configured": configured,
                                 "matches": None if configured is None else adapter(net).same_address(address,
                                                                                                       configured)})
            entries.append({"label": key.label, "curve": key.curve, "public_key": key.public_key.hex(),
                            "networks": networks})
        held = {k.label for k in keys}
        missing = sorted({(n.key, lbl) for n in users for lbl in n.hsm.keys if lbl not in held})
        out.append({"token": label, "module": module, "keys": entries,
                    "missing": [{"network": n, "label": lbl} for n, lbl in missing]})
    return out


def hsm_problems(net, env: dict, *, signer: bool, notes: list[str]) -> list[Problem]:
    """The network's ``[hsm]`` on this host: problems on a signing host (or wherever a PIN is set),
    a note elsewhere.  Every configured key is opened and its address compared with the file's."""
    from chains.hsm import token_keys

    if net.hsm is None:
        return []
    if not signer and not (env.get("RECOVER_PKCS11_PIN") or env.get("RECOVER_PKCS11_PIN_FILE")):
        notes.append(f"wallet keys on HSM token {net.hsm.token!r}: not checked here (no RECOVER_PKCS11_PIN); "
                     "check a signing host with --signer")
        return []
    try:
        ref = hsm_token(net, env)
        held = {k.label: k for k in token_keys(ref)}
        resolved = net.resolved(env, wallets=()) if any("${" in a for a in net.hsm.keys.values()) else net
    except ToolkitError as exc:  # no PIN, no module, no such token, wrong PIN: one finding
        return [Problem("hsm", str(exc), NEEDED_BY, exc.code)]
    problems = []
    for label, written in sorted(resolved.hsm.keys.items()):
        key = held.get(label)
        if key is None:
            problems.append(Problem(f"hsm.keys.{label}", f"token {ref.label!r} holds no key pair labelled {label!r}",
                                    NEEDED_BY, "signer_missing_key"))
            continue
        address = _address(net, key)
        if address is None or not adapter(net).same_address(address, written):
            problems.append(Problem(f"hsm.keys.{label}", f"the key {label!r} on token {ref.label!r} controls "
                                    f"{address or 'no address of this network (' + key.curve + ')'}, the file "
                                    f"says {written}", NEEDED_BY, "hsm_address_mismatch"))
    return problems
