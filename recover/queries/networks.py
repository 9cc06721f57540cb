"""The networks as reads show them, without loading the network schema (pydantic) on every command.

Network files are checked by :func:`recover.networks.registry.networks` (``chains.config``), the one
validator.  What a read needs of each network (key, name, family, chain, class, conditions, native
symbol...) is kept in a cache file named by a digest of everything the check depends on: the
bundled files, the files of ``RECOVER_CONFIG_DIR`` (names and contents), and the source of the
checking code.  A read computes the digest (it reads the files, parses nothing) and uses the cache
when it is there; otherwise it runs the full check, which refuses a bad file exactly as before, and
writes the cache.  The cache lives in ``RECOVER_CACHE_DIR``, else ``$XDG_CACHE_HOME/recover``, else
``~/.cache/recover``; a cache that cannot be written is skipped, never an error.  Deciding commands
(the signer, quotes, plans) never use it: they load the files themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Imports inside functions: the read path loads statement checks, PyNaCl and the network files only for the
# documents that show them: `case list` starts without them.

FORMAT = "recover-network-view/2"
FIELDS = ("key", "name", "family", "chain", "chain_id", "recovery_class", "conditions", "reason", "confirmations",
          "native_symbol", "native_decimals", "devnet", "source", "deposit_model")
_KEEP_SECONDS = 7 * 86400
_KEEP_FILES = 64


@dataclass(frozen=True)
class NetworkView:
    """What reads show of a network (the same attribute names as ``chains.config.NetworkConfig``)."""

    key: str
    name: str
    family: str
    chain: str
    chain_id: int | None
    recovery_class: str
    conditions: tuple[str, ...]
    reason: str | None
    confirmations: int
    native_symbol: str
    native_decimals: int
    devnet: bool
    source: str
    deposit_model: str = "per_address"  # or "shared_memo": the approval's conditions depend on it

    @classmethod
    def of(cls, net) -> "NetworkView":
        return cls(**{f: (tuple(getattr(net, f)) if f == "conditions" else getattr(net, f)) for f in FIELDS})


def _tomls(folder: str) -> list[tuple[str, bytes]]:
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.is_file():
            with open(entry.path, "rb") as fh:
                out.append((entry.name, fh.read()))
    return out


def _code_files() -> list[Path]:
    import chains
    import fees

    here = Path(chains.__file__).parent
    return [here / "config.py", here / "registry.py", *sorted(here.glob("*/__init__.py")),
            Path(fees.__file__).parent / "policy.py", Path(fees.__file__).parent / "amounts.py", Path(__file__)]


def digest(config_dir: str | None) -> str | None:
    """The digest of everything the networks' check depends on (None when the override folder is not
    one: the full check says why)."""
    import importlib.util

    h = hashlib.sha256(FORMAT.encode())
    bundled = list(importlib.util.find_spec("chains.configs").submodule_search_locations)[0]
    parts = [("bundled", _tomls(bundled))]
    if config_dir:
        if not os.path.isdir(config_dir):
            return None
        parts.append((os.path.abspath(config_dir) + "|" + config_dir, _tomls(config_dir)))
    for label, files in parts:
        h.update(b"\0dir\0" + label.encode())
        for name, data in files:
            h.update(b"\0file\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    for path in _code_files():
        h.update(b"\0code\0" + path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    if os.environ.get("RECOVER_CACHE_DIR"):
        return Path(os.environ["RECOVER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recover"


def _read(path: Path) -> dict[str, NetworkView] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        return {n["key"]: NetworkView(**{**n, "conditions": tuple(n["conditions"])}) for n in doc["networks"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(folder: Path, path: Path, views: dict[str, NetworkView]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"format": FORMAT, "networks": [asdict(v) for v in views.values()]}),
                       encoding="utf-8")
        os.replace(tmp, path)
        _prune(folder)
    except OSError:
        pass  # a read never fails for want of a cache


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("networks-*.json"), key=lambda p: p.stat().st_mtime)
    now = time.time()
    for i, p in enumerate(files):
        if i < len(files) - _KEEP_FILES or now - p.stat().st_mtime > _KEEP_SECONDS:
            p.unlink(missing_ok=True)


def network_views(config_dir: str | None = None) -> dict[str, NetworkView]:
    """Every network by key, as the full check of the files would load them (that check runs, and
    raises its error, whenever the files or the code changed since the cache was written)."""
    config_dir = config_dir if config_dir is not None else os.environ.get("RECOVER_CONFIG_DIR")
    key = digest(config_dir)
    folder = cache_dir()
    path = folder / f"networks-{key}.json" if key else None
    if path is not None:
        found = _read(path)
        if found is not None:
            return found
    from recover.networks.registry import networks

    views = {k: NetworkView.of(n) for k, n in networks(config_dir).items()}
    if path is not None:
        _write(folder, path, views)
    return views


def get_network_view(key: str) -> NetworkView:
    """The network ``key`` (``unknown_network``, exit 4, as ``recover.networks.registry.get_network``)."""
    from recover.errors import InvalidInput

    nets = network_views()
    if key not in nets:
        raise InvalidInput(f"unknown network {key!r}; `recover networks` lists the {len(nets)} known ones",
                           code="unknown_network")
    return nets[key]


DEVNETS_ENV = "RECOVER_DEVNETS"
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def devnets_wanted(flag: bool | None = None) -> bool:
    """Whether a listing shows the devnets (files marked ``devnet = true``: the test and demo
    chains): ``flag`` when given (``--devnets``), else ``RECOVER_DEVNETS``.  A desk lists its real
    networks; the devnets stay usable by key whatever this says."""
    if flag is not None:
        return flag
    from recover.errors import ConfigError

    value = os.environ.get(DEVNETS_ENV, "").strip().lower()
    if value not in _YES + _NO:
        raise ConfigError(f"{DEVNETS_ENV} must be 1 or 0 (true/false, yes/no), not {value!r}",
                          details={"setting": DEVNETS_ENV})
    return value in _YES


def listing(nets, recovery_class: str | None = None, *, include_devnets: bool = True) -> list:
    """Networks in the order ``recover networks`` lists them (of one class when asked); ``nets`` are
    ``NetworkConfig`` or :class:`NetworkView` values alike."""
    return [n for n in sorted(nets, key=lambda n: (n.devnet, n.recovery_class, n.key))
            if (recovery_class is None or n.recovery_class == recovery_class) and (include_devnets or not n.devnet)]


def shared_chains(nets) -> list[tuple[str, list[str]]]:
    """``(chain, keys)`` for each chain that two or more *real* networks name: a deposit claimed under
    one of them is refused under the others, which a desk should know.  Devnets are left out: the
    shipped ones (and a desk's copies of them) share their local chains by design, and a real desk
    does not claim deposits on them."""
    by_chain: dict[str, list[str]] = {}
    for n in nets:
        if not n.devnet:
            by_chain.setdefault(n.chain, []).append(n.key)
    return [(chain, sorted(keys)) for chain, keys in sorted(by_chain.items()) if len(keys) > 1]
