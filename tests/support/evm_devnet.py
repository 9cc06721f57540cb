"""Local EVM devnet for tests: start/stop an anvil node and deploy the test contracts.

This is a plain helper module (no pytest fixtures); wire it from conftest.py, e.g.::

    @pytest.fixture(scope="session")
    def anvil():
        node = start_anvil()
        yield node
        node.stop()

The anvil binary comes from the npm package ``@foundry-rs/anvil`` (its platform package
``@foundry-rs/anvil-linux-amd64``), installed by ``npm ci`` at the repo root. If it is
missing or does not start, :func:`start_anvil` raises :class:`RuntimeError`: tests that need
the devnet must fail, never skip.

Contract artifacts are in ``tests/support/contracts/artifacts/<Name>.json`` (built by
``node tests/support/contracts/build.js``). All token contracts take the constructor
``(string name, string symbol, uint8 decimals)``; all but FakeEventToken have an owner-only
``mint(address,uint256)`` (owner = deployer).

Accounts: anvil's default dev accounts (10 of them, 10000 ETH each) are unlocked on the node,
so ``transact({"from": addr})`` works without keys. They derive from :data:`ANVIL_MNEMONIC`
at ``m/44'/60'/0'/0/i``; :func:`default_account` returns the local key for offline signing.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from nodeproc import NodeRPCError, json_rpc
from nodeproc import free_port as _free_port
from nodeproc import set_pdeathsig as _set_pdeathsig
from paths import REPO as REPO_ROOT
from paths import SUPPORT

ANVIL_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ARTIFACTS_DIR = SUPPORT / "contracts" / "artifacts"

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_DEFAULT_BALANCE_WEI = 10_000 * 10**18
ANVIL_ACCOUNT_COUNT = 10

START_TIMEOUT_S = 10.0

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


class AnvilRPCError(NodeRPCError):
    """A JSON-RPC error answer from anvil (``code``, ``message``; revert ``data`` when known)."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None):
        super().__init__(method, code, message)
        self.data = data


def _raw_rpc(url: str, method: str, params: Sequence[Any] | None = None, timeout: float = 30.0) -> Any:
    """One call through the tests' one JSON-RPC helper (:func:`nodeproc.json_rpc`)."""
    try:
        return json_rpc(url, method, params, timeout=timeout)
    except NodeRPCError as err:
        raise AnvilRPCError(method, err.code, err.message) from None


_live_nodes: "set[AnvilNode]" = set()


@atexit.register
def _stop_all_nodes() -> None:
    for node in list(_live_nodes):
        node.stop()


@dataclass(eq=False)
class AnvilNode:
    """A running anvil process. Create it with :func:`start_anvil`."""

    url: str
    port: int
    chain_id: int
    process: subprocess.Popen
    w3: Web3
    log_dir: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.log_dir / "anvil.log"

    @property
    def accounts(self) -> list[str]:
        """Checksummed addresses of anvil's unlocked default accounts."""
        return [to_checksum_address(a) for a in self.rpc("eth_accounts")]

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self, keep_log: bool = False) -> None:
        """Terminate anvil by PID (SIGTERM, wait up to 5 s, then SIGKILL). Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        _live_nodes.discard(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if not keep_log:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> "AnvilNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return ""

    # -- raw JSON-RPC ------------------------------------------------------------------------
    def rpc(self, method: str, params: Sequence[Any] | None = None) -> Any:
        """Send one raw JSON-RPC request; return ``result`` or raise :class:`AnvilRPCError`."""
        return _raw_rpc(self.url, method, params)

    # -- anvil/evm cheat methods ------------------------------------------------------------------
    def snapshot(self) -> str:
        """``evm_snapshot``: returns the snapshot id (hex string, e.g. ``"0x0"``)."""
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        """``evm_revert`` to a snapshot. A snapshot id can be reverted to once only (anvil deletes
        it and every later snapshot), so take a fresh snapshot after each revert."""
        if not self.rpc("evm_revert", [snapshot_id]):
            raise RuntimeError(f"evm_revert({snapshot_id}) failed: unknown or already used snapshot id")

    def mine(self, n: int = 1) -> int:
        """Mine ``n`` empty blocks (``anvil_mine``); returns the new block number."""
        self.rpc("anvil_mine", [hex(n)])
        return self.w3.eth.block_number

    def set_balance(self, address: str, wei: int) -> None:
        """``anvil_setBalance``: set an address's native balance in wei."""
        self.rpc("anvil_setBalance", [to_checksum_address(address), hex(wei)])

    def impersonate(self, address: str) -> None:
        """``anvil_impersonateAccount``: let ``transact({"from": address})`` send as anyone."""
        self.rpc("anvil_impersonateAccount", [to_checksum_address(address)])

    def stop_impersonating(self, address: str) -> None:
        self.rpc("anvil_stopImpersonatingAccount", [to_checksum_address(address)])

    def set_code(self, address: str, code: str | bytes) -> None:
        """``anvil_setCode``: put runtime bytecode at an address."""
        self.rpc("anvil_setCode", [to_checksum_address(address), HexBytes(code).to_0x_hex()])

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", [seconds])

    def call_revert_data(self, tx: dict, block: str | int = "latest") -> HexBytes | None:
        """``eth_call`` ``tx``; return the revert data if it reverts, ``None`` if it succeeds.

        ``tx`` is a JSON-RPC call object (``{"from": .., "to": .., "data": "0x.."}``); a web3
        ``build_transaction`` dict works too. Use :func:`decode_revert` on the result.
        """
        call = {k: _jsonable(v) for k, v in tx.items() if k in ("from", "to", "data", "value", "gas", "input")}
        tag = hex(block) if isinstance(block, int) else block
        answer = self.w3.provider.make_request("eth_call", [call, tag])  # the raw answer keeps the error data
        err = answer.get("error")
        if not err:
            return None
        data = err.get("data")
        return HexBytes(data) if isinstance(data, str) else HexBytes(b"")


def _jsonable(v: Any) -> Any:
    if isinstance(v, int):
        return hex(v)
    if isinstance(v, (bytes, bytearray)):
        return HexBytes(v).to_0x_hex()
    return v


def start_anvil(chain_id: int = 31337, extra_args: Iterable[str] = ()) -> AnvilNode:
    """Start anvil on a free 127.0.0.1 port and wait (up to ~10 s) until ``eth_chainId`` answers.

    Runs ``anvil --host 127.0.0.1 --port <port> --chain-id <chain_id> *extra_args`` with its
    stdout/stderr in ``<tmpdir>/anvil.log`` (``node.log_path``). Raises ``RuntimeError`` if the
    binary is missing or the node does not come up. Retries up to 3 times on a port clash.
    """
    if not ANVIL_BIN.is_file() or not os.access(ANVIL_BIN, os.X_OK):
        raise RuntimeError(
            f"anvil binary not found or not executable at {ANVIL_BIN}; "
            "run `npm ci` in the repo root (package.json pins @foundry-rs/anvil)"
        )
    last_error = ""
    for _attempt in range(3):
        port = _free_port()
        log_dir = Path(tempfile.mkdtemp(prefix="anvil-"))
        log_file = open(log_dir / "anvil.log", "wb")
        cmd = [
            str(ANVIL_BIN),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(chain_id),
            *[str(a) for a in extra_args],
        ]
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=log_dir,
                preexec_fn=_set_pdeathsig if (main_thread and sys.platform.startswith("linux")) else None,
            )
        finally:
            log_file.close()  # the child holds its own descriptor
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        answered = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                answered = int(_raw_rpc(url, "eth_chainId", timeout=1.0), 16)
                break
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                time.sleep(0.05)
        if answered is not None:
            if answered != chain_id:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"anvil answered chain id {answered}, expected {chain_id}")
            w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}, exception_retry_configuration=None))
            node = AnvilNode(url=url, port=port, chain_id=chain_id, process=proc, w3=w3, log_dir=log_dir)
            _live_nodes.add(node)
            return node
        # failed: collect the log and retry (most likely a port race) or give up
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        try:
            last_error = (log_dir / "anvil.log").read_text(errors="replace")[-4000:]
        except OSError:
            last_error = ""
        shutil.rmtree(log_dir, ignore_errors=True)
    raise RuntimeError(
        f"anvil did not answer eth_chainId within {START_TIMEOUT_S:.0f}s (cmd: {' '.join(cmd)}); "
        f"exit code {proc.returncode}; log tail:\n{last_error}"
    )


# -- accounts ----------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def default_account(index: int = 0) -> LocalAccount:
    """Local signing key of anvil default account ``index`` (m/44'/60'/0'/0/index)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


# -- contracts ---------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _load_artifact_cached(name: str) -> str:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))
        raise FileNotFoundError(f"no artifact {path}; available: {available} (rebuild: node tests/support/contracts/build.js)")
    return path.read_text()


def load_artifact(name: str) -> dict:
    """``tests/support/contracts/artifacts/<name>.json``: {"contractName", "abi", "bytecode", "solcVersion"}."""
    return json.loads(_load_artifact_cached(name))


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 Contract for artifact ``name`` at ``address``."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name)["abi"])


def transact(fn: Any, sender: str | None = None, *, check: bool = True, **tx: Any):
    """Send a contract function call (``contract.functions.f(args)``) from an unlocked account
    (default ``accounts[0]``), wait for the receipt and return it. With ``check`` (default),
    raise ``RuntimeError`` if the transaction's status is 0. Reverting calls normally raise a
    web3 ``ContractLogicError`` already at gas estimation; pass ``gas=...`` to force a send."""
    w3 = fn.w3
    params = {"from": sender or w3.eth.accounts[0], **tx}
    tx_hash = fn.transact(params)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)
    if check and receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} failed (status 0)")
    return receipt


def deploy(w3: Web3, name: str, *args: Any, sender: str | None = None) -> Contract:
    """Deploy artifact ``name`` with constructor ``args`` from an unlocked account (default
    ``accounts[0]``, which becomes the owner) and return the web3 Contract at its address."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(*args).transact({"from": sender or w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise RuntimeError(f"deployment of {name} failed: {tx_hash.to_0x_hex()}")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def fund_token(w3: Web3, token: Contract, to: str, amount: int, sender: str | None = None):
    """Mint ``amount`` base units of ``token`` to ``to`` (``mint`` is owner-only; the owner is
    the deployer, default ``accounts[0]``). Returns the receipt."""
    return transact(token.functions.mint(to_checksum_address(to), amount), sender)


def token_transfer(w3: Web3, token: Contract, sender: str, to: str, amount: int):
    """``token.transfer(to, amount)`` sent from unlocked ``sender``; returns the receipt."""
    return transact(token.functions.transfer(to_checksum_address(to), amount), sender)


def send_eth(w3: Web3, sender: str, to: str, wei: int):
    """Plain native transfer from an unlocked account; returns the receipt."""
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to_checksum_address(to), "value": wei})
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)


# -- revert decoding ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RevertInfo:
    """A decoded revert: ``name`` is "Error" (reason string), "Panic", a custom error's name,
    or "" when unknown / empty; ``args`` are the decoded arguments; ``data`` the raw bytes."""

    name: str
    args: tuple
    data: bytes

    @property
    def reason(self) -> str | None:
        return self.args[0] if self.name == "Error" else None


def decode_revert(data: str | bytes | None, abi: Sequence[dict] | None = None) -> RevertInfo:
    """Decode revert data: ``Error(string)``, ``Panic(uint256)`` or a custom error from ``abi``."""
    raw = bytes(HexBytes(data)) if data else b""
    if len(raw) < 4:
        return RevertInfo("", (), raw)
    selector, payload = raw[:4], raw[4:]
    if selector == ERROR_SELECTOR:
        return RevertInfo("Error", tuple(abi_decode(["string"], payload)), raw)
    if selector == PANIC_SELECTOR:
        return RevertInfo("Panic", tuple(abi_decode(["uint256"], payload)), raw)
    for item in abi or ():
        if item.get("type") != "error":
            continue
        if function_abi_to_4byte_selector(item) == selector:
            types = [_abi_type(i) for i in item.get("inputs", [])]
            return RevertInfo(item["name"], tuple(abi_decode(types, payload)), raw)
    return RevertInfo("", (), raw)


def _abi_type(param: dict) -> str:
    t = param["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[len("tuple"):]
    return t


def error_selector(signature: str) -> bytes:
    """4-byte selector of an error signature, e.g. ``error_selector("EnforcedPause()")``."""
    return keccak(text=signature)[:4]
