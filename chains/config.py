"""Network configuration: the TOML schema of DESIGN.md, its loader and the registry.

Files are read from the bundled ``chain_configs/`` and then from ``RECOVER_CONFIG_DIR`` (a file
there with the same ``key`` replaces the bundled one).  Unknown keys are errors naming the file and
the key.  ``${NAME}`` placeholders stay as written until a network is *used*
(:meth:`NetworkConfig.resolved`), so an unset variable only matters for the network that needs it.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chains.addresses import validate_address
from chains.errors import InvalidAddress, NetworkConfigError
from chains.registry import family
from fees import FeePolicy

CONDITIONS = (
    "ownership_proof",
    "manual_review",
    "gas_topup",
    "min_value",
    "fork_signing",
    "contract_deployment",
    "shared_address_memo",
)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
WALLETS = ("fee_collector", "hot_wallet")  # the exchange's own wallets a network file names
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Table(BaseModel):
    """A TOML table: unknown keys are errors and values must have their type (``confirmations = "2"``
    is refused, not coerced); TOML arrays become the tuples the fields hold."""

    model_config = _STRICT

    @model_validator(mode="before")
    @classmethod
    def _arrays_as_tuples(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return data


class ListedToken(_Table):
    """An asset the exchange credits normally on this network (a deposit of it is not a misdeposit)."""

    symbol: str
    address: str
    decimals: int = Field(ge=0, le=36)
    min_deposit: int = Field(default=0, ge=0)  # base units; below it a deposit is ``below_minimum``


class EvmOptions(_Table):
    model_config = _STRICT
    legacy_tx: bool = False  # pre-EIP-1559 network: type-0 transactions with EIP-155 chain id
    max_fee_gwei_ceiling: int | None = Field(default=None, ge=1)
    # How `scan` finds native deposits to retired addresses: "blocks" reads every block with its
    # transactions (any node); "trace_filter" asks the node for the calls to those addresses
    # (Erigon, Nethermind, Reth, anvil; not geth), an order of magnitude fewer bytes to read.
    native_scan: Literal["blocks", "trace_filter"] = "blocks"
    trace_filter_blocks: int = Field(default=300, ge=1, le=100_000)  # block range per trace_filter (anvil: 300)


class UtxoOptions(_Table):
    model_config = _STRICT
    address_network: str  # bitcoinlib's network name used to decode addresses
    dust_limit: int = Field(default=546, ge=0)  # base units
    fee_rate_floor: int = Field(default=1, ge=1)  # sat/vB
    fee_rate_ceiling: int = Field(default=500, ge=1)  # sat/vB
    fork_id: bool = False  # SIGHASH_FORKID signing (Bitcoin Cash, Bitcoin SV)
    # Which chain this is when the address format does not say (fork chains share Bitcoin's): two
    # network files naming the same chain share their deposits (one deposit, one case).
    chain: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")

    @model_validator(mode="after")
    def _fork_chain_named(self) -> "UtxoOptions":
        if self.fork_id and not self.chain:
            raise ValueError("chain: a fork_id network must name its chain (e.g. chain = \"bitcoin-cash\"): it "
                             "shares Bitcoin's addresses and pre-fork transactions")
        return self


class SolanaOptions(_Table):
    model_config = _STRICT
    cluster: str = "mainnet-beta"


class CosmosOptions(_Table):
    """A Cosmos SDK chain: ``rpc_urls`` are its REST (LCD) API endpoints."""

    model_config = _STRICT
    chain_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # e.g. cosmoshub-4, injective-1
    bech32_prefix: str = Field(pattern=r"^[a-z]{1,16}$")                 # cosmos, inj, osmo
    key_type: Literal["secp256k1", "eth_secp256k1"] = "secp256k1"       # eth_secp256k1: Injective, Evmos
    native_denom: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9/:._-]{1,127}$")  # uatom, inj, uosmo
    gas_price: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$")  # native base units per gas unit, decimal text
    gas_adjustment: str = Field(default="1.5", pattern=r"^[0-9]+(\.[0-9]+)?$")  # simulated gas times this
    min_gas: int = Field(default=100_000, ge=1)  # no transaction asks for less (CheckTx refuses less)


class XrplOptions(_Table):
    """An XRP Ledger network: ``rpc_urls`` are rippled JSON-RPC endpoints."""

    model_config = _STRICT
    key_type: Literal["secp256k1", "ed25519"] = "secp256k1"  # the HD-derived wallet keys' algorithm
    network_id: int | None = Field(default=None, ge=0)       # NetworkID field (required above 1024)
    last_ledger_offset: int = Field(default=20, ge=1, le=1000)  # LastLedgerSequence = validated + this


class StellarOptions(_Table):
    """A Stellar network: ``rpc_urls`` are Horizon endpoints."""

    model_config = _STRICT
    network_passphrase: str = Field(min_length=1)           # e.g. "Public Global Stellar Network ; September 2015"
    base_fee: int = Field(default=100, ge=100)               # stroops per operation
    timeout_seconds: int = Field(default=300, ge=10, le=86400)  # a refund's time bounds: valid this long


class HsmOptions(_Table):
    """Wallet keys held on a PKCS#11 token (DESIGN.md "Signers"): ``keys`` maps each key's label on the
    token to the address that key must control.  A wallet names its HSM key as ``hsm:<label>`` where an
    HD path would stand (``gas_station_path``, a shared address's ``derivation_path``); the signer reads
    the public key from the token and refuses to sign when its address is not the one written here."""

    model_config = _STRICT
    token: str = Field(min_length=1, max_length=32)   # the token's label (CKA_LABEL of the token, 32 chars)
    module: str | None = None                          # the PKCS#11 library; RECOVER_PKCS11_MODULE overrides
    keys: dict[str, str] = Field(default_factory=dict)  # key label -> address it controls

    @field_validator("keys")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            if not _HSM_LABEL.match(label):
                raise ValueError(f"{label!r} is not a key label (letters, digits, '.', '_', '-', up to 64)")
        return value


class MemoAddress(_Table):
    """A shared deposit address of another exchange (or service) that credits only with a memo: a refund
    sent there without ``--return-memo`` is lost again, so it is refused."""

    address: str
    name: str


_HD_PATH = re.compile(r"^m(/[0-9]{1,10}'?)+$")
_HSM_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HSM_PREFIX = "hsm:"  # a wallet key on the network's HSM token: ``hsm:<label>`` where an HD path would stand


def hsm_label(path: str | None) -> str | None:
    """The key label of an ``hsm:<label>`` key name, or None for an HD path (pure)."""
    if isinstance(path, str) and path.startswith(HSM_PREFIX) and _HSM_LABEL.match(path[len(HSM_PREFIX):]):
        return path[len(HSM_PREFIX):]
    return None


class NetworkConfig(_Table):
    """One network file.  Values may hold ``${ENV}`` placeholders until :meth:`resolved`."""

    model_config = _STRICT

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    family: Literal["evm", "utxo", "solana", "cosmos", "xrpl", "stellar"]
    chain_id: int | None = Field(default=None, ge=1)
    recovery_class: Literal["direct", "conditional"]
    conditions: tuple[str, ...] = ()
    reason: str | None = None  # one line: why a conditional network needs its conditions
    devnet: bool = False
    rpc_urls: tuple[str, ...] = Field(min_length=1)
    confirmations: int = Field(ge=1)
    native_symbol: str
    native_decimals: int = Field(ge=0, le=36)
    native_min_deposit: int = Field(default=0, ge=0)
    fee_collector: str
    hot_wallet: str
    gas_station_path: str | None = None
    # Deposit addresses may only be derived below this HD path (or one of these): the signer refuses a
    # "deposit address" registered at any other path, such as the gas station's or a hot wallet's.
    deposit_path_prefix: str | tuple[str, ...] | None = None
    listed_tokens: tuple[ListedToken, ...] = ()
    # How deposits are told apart: one address per user ("per_address"), or shared addresses of the
    # exchange and a memo / tag per user ("shared_memo": memo chains; DESIGN.md "Shared-wallet deposits").
    deposit_model: Literal["per_address", "shared_memo"] = "per_address"
    memo_pattern: str | None = None  # shared_memo: what the exchange's memos look like (a regex, whole memo)
    memo_required_addresses: tuple[MemoAddress, ...] = ()  # shared_memo: others' addresses needing a memo
    fee: dict[str, Any] | None = None
    evm: EvmOptions | None = None
    utxo: UtxoOptions | None = None
    solana: SolanaOptions | None = None
    cosmos: CosmosOptions | None = None
    xrpl: XrplOptions | None = None
    stellar: StellarOptions | None = None
    hsm: HsmOptions | None = None
    source: str = Field(default="", exclude=True)

    @field_validator("conditions")
    @classmethod
    def _known_conditions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in CONDITIONS]
        if unknown:
            raise ValueError(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
        if len(set(value)) != len(value):
            raise ValueError("a condition is listed twice")
        return value

    @model_validator(mode="after")
    def _family_rules(self) -> "NetworkConfig":
        if self.family == "evm" and self.chain_id is None:
            raise ValueError("chain_id: required for an evm network")
        if self.family != "evm" and self.chain_id is not None:
            raise ValueError("chain_id: only evm networks have a chain_id")
        for fam in ("evm", "utxo", "solana", "cosmos", "xrpl", "stellar"):
            if getattr(self, fam) is not None and fam != self.family:
                raise ValueError(f"[{fam}]: this is a {self.family} network")
        if self.family == "utxo" and self.utxo is None:
            raise ValueError("[utxo]: required for a utxo network (address_network at least)")
        if self.family == "cosmos" and self.cosmos is None:
            raise ValueError("[cosmos]: required for a cosmos network (chain_id, bech32_prefix, native_denom, "
                             "gas_price at least)")
        if self.family == "stellar" and self.stellar is None:
            raise ValueError("[stellar]: required for a stellar network (network_passphrase at least)")
        if self.deposit_model == "shared_memo":
            if "shared_address_memo" not in self.conditions:
                raise ValueError("conditions: a shared_memo network is conditional on 'shared_address_memo'")
            if self.memo_pattern is not None:
                try:
                    re.compile(self.memo_pattern)
                except re.error as exc:
                    raise ValueError(f"memo_pattern: not a regular expression: {exc}") from None
        elif self.memo_pattern is not None or self.memo_required_addresses:
            raise ValueError("memo_pattern / memo_required_addresses: only for deposit_model = \"shared_memo\"")
        label = hsm_label(self.gas_station_path)
        if label is not None and (self.hsm is None or label not in self.hsm.keys):
            raise ValueError(f"gas_station_path: {self.gas_station_path!r} names an HSM key, but [hsm.keys] has no "
                             f"label {label!r} (with the address it controls)")
        if self.recovery_class == "conditional":
            if not self.conditions:
                raise ValueError("conditions: a conditional network must name its conditions")
            if not self.reason:
                raise ValueError("reason: a conditional network must say why in one line")
        elif self.conditions:
            raise ValueError("conditions: a direct network has no conditions")
        return self

    @field_validator("gas_station_path")
    @classmethod
    def _hd_path(cls, value: str | None) -> str | None:
        if value is not None and not _HD_PATH.match(value) and hsm_label(value) is None:
            raise ValueError(f"{value!r} is not an HD path like m/44'/60'/1'/0/0 (or hsm:<key label>)")
        return value

    @field_validator("deposit_path_prefix")
    @classmethod
    def _hd_prefixes(cls, value):
        items = (value,) if isinstance(value, str) else tuple(value or ())
        for item in items:
            if not _HD_PATH.match(item):
                raise ValueError(f"{item!r} is not an HD path like m/44'/60'/0'/0")
        if value is not None and not items:
            raise ValueError("name at least one HD path")
        return value

    @property
    def deposit_prefixes(self) -> tuple[str, ...]:
        v = self.deposit_path_prefix
        return (v,) if isinstance(v, str) else tuple(v or ())

    def deposit_path_allowed(self, path: str) -> bool:
        """True when ``path`` lies strictly below one of the deposit prefixes and is not the gas
        station's path."""
        if not _HD_PATH.match(path or "") or path == self.gas_station_path:
            return False
        return any(path.startswith(p.rstrip("/") + "/") for p in self.deposit_prefixes)

    def hsm_address(self, path: str | None) -> str | None:
        """The address the network file says the HSM key ``hsm:<label>`` controls, or None when
        ``path`` is not an HSM key name or the file lists no such key (pure)."""
        label = hsm_label(path)
        if label is None or self.hsm is None:
            return None
        return self.hsm.keys.get(label)

    # -- family options with defaults -------------------------------------------------------
    @property
    def evm_options(self) -> EvmOptions:
        return self.evm or EvmOptions()

    @property
    def utxo_options(self) -> UtxoOptions:
        if self.utxo is None:
            raise NetworkConfigError(f"{self.source}: network {self.key} has no [utxo] table")
        return self.utxo

    def listed_token(self, address: str) -> ListedToken | None:
        wanted = address.lower() if self.family == "evm" else address
        for token in self.listed_tokens:
            if (token.address.lower() if self.family == "evm" else token.address) == wanted:
                return token
        return None

    def validate_address(self, value: str, *, what: str = "address") -> str:
        """Check an address for this network by its family's rules (checksum, network prefix...)."""
        return validate_address(self.family, value, what=what, network=self)

    def check_wallet(self, key: str, value: str) -> str:
        """One of the exchange's own wallets (``fee_collector``, ``hot_wallet``), wherever its value
        came from (the file or ``${ENV}``): a valid address of this network (EVM: with its EIP-55
        checksum) and never the zero address.  Raises ``InvalidAddress``."""
        self.validate_address(value, what=key)
        if _is_zero_address(value):
            raise InvalidAddress(f"{key} {value!r} is the zero address: funds sent there are burned")
        return value

    @property
    def chain(self) -> str:
        """The chain this file describes, whatever its ``key`` (EVM ``eip155:<chain id>``, UTXO
        ``utxo:<chain>``, Solana ``solana:<cluster>``): an on-chain deposit is identified by it, so two
        network files for one chain cannot claim one deposit twice."""
        return family(self.family).chain_identity(self)

    def placeholders(self) -> set[str]:
        """Names of the environment variables this file refers to."""
        return set(_VAR.findall(self.model_dump_json()))

    def resolved(self, env: dict[str, str] | None = None, *, wallets: tuple[str, ...] = WALLETS) -> "NetworkConfig":
        """Return a copy with every ``${NAME}`` replaced from the environment.

        Raises ``NetworkConfigError`` naming the file, the key and the variable when one is unset,
        and validates the wallet addresses of the network (checksums included).  ``wallets`` names the
        exchange wallets (of :data:`WALLETS`) the caller will use: an operation that pays none of them
        (verify, track, scan) passes fewer, and a wallet it leaves out whose variable is not set here
        stays as written (``${NAME}``, never a usable address).  A wallet whose variable *is* set is
        resolved and checked either way: a wrong value is wrong for every operation.
        """
        env = os.environ if env is None else env
        data = self.model_dump(exclude={"source"})
        unknown = set(wallets) - set(WALLETS)
        if unknown:
            raise ValueError(f"not wallets of a network file: {sorted(unknown)}")
        left: set[str] = set()

        def sub(value: Any, path: str) -> Any:
            if isinstance(value, str):
                if path in WALLETS and path not in wallets and any(
                        env.get(name, "") == "" for name in _VAR.findall(value)):
                    left.add(path)
                    return value  # not used by the caller and not set here: left unresolved
                def repl(m: re.Match) -> str:
                    name = m.group(1)
                    if name not in env or env[name] == "":
                        raise NetworkConfigError(
                            f"{self.source}: key '{path}' uses ${{{name}}}, which is not set in the environment",
                            details={"file": self.source, "key": path, "variable": name},
                        )
                    return env[name]

                return _VAR.sub(repl, value)
            if isinstance(value, dict):
                return {k: sub(v, f"{path}.{k}" if path else k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [sub(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return value

        out = NetworkConfig(**sub(data, ""), source=self.source)
        out._check_addresses(skip=left)
        return out

    def _check_addresses(self, skip: set[str] = frozenset()) -> None:
        checks = [("fee_collector", self.fee_collector), ("hot_wallet", self.hot_wallet)]
        checks += [(f"listed_tokens[{i}].address", t.address) for i, t in enumerate(self.listed_tokens)
                   if self.family not in ("utxo", "cosmos")]  # UTXO: none; Cosmos: a denomination, not an address
        checks += [(f"memo_required_addresses[{i}].address", m.address)
                   for i, m in enumerate(self.memo_required_addresses)]
        checks += [(f"hsm.keys.{label}", address) for label, address in (self.hsm.keys if self.hsm else {}).items()]
        for key, value in checks:
            if key in skip:
                continue  # left unresolved on purpose (see ``resolved(wallets=...)``)
            try:
                if key in WALLETS:
                    self.check_wallet(key, value)
                else:
                    self.validate_address(value, what=key)
            except InvalidAddress as exc:
                raise NetworkConfigError(f"{self.source}: key '{key}': {exc}",
                                         details={"file": self.source, "key": key}) from None


def _is_zero_address(value: str) -> bool:
    """All-zero bytes in hex (EVM) or base58 (``1111...``, Solana's zero key) form."""
    body = value[2:] if value.lower().startswith("0x") else value
    return bool(body) and (set(body) <= {"0"} or set(body) <= {"1"})


def _format_validation_error(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(file)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        else:
            parts.append(f"key '{loc}': {err['msg']}")
    return f"{source}: " + "; ".join(parts)


def _reject_floats(value: Any, path: str, source: str) -> None:
    """TOML floats are never money: a float anywhere in a network file is a config error."""
    if isinstance(value, float):
        raise NetworkConfigError(
            f"{source}: key '{path}' is a float ({value!r}); write amounts as strings, e.g. \"{value}\"",
            details={"file": source, "key": path},
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _reject_floats(v, f"{path}.{k}" if path else k, source)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_floats(v, f"{path}[{i}]", source)


def load_network_file(path: Path | str, *, source: str | None = None, text: str | None = None) -> NetworkConfig:
    source = source or str(path)
    try:
        raw = text if text is not None else Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise NetworkConfigError(f"{source}: not valid TOML: {exc}", details={"file": source}) from None
    except OSError as exc:
        raise NetworkConfigError(f"{source}: cannot read: {exc}", details={"file": source}) from None
    _reject_floats(data, "", source)
    if "source" in data:
        raise NetworkConfigError(f"{source}: unknown key 'source'", details={"file": source, "key": "source"})
    try:
        net = NetworkConfig(**data, source=source)
    except ValidationError as exc:
        raise NetworkConfigError(_format_validation_error(source, exc), details={"file": source}) from None
    except TypeError as exc:
        raise NetworkConfigError(f"{source}: {exc}", details={"file": source}) from None
    if net.fee is not None:
        FeePolicy.from_table(net.fee, source=f"{source} [fee]")
    return net


def _bundled_files() -> list[tuple[str, str]]:
    root = resources.files("chains.configs")
    return sorted(
        (f"chain_configs/{entry.name}", entry.read_text(encoding="utf-8"))
        for entry in root.iterdir()
        if entry.name.endswith(".toml")
    )


def load_networks(config_dir: str | os.PathLike | None = None) -> dict[str, NetworkConfig]:
    """Every bundled network, then every ``*.toml`` of ``config_dir`` (default ``RECOVER_CONFIG_DIR``)."""
    networks: dict[str, NetworkConfig] = {}
    for source, text in _bundled_files():
        net = load_network_file(source, source=source, text=text)
        if net.key in networks:
            raise NetworkConfigError(
                f"{source}: key '{net.key}' is already defined by {networks[net.key].source}",
                details={"file": source, "key": "key"},
            )
        networks[net.key] = net
    override = config_dir if config_dir is not None else os.environ.get("RECOVER_CONFIG_DIR")
    if override:
        folder = Path(override)
        if not folder.is_dir():
            raise NetworkConfigError(f"RECOVER_CONFIG_DIR {folder} is not a folder")
        seen: dict[str, str] = {}
        for path in sorted(folder.glob("*.toml")):
            net = load_network_file(path)
            if net.key in seen:
                raise NetworkConfigError(
                    f"{path}: key '{net.key}' is already defined by {seen[net.key]}",
                    details={"file": str(path), "key": "key"},
                )
            seen[net.key] = str(path)
            networks[net.key] = net
    return networks
