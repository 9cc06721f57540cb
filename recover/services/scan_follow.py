"""``recover scan --follow`` and ``recover worker --scan``: keep scanning as blocks are confirmed.

A follow is a loop of rounds.  A round scans from after the last block scanned (the network's
``scan_state``) to the newest block with the network's confirmations, chunk by chunk
(:func:`recover.services.scanning.scan_network`: each chunk's cases are opened, then the chunk is
recorded as scanned).  So a follow stopped or killed at any point resumes where it was recorded, and a
chunk scanned twice (killed between its cases and its record) opens nothing twice: a deposit that has
a case is counted, never opened again.  Only confirmed blocks are read, so a reorganisation shallower
than the confirmations never shows.

On PostgreSQL a round holds an advisory lock per network (``pg_try_advisory_lock``): of several
workers or followers of one network, one scans and the others skip the round, so no range is read
twice at once.  SQLite runs one worker; a second follower there only repeats reads and opens nothing
twice.

After each round the follower knows how far it is behind the chain: ``lag`` = the node's newest block
minus the last block scanned (at least ``confirmations - 1``), the ``recover_scan_lag_blocks`` gauge.
A node that does not answer (exit 8) is counted (``recover_node_errors_total``, job ``scan``) and the
round is tried again after a backoff; any other error stops the follow.
"""

from __future__ import annotations

import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field

from chains.base import Capability
from chains.registry import adapter_class
from recover.authority.acting import load_operator_key
from recover.casework.runner import run
from recover.errors import EXIT_NODE, InvalidInput, ToolkitError
from recover.networks.chainio import adapter
from recover.networks.registry import get_network
from recover.services.metrics import NODE_ERRORS, SCAN_LAG, serve_metrics
from recover.services.scanning import ScanReport, scan_network
from recover.services.stopping import on_signals, restore
from recover.storage.db import get_engine, resolve_db_url, session_scope
from recover.storage.jobs import backoff
from recover.storage.models import ScanState


@dataclass
class FollowRound:
    """What one round did: ``report`` None when nothing new was confirmed (or another process held the
    network's lock: ``busy``); ``lag`` in blocks behind the node's newest."""

    network: str
    report: ScanReport | None
    head: int | None = None
    lag: int | None = None
    busy: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        doc = self.report.to_dict() if self.report else {"network": self.network, "found": 0, "opened": [],
                                                         "already_cases": 0, "errors": []}
        return doc | {"head": self.head, "lag": self.lag, "busy": self.busy, "error": self.error}


@dataclass
class FollowReport:
    network: str
    rounds: int = 0
    blocks: int = 0
    opened: list[int] = field(default_factory=list)
    already_cases: int = 0
    node_errors: int = 0
    last_block: int | None = None
    lag: int | None = None

    def add(self, done: FollowRound) -> None:
        self.rounds += 1
        if done.error:
            self.node_errors += 1
            return
        self.lag = done.lag
        if done.report is not None:
            self.blocks += done.report.to_block - done.report.from_block + 1
            self.last_block = done.report.to_block
            self.opened += done.report.opened
            self.already_cases += done.report.existing

    def to_dict(self) -> dict:
        return {"network": self.network, "rounds": self.rounds, "blocks": self.blocks, "opened": self.opened,
                "already_cases": self.already_cases, "node_errors": self.node_errors,
                "last_block": self.last_block, "lag": self.lag}


def can_follow(net) -> None:
    """Only block scans follow: a holding scan (UTXO, Solana) reads what addresses hold now, each time."""
    caps = adapter_class(net.family).capabilities
    if net.deposit_model == "shared_memo" and Capability.SCAN_INCOMING in caps:
        return
    if Capability.SCAN not in caps:
        raise InvalidInput(f"{net.key} ({net.family}) is scanned by what its addresses hold now, not block by "
                           "block: run `recover scan` again instead of --follow", code="follow_unsupported")


def follow_round(sessions, net, *, actor, db_url: str, from_block: int | None = None,
                 max_blocks: int | None = None, stop: threading.Event | None = None) -> FollowRound:
    """One round (see the module docstring); ``max_blocks`` bounds it (a worker's round, between jobs).
    The node's newest block is read once, at the round's start: it bounds the round and gives the lag
    (so a long round's lag leaves out the blocks made during it; the next round, due at once, counts them)."""
    with _network_lock(db_url, net.key) as held:
        if not held:
            return FollowRound(net.key, None, busy=True)
        with sessions() as s:
            state = s.get(ScanState, net.key)
            last = state.last_block if state else None
        start = from_block if from_block is not None else (last + 1 if last is not None else None)
        head = adapter(net).latest_block()
        to_block = start + max_blocks - 1 if max_blocks and start is not None else None
        try:
            report = scan_network(sessions, net, from_block=start, to_block=to_block, actor=actor, stop=stop,
                                  head=head)
        except InvalidInput as exc:
            if exc.code != "empty_range":
                raise
            report = None
    if report is not None:
        last = report.to_block if last is None else max(last, report.to_block)  # the record keeps the higher
    lag = head - last if last is not None else None
    if lag is not None:
        SCAN_LAG.labels(net.key).set(lag)
    return FollowRound(net.key, report, head=head, lag=lag)


class Follower:
    """Rounds of one network, as the operator of ``signing_key`` (re-checked every round: a revoked
    key stops scanning).  ``max_blocks`` bounds a round (a worker's, between jobs).  A round that read
    blocks is due again at once; one that found nothing new after ``poll`` seconds; a node error (exit
    8: counted, the round's ``error``) after a backoff.  Any other error is raised."""

    def __init__(self, net, url: str, signing_key, poll: float, *, from_block: int | None = None,
                 max_blocks: int | None = None):
        can_follow(net)
        self.net, self.url, self.key, self.poll = net, url, signing_key, poll
        self.from_block, self.max_blocks = from_block, max_blocks
        self.next_at, self.errors = 0.0, 0
        if from_block is None:
            with session_scope(url) as s:
                if s.get(ScanState, net.key) is None:
                    raise InvalidInput(f"no earlier scan of {net.key} to resume from: give --from-block "
                                       f"(or run `recover scan --network {net.key} --from-block N` once)",
                                       code="no_scan_state")

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    def round(self, stop: threading.Event | None = None) -> FollowRound:
        try:
            done = run("open", db=self.url, key=self.key, own_units=True,
                       body=lambda ctx: follow_round(ctx.sessions, self.net, actor=ctx.actor, db_url=self.url,
                                                     from_block=self.from_block, max_blocks=self.max_blocks,
                                                     stop=stop))
        except ToolkitError as exc:
            if exc.exit_code != EXIT_NODE:
                raise
            self.errors += 1
            NODE_ERRORS.labels(self.net.key, "scan").inc()
            self.next_at = time.monotonic() + backoff(self.errors, base=self.poll)
            return FollowRound(self.net.key, None, error=f"{exc.code}: {exc}")
        self.errors = 0
        if done.report is not None:  # --from-block holds until a round scans from it: then after the last
            self.from_block = None
        self.next_at = time.monotonic() + (0 if done.report is not None else self.poll)
        return done


def follow_scan(network: str, *, db: str | None = None, key=None, from_block: int | None = None,
                poll_seconds: float = 2.0, stop: threading.Event | None = None, on_round=None,
                idle_rounds: int | None = None, metrics_port: int | None = None,
                metrics_host: str = "127.0.0.1") -> FollowReport:
    """``recover scan --network N --follow``: rounds until SIGTERM / Ctrl-C (or ``stop``, or
    ``idle_rounds`` rounds in a row that found nothing new), as the operator of ``key``.
    ``on_round(FollowRound)`` is told each round that read blocks, was refused the network's lock, or
    met a node error."""
    net = get_network(network)
    url = resolve_db_url(db)
    signing_key = load_operator_key(key)  # opened once
    run("open", db=url, key=signing_key, body=lambda ctx: ctx.actor)  # a specialist's role, checked first
    follower = Follower(net, url, signing_key, poll_seconds, from_block=from_block)
    stop = stop or threading.Event()
    report = FollowReport(net.key)
    previous = on_signals(stop)
    metrics = serve_metrics(metrics_port, metrics_host, url) if metrics_port is not None else None
    idle = 0
    try:
        while not stop.is_set():
            if not follower.due():
                stop.wait(max(0.0, follower.next_at - time.monotonic()))
                continue
            done = follower.round(stop)
            report.add(done)
            if on_round and (done.report is not None or done.busy or done.error):
                on_round(done)
            idle = 0 if done.report is not None or done.error else idle + 1
            if idle_rounds is not None and idle >= idle_rounds:
                break
    finally:
        restore(previous)
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
    return report


def scan_lock_id(network: str) -> int:
    """The PostgreSQL advisory lock key a follower of ``network`` holds during a round."""
    return zlib.crc32(f"recover scan {network}".encode())


@contextmanager
def _network_lock(url: str, network: str):
    """True when this process may scan ``network`` now: on PostgreSQL, a session advisory lock held on
    its own connection for the round (released at the end, or by the server if the process dies)."""
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        yield True
        return
    lock_id = scan_lock_id(network)
    with engine.connect() as conn:
        held = bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (lock_id,)).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (lock_id,))
                conn.commit()
