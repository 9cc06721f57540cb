"""A local single-validator Cosmos SDK chain: ``injectived`` (Injective, Cosmos SDK 0.50 on CometBFT).

It lives in the package (not in the tests) because ``recover demo --memo`` runs a shared-wallet case on
it; the tests reach it through ``tests/support/cosmos_devnet.py``.  Nothing imports it but them:
``chains.cosmos`` stays light.  A plain module (no pytest fixtures); wire it from a test module::

    @pytest.fixture(scope="module")
    def cosmos():
        node = start_injectived()
        yield node
        node.stop()

The binary comes from the PyPI wheel ``injective-core`` (a ``test`` extra, installed by ``make test``
and ``make demo``); without it :func:`injectived_path` raises :class:`DevnetUnavailable` (exit 4).
The wheel ships it compressed (``injective_core/bin/injectived.tar.zst``) and unpacks it beside the
archive on first use (:func:`injective_core.get_binary_path`), with ``libwasmvm.x86_64.so`` that the
binary links against: :func:`injectived_path` unpacks it under a file lock (parallel test workers) and
:func:`injectived_env` puts that folder on ``LD_LIBRARY_PATH``.  The wheel's console script
``injectived`` does the same and then ``execv``s the binary; the helper runs the binary directly so the
node's PID is the process it stops.

:func:`start_injectived` makes a fresh home in a temporary folder, exactly as a one-node network is
set up by hand (the commands are in :data:`SETUP_COMMANDS` order)::

    injectived init devnode --chain-id recover-devnet-1 --default-denom inj --home H
    injectived keys add NAME --keyring-backend test --output json --home H     # for each of ACCOUNTS
    injectived genesis add-genesis-account NAME COINS --chain-id ... --keyring-backend test --home H
    injectived genesis gentx validator 1000000000000000000000inj --chain-id ... --keyring-backend test --home H
    injectived genesis collect-gentxs --home H

then binds every listener to 127.0.0.1 on a free port (CometBFT RPC, REST API, gRPC, P2P, pprof, the
ABCI proxy address; the EVM JSON-RPC server is switched off), sets ``timeout_commit`` to
:data:`TIMEOUT_COMMIT`, starts ``injectived start --home H`` and waits until blocks are produced and the
REST API answers.  If the node does not come up, it raises :class:`RuntimeError` with the tail of the
node's log: tests that need the chain fail, never skip.

Accounts (keys in the node's ``test`` keyring, ``eth_secp256k1`` on coin type 60 as Injective's keys are;
their mnemonics are in :attr:`CosmosNode.mnemonics`): ``validator``, ``user`` (a depositor),
``exchange`` (the exchange's shared deposit wallet), ``other``; each holds :data:`GENESIS_COINS`.
Amounts are base units (``inj`` has 18 decimals).  Every fee is paid at the node's minimum gas price
:data:`GAS_PRICE`.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from chains.errors import ChainError, Unsupported

# Imports inside functions: injective_core is an optional (``test``) package, asked for only when a node
# starts; ctypes only in the node's child process.

CHAIN_ID = "recover-devnet-1"
DENOM = "inj"                              # native, 18 decimals
DECIMALS = 18
#: an IBC-style denomination (``ibc/`` + 64 hex digits; the bank module only sees a name) every account also holds
IBC_DENOM = "ibc/" + "5A" * 32
ACCOUNTS = ("validator", "user", "exchange", "other")
GENESIS_COINS = {DENOM: 10**24, IBC_DENOM: 10**12}      # 1,000,000 INJ and 1,000,000 of a 6-decimal IBC coin
SELF_DELEGATION = 10**21                                # 1,000 INJ (the power reduction is 10**18)
GAS_PRICE = 160_000_000                                 # the node's default minimum-gas-prices, in inj
SEND_GAS = 200_000                                      # enough for one bank MsgSend (about 1.2e5 used)
TIMEOUT_COMMIT = "300ms"
START_TIMEOUT_S = 90.0
TX_TIMEOUT_S = 30.0

_UNPACK_LOCK = Path(tempfile.gettempdir()) / "injective-core-unpack.lock"


class DevnetUnavailable(Unsupported):
    """This machine cannot run the devnet: ``injective-core`` (its ``injectived``) is not installed."""

    code = "devnet_unavailable"


# -- process helpers (the package's own copies of tests/support/nodeproc's: chains/ never imports tests/) ---
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _terminate(process, *, grace: float = 15.0) -> None:
    """SIGTERM the node by its PID, wait ``grace`` seconds, then SIGKILL; nothing when it has ended."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the node if the Python process that started it dies (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# -- the binary ------------------------------------------------------------------------------------
def injectived_path() -> Path:
    """The ``injectived`` binary of the installed ``injective-core`` wheel (unpacked on first use)."""
    try:
        import injective_core
    except ImportError:
        raise DevnetUnavailable("the local Cosmos chain needs injectived, from the PyPI package injective-core, "
                                "which is not installed: pip install injective-core (or run `make demo`, "
                                "which installs it)") from None
    with open(_UNPACK_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            path = Path(injective_core.get_binary_path())
        except FileNotFoundError as exc:
            raise RuntimeError(f"injective-core has no injectived for this platform: {exc}") from None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if not os.access(path, os.X_OK):
        os.chmod(path, 0o755)
    return path


def injectived_env(binary: Path, tmpdir: Path | None = None) -> dict[str, str]:
    """The environment the binary needs: its folder (``libwasmvm``) on ``LD_LIBRARY_PATH``; ``TMPDIR``
    set to ``tmpdir`` (every ``injectived`` run, even ``keys add``, leaves a ``$TMPDIR/injectiveappNNN``
    folder behind: the helper keeps them in the node's home, removed by :meth:`CosmosNode.stop`)."""
    env = dict(os.environ)
    if tmpdir is not None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmpdir)
    lib_dir = str(binary.resolve().parent)
    env["LD_LIBRARY_PATH"] = lib_dir + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


def coins(amounts: dict[str, int]) -> str:
    """``{"inj": 5, "ibc/..": 7}`` -> ``"5inj,7ibc/.."`` (the CLI's coin list)."""
    return ",".join(f"{amount}{denom}" for denom, amount in amounts.items())


# -- config files ----------------------------------------------------------------------------------
def set_toml(path: Path, values: dict[str, dict[str, str]]) -> None:
    """Set ``key = value`` (value already TOML text) in the named sections (``""``: top level) of a
    CometBFT/SDK config file, keeping everything else.  A key the file does not have is an error (a new
    version renamed it: fail loudly rather than leave a default port on 0.0.0.0)."""
    lines = path.read_text().splitlines()
    pending = {(section, key) for section, kv in values.items() for key in kv}
    section = ""
    for i, line in enumerate(lines):
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            section = m.group(1).strip()
            continue
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*=", line)
        if m and (section, m.group(1)) in pending:
            lines[i] = f"{m.group(1)} = {values[section][m.group(1)]}"
            pending.discard((section, m.group(1)))
    if pending:
        raise RuntimeError(f"{path.name} has no {sorted(pending)}: the injectived config layout changed")
    path.write_text("\n".join(lines) + "\n")


# -- the node --------------------------------------------------------------------------------------
class CosmosTxError(ChainError, RuntimeError):
    """A transaction the node refused at broadcast (CheckTx), or that did not land in time (a
    ``RuntimeError`` as the devnet's other failures, on the toolkit's one error root)."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


_live: "set[CosmosNode]" = set()


@atexit.register
def _stop_all() -> None:
    for node in list(_live):
        node.stop()


@dataclass(eq=False)
class CosmosNode:
    """A running single-validator ``injectived``.  Create it with :func:`start_injectived`."""

    binary: Path
    home: Path
    chain_id: str
    rpc_port: int            # CometBFT RPC
    api_port: int            # Cosmos SDK REST (gRPC-gateway)
    grpc_port: int
    p2p_port: int
    process: subprocess.Popen | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    mnemonics: dict[str, str] = field(default_factory=dict)
    stopped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)   # one signer at a time (sequences)

    # -- where it listens ------------------------------------------------------------------------
    @property
    def rpc_url(self) -> str:
        """CometBFT RPC (``/status``, ``/tx``, ``/broadcast_tx_sync``, ...)."""
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        """The REST API (``/cosmos/tx/v1beta1/txs/{hash}``, ``/cosmos/bank/v1beta1/balances/...``)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    url = api_url
    urls = property(lambda self: {"rpc": self.rpc_url, "rest": self.api_url, "grpc": self.grpc_address})

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return ""

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self, keep_home: bool = False) -> None:
        """Stop the node by its PID (SIGTERM, wait up to 15 s, then SIGKILL) and remove its home.  Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        _live.discard(self)
        _terminate(self.process)
        if not keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "CosmosNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the CLI and the HTTP interfaces ---------------------------------------------------------
    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60.0, check: bool = True) -> str:
        """Run ``injectived ARGS --home HOME``; returns stdout (raises with stderr on a non-zero exit)."""
        cmd = [str(self.binary), *args, "--home", str(self.home)]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                             env=injectived_env(self.binary, self.tmp_dir))
        if check and res.returncode != 0:
            raise RuntimeError(f"injectived {' '.join(args)} exited {res.returncode}: "
                               f"{(res.stderr or res.stdout).strip()[-2000:]}")
        return res.stdout

    def tx_flags(self, *, gas: int = SEND_GAS, fee: int | None = None) -> list[str]:
        """The flags every signed transaction of the helper takes."""
        return ["--chain-id", self.chain_id, "--keyring-backend", "test", "--node", f"tcp://127.0.0.1:{self.rpc_port}",
                "--gas", str(gas), "--fees", f"{fee if fee is not None else gas * GAS_PRICE}{DENOM}",
                "--broadcast-mode", "sync", "--output", "json", "--yes"]

    def rest(self, path: str, *, timeout: float = 10.0) -> Any:
        """GET a REST API path; returns the JSON answer (an HTTP error raises ``urllib.error.HTTPError``)."""
        with urllib.request.urlopen(self.api_url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def rpc(self, path: str, *, timeout: float = 10.0) -> Any:
        """GET a CometBFT RPC path (``/status``, ``/block?height=3``); returns its ``result``."""
        with urllib.request.urlopen(self.rpc_url + path, timeout=timeout) as resp:
            answer = json.loads(resp.read())
        if answer.get("error"):
            raise RuntimeError(f"CometBFT RPC {path}: {answer['error']}")
        return answer["result"]

    # -- chain facts -------------------------------------------------------------------------------
    def status(self) -> dict:
        return self.rpc("/status")

    def height(self) -> int:
        return int(self.status()["sync_info"]["latest_block_height"])

    def network(self) -> str:
        """The chain id the running node reports (CometBFT ``/status`` ``node_info.network``)."""
        return self.status()["node_info"]["network"]

    def wait_height(self, height: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            h = self.height()
            if h >= height:
                return h
            if time.monotonic() > deadline:
                raise RuntimeError(f"height {height} not reached in {timeout} s (at {h})")
            time.sleep(0.1)

    def address(self, name: str) -> str:
        """The bech32 (``inj1...``) address of a named account."""
        return self.addresses[name]

    def balance(self, address: str, denom: str = DENOM) -> int:
        """Base units of ``denom`` that ``address`` holds, from the bank module's REST query."""
        q = urllib.parse.urlencode({"denom": denom})
        answer = self.rest(f"/cosmos/bank/v1beta1/balances/{address}/by_denom?{q}")
        return int((answer.get("balance") or {}).get("amount") or 0)

    def account(self, address: str) -> dict:
        """``{"account_number": int, "sequence": int}`` of an address (auth module)."""
        acc = self.rest(f"/cosmos/auth/v1beta1/account_info/{address}")["info"]
        return {"account_number": int(acc.get("account_number") or 0), "sequence": int(acc.get("sequence") or 0)}

    def tx(self, txhash: str) -> dict:
        """The transaction as the REST API reports it, flattened: ``txhash``, ``code`` (0 = success),
        ``codespace``, ``height``, ``memo``, ``messages`` (their JSON, ``@type`` first), ``gas_wanted``,
        ``gas_used``, ``fee`` (coins), ``raw_log``, ``events``; ``raw`` is the whole answer.  A hash the
        node does not know raises ``urllib.error.HTTPError`` (404)."""
        answer = self.rest(f"/cosmos/tx/v1beta1/txs/{txhash}")
        resp, tx = answer["tx_response"], answer["tx"]
        return {
            "txhash": resp["txhash"], "code": int(resp.get("code") or 0), "codespace": resp.get("codespace", ""),
            "height": int(resp["height"]), "memo": tx["body"].get("memo", ""), "messages": tx["body"]["messages"],
            "gas_wanted": int(resp["gas_wanted"]), "gas_used": int(resp["gas_used"]),
            "fee": tx["auth_info"]["fee"]["amount"], "raw_log": resp.get("raw_log", ""),
            "events": resp.get("events", []), "raw": answer,
        }

    def wait_tx(self, txhash: str, timeout: float = TX_TIMEOUT_S) -> dict:
        """Wait until ``txhash`` is in a block; returns :meth:`tx`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.tx(txhash)
            except urllib.error.HTTPError as exc:
                if exc.code not in (400, 404):
                    raise
            if time.monotonic() > deadline:
                raise CosmosTxError(f"transaction {txhash} not in a block after {timeout} s")
            time.sleep(0.1)

    # -- transactions ------------------------------------------------------------------------------
    def _broadcast_result(self, out: str) -> str:
        result = json.loads(out)
        if int(result.get("code") or 0) != 0:
            raise CosmosTxError(f"broadcast refused (code {result.get('code')}): {result.get('raw_log')}", result)
        return result["txhash"]

    def send(self, from_name: str, to_address: str, amount: int, denom: str = DENOM, memo: str | None = None,
             *, gas: int = SEND_GAS, fee: int | None = None, wait: bool = True) -> str:
        """A bank ``MsgSend`` from a named account, ``memo`` as the transaction's note; broadcast sync and
        (``wait``) waited for until it is in a block.  Returns the transaction hash (upper-case hex).  A
        transaction included but failed is returned too: check :meth:`tx` ``code``."""
        args = ["tx", "bank", "send", from_name, to_address, f"{amount}{denom}", *self.tx_flags(gas=gas, fee=fee)]
        if memo is not None:
            args += ["--note", memo]
        with self._lock:
            txhash = self._broadcast_result(self.cli(*args))
            if wait:
                self.wait_tx(txhash)
        return txhash

    def send_messages(self, from_name: str, transfers: Sequence[tuple[str, int, str]], memo: str | None = None,
                      *, gas: int | None = None, wait: bool = True) -> str:
        """One transaction of several bank ``MsgSend`` messages (message index = position in
        ``transfers``: ``(to_address, amount, denom)`` each), from one named account: each message is
        generated with ``--generate-only``, their bodies merged, then ``tx sign`` and ``tx broadcast``."""
        if not transfers:
            raise ValueError("no transfers")
        gas = gas if gas is not None else SEND_GAS * len(transfers)
        sender = self.address(from_name)
        base = None
        for to_address, amount, denom in transfers:
            args = ["tx", "bank", "send", sender, to_address, f"{amount}{denom}", "--generate-only",
                    *self.tx_flags(gas=gas)]
            if memo is not None:
                args += ["--note", memo]
            doc = json.loads(self.cli(*args))
            if base is None:
                base = doc
            else:
                base["body"]["messages"] += doc["body"]["messages"]
        with self._lock, tempfile.TemporaryDirectory(dir=self.home) as tmp:
            unsigned, signed = Path(tmp) / "unsigned.json", Path(tmp) / "signed.json"
            unsigned.write_text(json.dumps(base))
            signed.write_text(self.cli("tx", "sign", str(unsigned), "--from", from_name, "--chain-id", self.chain_id,
                                       "--keyring-backend", "test", "--node", f"tcp://127.0.0.1:{self.rpc_port}",
                                       "--output", "json"))
            txhash = self._broadcast_result(self.cli("tx", "broadcast", str(signed), "--node",
                                                     f"tcp://127.0.0.1:{self.rpc_port}", "--broadcast-mode", "sync",
                                                     "--output", "json"))
            if wait:
                self.wait_tx(txhash)
        return txhash

    def multi_send(self, from_name: str, to_addresses: Sequence[str], amount: int, denom: str = DENOM,
                   memo: str | None = None, *, gas: int | None = None) -> str:
        """``tx bank multi-send``: ONE ``MsgMultiSend`` message paying ``amount`` to each address."""
        gas = gas if gas is not None else SEND_GAS * len(to_addresses)
        args = ["tx", "bank", "multi-send", from_name, *to_addresses, f"{amount}{denom}", *self.tx_flags(gas=gas)]
        if memo is not None:
            args += ["--note", memo]
        with self._lock:
            txhash = self._broadcast_result(self.cli(*args))
            self.wait_tx(txhash)
        return txhash

    def simulate_send_gas(self, from_name: str, to_address: str, amount: int, denom: str = DENOM,
                          memo: str | None = None) -> int:
        """The node's gas estimate of a bank send (``--dry-run``).  NB: on this chain it is about 37,000
        under what the send really uses (the eth_secp256k1 signature check is not simulated), so a
        signer must not take it as the limit as it is."""
        args = ["tx", "bank", "send", self.address(from_name), to_address, f"{amount}{denom}", "--dry-run",
                "--chain-id", self.chain_id, "--node", f"tcp://127.0.0.1:{self.rpc_port}", "--keyring-backend", "test"]
        if memo is not None:
            args += ["--note", memo]
        res = subprocess.run([str(self.binary), *args, "--home", str(self.home)], capture_output=True, text=True,
                             timeout=60, env=injectived_env(self.binary, self.tmp_dir))
        m = re.search(r"gas estimate:\s*(\d+)", res.stdout + res.stderr)
        if not m:
            raise RuntimeError(f"no gas estimate from --dry-run: {(res.stderr or res.stdout)[-1000:]}")
        return int(m.group(1))

    def send_out_of_gas(self, from_name: str, to_address: str, amount: int, denom: str = DENOM,
                        memo: str | None = None) -> str:
        """A bank send INCLUDED in a block that failed: it passes CheckTx (the ante handler, about
        100,000 gas here) but runs out of gas while its message executes (about 13,000 more), so its
        code is 11 (codespace ``sdk``) and it moves nothing but the fee.  To hit that window it first
        makes a one-unit reference send of the same shape (which succeeds and moves 1 base unit) and
        sets the limit :data:`OUT_OF_GAS_SHORTFALL` under the gas that one used."""
        reference = self.tx(self.send(from_name, to_address, 1, denom, memo))
        txhash = self.send(from_name, to_address, amount, denom, memo, gas=reference["gas_used"] - OUT_OF_GAS_SHORTFALL)
        result = self.tx(txhash)
        if result["code"] != 11:
            raise CosmosTxError(f"the out-of-gas send {txhash} ended with code {result['code']} "
                                f"({result['raw_log'][:200]}), not 11", result)
        return txhash

    def send_overdrawn(self, from_name: str, to_address: str, denom: str = DENOM, memo: str | None = None,
                       *, excess: int = 1) -> str:
        """A bank send of ``excess`` more than the sender holds: CheckTx does not run the message, so it
        is INCLUDED and fails in the block with code 5 (insufficient funds); it moves nothing but the fee."""
        amount = self.balance(self.address(from_name), denom) + excess
        txhash = self.send(from_name, to_address, amount, denom, memo)
        result = self.tx(txhash)
        if result["code"] == 0:
            raise CosmosTxError(f"the overdrawn send {txhash} succeeded", result)
        return txhash


#: how far under a same-shape send's gas the out-of-gas send's limit is: above what the ante handler
#: uses (about 12,000 under the total: CheckTx passes), below what the message needs
OUT_OF_GAS_SHORTFALL = 4_000


def _wait_ready(node: CosmosNode, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            raise RuntimeError(f"injectived exited with code {node.process.returncode} during startup\n"
                               f"{node.log_tail()}")
        try:
            if node.height() >= 2:
                node.rest("/cosmos/base/tendermint/v1beta1/node_info", timeout=5)
                return
            last = "no block yet"
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise RuntimeError(f"injectived produced no block / no REST answer within {START_TIMEOUT_S} s ({last})\n"
                       f"{node.log_tail()}")


def _init_home(node: CosmosNode) -> None:
    """init, keys, genesis accounts, gentx, collect-gentxs (the module docstring's commands)."""
    cid = ["--chain-id", node.chain_id]
    node.cli("init", "devnode", *cid, "--default-denom", DENOM)
    for name in ACCOUNTS:
        key = json.loads(node.cli("keys", "add", name, "--keyring-backend", "test", "--output", "json"))
        node.addresses[name], node.mnemonics[name] = key["address"], key["mnemonic"]
        node.cli("genesis", "add-genesis-account", name, coins(GENESIS_COINS), *cid, "--keyring-backend", "test")
    node.cli("genesis", "gentx", "validator", f"{SELF_DELEGATION}{DENOM}", *cid, "--keyring-backend", "test")
    node.cli("genesis", "collect-gentxs")


def _configure(node: CosmosNode, pprof_port: int, abci_port: int) -> None:
    config = node.home / "config"
    set_toml(config / "config.toml", {
        "": {"proxy_app": f'"tcp://127.0.0.1:{abci_port}"'},
        "rpc": {"laddr": f'"tcp://127.0.0.1:{node.rpc_port}"', "pprof_laddr": f'"127.0.0.1:{pprof_port}"'},
        "p2p": {"laddr": f'"tcp://127.0.0.1:{node.p2p_port}"', "pex": "false"},
        "consensus": {"timeout_commit": f'"{TIMEOUT_COMMIT}"'},
        "instrumentation": {"prometheus": "false"},
    })
    set_toml(config / "app.toml", {
        "": {"minimum-gas-prices": f'"{GAS_PRICE}{DENOM}"'},
        "api": {"enable": "true", "address": f'"tcp://127.0.0.1:{node.api_port}"', "swagger": "false"},
        "grpc": {"enable": "true", "address": f'"127.0.0.1:{node.grpc_port}"'},
        "json-rpc": {"enable": "false"},
    })


def start_injectived(*, chain_id: str = CHAIN_ID) -> CosmosNode:
    """Initialise a fresh one-validator chain in a temporary home, start it on free 127.0.0.1 ports and
    wait for its first blocks (see the module docstring).  Retries up to 3 times on a port clash."""
    binary = injectived_path()
    last_error = ""
    for _attempt in range(3):
        ports = [_free_port() for _ in range(6)]
        if len(set(ports)) != len(ports):
            continue
        rpc_port, api_port, grpc_port, p2p_port, pprof_port, abci_port = ports
        home = Path(tempfile.mkdtemp(prefix="injectived-devnet-"))
        node = CosmosNode(binary=binary, home=home, chain_id=chain_id, rpc_port=rpc_port, api_port=api_port,
                          grpc_port=grpc_port, p2p_port=p2p_port)
        _live.add(node)
        try:
            _init_home(node)
            _configure(node, pprof_port, abci_port)
        except Exception:
            node.stop()
            raise
        log = open(node.log_path, "wb")
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            node.process = subprocess.Popen(
                [str(binary), "start", "--home", str(home), "--log-no-color"], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, env=injectived_env(binary, node.tmp_dir),
                preexec_fn=_set_pdeathsig if main_thread else None, start_new_session=True)
        except OSError as exc:
            node.stop()
            raise RuntimeError(f"cannot start injectived ({binary}): {exc}") from None
        finally:
            log.close()
        try:
            _wait_ready(node, time.monotonic() + START_TIMEOUT_S)
        except RuntimeError as exc:
            last_error = str(exc)
            node.stop()
            if "address already in use" in last_error.lower():
                continue
            raise
        return node
    raise RuntimeError(f"injectived did not start after 3 attempts: {last_error}")
