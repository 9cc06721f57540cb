"""Local Litecoin regtest node for tests: start/stop Debian's ``litecoind`` (Litecoin Core 0.21).

A plain helper module (no pytest fixtures); wire it from a test module or conftest.py::

    @pytest.fixture(scope="session")
    def ltc():
        node = start_litecoind()
        yield node
        node.stop()

``litecoind`` comes from the Debian package ``litecoind`` (``make system-deps`` installs it).  If it
is missing or does not come up, :func:`start_litecoind` raises :class:`RuntimeError`: tests that
need the node must fail, never skip.

The node runs ``-regtest`` on 127.0.0.1 with a free RPC port and a free P2P port, a random
rpcuser/rpcpassword, ``-txindex=1``, ``-fallbackfee=0.0001``, ``-vbparams=mweb:-2:-2`` (MWEB never
activates: otherwise mining fails at height 432) and a temporary datadir; it is stopped by PID.
A wallet ``miner`` is created, 101 blocks are mined to it (spendable coinbase), and
:meth:`LitecoinNode.fund` pays any address from it.
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


_live: "set[LitecoinNode]" = set()


@atexit.register
def _stop_all() -> None:
    for node in list(_live):
        node.stop()


@dataclass(eq=False)
class LitecoinNode:
    """A running litecoind -regtest.  Create it with :func:`start_litecoind`."""

    rpc_port: int
    p2p_port: int
    user: str
    password: str
    datadir: Path
    process: subprocess.Popen
    wallet: str = "miner"
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
        return self.datadir / "regtest" / "debug.log"

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
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

    def __enter__(self) -> "LitecoinNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- raw JSON-RPC (floats never: amounts parse as Decimal) -----------------------------
    def rpc(self, method: str, params: Sequence[Any] | None = None, *, wallet: str | None = None,
            timeout: float = 60.0) -> Any:
        path = f"/wallet/{wallet}" if wallet else "/"
        body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": list(params or [])},
                          default=str).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}{path}", data=body,
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

    def wallet_rpc(self, method: str, params: Sequence[Any] | None = None) -> Any:
        return self.rpc(method, params, wallet=self.wallet)

    # -- helpers -----------------------------------------------------------------------------
    def height(self) -> int:
        return int(self.rpc("getblockcount"))

    def new_address(self, address_type: str = "bech32") -> str:
        """A fresh address of the node's wallet (``legacy``, ``p2sh-segwit`` or ``bech32``)."""
        return self.wallet_rpc("getnewaddress", ["", address_type])

    def mine(self, n: int = 1, to: str | None = None) -> list[str]:
        """Mine ``n`` blocks (to the wallet, or ``to``); returns their hashes."""
        with self._lock:
            return self.rpc("generatetoaddress", [n, to or self.new_address()], timeout=120)

    def fund(self, address: str, amount: int, *, mine: bool = True) -> tuple[str, int]:
        """Pay ``amount`` base units to ``address`` from the wallet; returns (txid, vout).  Mines one
        block unless ``mine`` is False (the payment then has 0 confirmations)."""
        txid = self.wallet_rpc("sendtoaddress", [address, to_coins(amount)])
        tx = self.rpc("getrawtransaction", [txid, True])
        vout = next(o["n"] for o in tx["vout"]
                    if o["scriptPubKey"].get("addresses", [o["scriptPubKey"].get("address")])[0] == address
                    and to_base_units(o["value"]) == amount)
        if mine:
            self.mine(1)
        return txid, vout

    def txout(self, txid: str, vout: int, include_mempool: bool = True) -> dict | None:
        return self.rpc("gettxout", [txid, vout, include_mempool])

    def unspent_at(self, address: str) -> list[dict]:
        """Unspent outputs at ``address`` in the UTXO set (``scantxoutset``), amounts in base units."""
        res = self.rpc("scantxoutset", ["start", [f"addr({address})"]], timeout=120)
        return [{"txid": u["txid"], "vout": u["vout"], "amount": to_base_units(u["amount"]),
                 "height": u.get("height")} for u in res.get("unspents", [])]

    def balance_at(self, address: str) -> int:
        return sum(u["amount"] for u in self.unspent_at(address))


def _wait_rpc(node: LitecoinNode, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"litecoind exited with code {node.process.returncode} during startup: {last}\n"
                               f"{node.log_tail()}")
        try:
            node.rpc("getblockcount", timeout=5)
            return
        except NodeRPCError as exc:  # -28: warming up (loading block index...)
            last = str(exc)
        except (OSError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(f"litecoind did not answer RPC within {START_TIMEOUT_S} s ({last})\n{node.log_tail()}")


def litecoind_path() -> str:
    path = shutil.which("litecoind")
    if path is None:
        raise RuntimeError("litecoind is not installed (Debian package `litecoind`): run `make system-deps` "
                           "or `apt-get install -y litecoind`")
    return path


def start_litecoind(*, mine_initial: int = 101, extra_args: Sequence[str] = ()) -> LitecoinNode:
    """Start litecoind -regtest on free 127.0.0.1 ports, wait for RPC, create and fund a wallet.

    Raises ``RuntimeError`` if the binary is missing or the node does not come up (retries up to 3
    times on a port clash).
    """
    binary = litecoind_path()
    last_error = ""
    for _attempt in range(3):
        rpc_port, p2p_port = _free_port(), _free_port()
        if rpc_port == p2p_port:
            continue
        datadir = Path(tempfile.mkdtemp(prefix="ltc-regtest-"))
        user, password = "recover", uuid.uuid4().hex
        cmd = [
            binary, "-regtest", f"-datadir={datadir}", "-server=1", "-daemon=0", "-printtoconsole=0",
            f"-rpcuser={user}", f"-rpcpassword={password}", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
            f"-rpcport={rpc_port}", f"-bind=127.0.0.1:{p2p_port}", f"-port={p2p_port}", "-listen=1",
            "-listenonion=0", "-discover=0", "-dnsseed=0", "-upnp=0",
            "-txindex=1", "-fallbackfee=0.0001", "-vbparams=mweb:-2:-2", "-rpcthreads=8", "-rpcworkqueue=64",
            "-keypool=10", *extra_args,
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
            raise RuntimeError(f"cannot start litecoind ({binary}): {exc}") from None
        finally:
            if not stderr_file.closed:
                stderr_file.close()
        node = LitecoinNode(rpc_port=rpc_port, p2p_port=p2p_port, user=user, password=password,
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
            node.rpc("createwallet", [node.wallet])
            if mine_initial:
                node.mine(mine_initial)
        except Exception:
            node.stop()
            raise
        return node
    raise RuntimeError(f"litecoind did not start after 3 attempts: {last_error}")
