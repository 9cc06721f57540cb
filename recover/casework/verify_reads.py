"""The node reads of ``verify``, in one thread that runs ahead of planning and writing.

Verifying a claim reads the node twice: the claimed transaction (``observe``), then the balance proofs
of the transfers the claim is about (``prove_each``).  Which transfers those are, planning decides with
the registry (the database); but nearly always they are the ones the claim names itself, its deposit
address and asset (:func:`recover.casework.classify.candidate_transfers`).  So :class:`NodeReads`
observes the claims chunk by chunk and proves those transfers at once, in its own thread and without
the database, up to ``AHEAD`` chunks ahead of the chunk being written.  Planning takes the proofs it
needs from here and asks the node itself only for what was not read ahead (a claim without an address
that a transaction pays many times over, a nested token account, a native value found only in a
trace, a case opened meanwhile).  What is read ahead is what would be read later, by the same adapter
with the same calls, a moment earlier: the outcome of a case does not depend on it, only when the node
is asked.  The adapter is shared with planning's rare calls: its client keeps one HTTP session per
thread and its caches only ever gain the same answers.

:func:`read_ahead` starts the reads before the command has loaded its write side (``recover case
verify --all`` waits for the node while the ORM, the statement log and the signing code import): it
lists the open cases with a plain read (``recover.queries.db``), outside the command's unit of work,
which lists them again and decides only the cases it lists itself.  It reads the chain, which anyone
may; nothing is decided, signed or written before the operator is proven.  When it cannot start (no
database, an unknown network, a configuration error) it starts nothing and the command meets the
same problem itself, and reports it as it always did.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterable

from chains.base import NATIVE
from recover.casework.classify import candidate_transfers

# Imports inside functions: this module is loaded before the command's write side (read_ahead), so it
# loads the network files, the adapters and the plain read path only when it starts reading.

CHUNK = 500     # claims per node request (and per written transaction: ``verification.CHUNK``)
AHEAD = 2       # chunks read ahead of the one being taken: memory bounded whatever the number of cases
SPECULATE = 4   # at most this many transfers of one claim are proved before planning names them


def claim_asset(case, net) -> str | None:
    """The claimed asset in the adapters' terms: ``NATIVE`` for the network's own coin."""
    return asset_term(case.asset, net)


def asset_term(asset: str | None, net) -> str | None:
    if asset and asset.upper() == net.native_symbol.upper():
        return NATIVE
    return asset


def proof_key(obs, transfer) -> tuple:
    """What a balance proof is a proof of: a transfer of a transaction as observed in its block."""
    return obs.txid, obs.block_number, transfer


@dataclass
class Reads:
    """What the reads of some transactions gave: observations, the proofs read ahead (``proof_key`` ->
    ``BalanceProof`` or the item's ``ChainError``), and ``error``: the reads of one of them failed
    (the node went away, a configuration error), which every case of the chunk reports."""

    observations: dict = field(default_factory=dict)
    proofs: dict = field(default_factory=dict)
    error: Exception | None = None


def observe_claims(chain, claims: list[tuple]) -> dict:
    """Receipts first (fast); transaction bodies only for claims that may be native value and whose
    receipt shows no transfer of it.  ``claims``: ``(txid, deposit_address, asset)``."""
    observations = chain.observe([t for t, _a, _s in claims], native_value=False)
    need_value = [t for t, address, asset in claims
                  if observations[t].found and asset in (None, NATIVE)
                  and not candidate_transfers(observations[t], address, asset, chain.address_key)]
    if need_value:
        observations.update(chain.observe(need_value, native_value=True))
    return observations


def named_transfers(chain, observations: dict, claims: list[tuple]) -> list[tuple]:
    """The (observation, transfer) items to prove ahead: each mined, successful claim's own transfers
    (its address and asset), when it names at most ``SPECULATE``; once each."""
    items: dict[tuple, tuple] = {}
    for txid, address, asset in claims:
        obs = observations.get(txid)
        if obs is None or not obs.found or not obs.success or obs.block_number is None:
            continue
        named = candidate_transfers(obs, address, asset, chain.address_key)
        if len(named) <= SPECULATE:
            for t in named:
                items.setdefault(proof_key(obs, t), (obs, t))
    return list(items.values())


class NodeReads:
    """Observe and prove ``claims`` (``(txid, deposit_address, asset)``, in the order they will be
    taken) chunk by chunk in a thread; :meth:`take` waits for the chunks holding some transactions.
    ``chain``: the adapter to read with (default: the network's, :func:`recover.networks.chainio.adapter`)."""

    def __init__(self, net, claims: list[tuple], *, chunk: int = CHUNK, ahead: int = AHEAD, chain=None):
        self.net = net
        self.chain = chain
        self._chunks = [claims[i:i + chunk] for i in range(0, len(claims), chunk)]
        self._where = {}  # txid -> index of the first chunk that reads it
        for k, part in enumerate(self._chunks):
            for txid, _a, _s in part:
                self._where.setdefault(txid, k)
        self._ahead = ahead
        self._done: list[Reads] = []
        self._taken = -1      # the highest chunk taken so far
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"verify-reads-{net.key}", daemon=True)

    def start(self) -> "NodeReads":
        from recover.networks.chainio import adapter

        try:
            if self.chain is None:
                self.chain = adapter(self.net)  # in this thread: the adapter's modules are imported here
        except Exception as exc:  # noqa: BLE001 - a configuration error: every chunk reports it
            self._finish_all(exc)
            return self
        self._thread.start()
        return self

    def _finish_all(self, exc: Exception) -> None:
        with self._cond:
            self._done += [Reads(error=exc) for _ in range(len(self._done), len(self._chunks))]
            self._cond.notify_all()

    def _run(self) -> None:
        for k, claims in enumerate(self._chunks):
            with self._cond:
                while not self._stop and k > self._taken + self._ahead:
                    self._cond.wait()
                if self._stop:
                    return
            reads = self._read(claims)
            with self._cond:
                self._done.append(reads)
                self._cond.notify_all()

    def _read(self, claims: list[tuple]) -> Reads:
        reads = Reads()
        try:
            reads.observations = observe_claims(self.chain, claims)
        except Exception as exc:  # noqa: BLE001 - a ChainError, or a configuration error: the chunk reports it
            reads.error = exc
            return reads
        try:
            items = named_transfers(self.chain, reads.observations, claims)
            proved = self.chain.prove_each(items) if items else []
        except Exception:  # noqa: BLE001 - not read ahead: planning asks again, and reports what it gets then
            return reads
        reads.proofs = {proof_key(obs, t): p for (obs, t), p in zip(items, proved)}
        return reads

    def take(self, txids: Iterable[str]) -> Reads:
        """The reads of ``txids`` (waiting for their chunks); transactions this does not read are left
        out, for the caller to read itself."""
        wanted = set(txids)
        ks = {self._where[t] for t in wanted if t in self._where}
        if not ks:
            return Reads()
        last = max(ks)
        with self._cond:
            self._taken = max(self._taken, last)
            self._cond.notify_all()
            while len(self._done) <= last and self._thread.is_alive():
                self._cond.wait()
            if len(self._done) <= last:  # the thread ended early (closed): nothing more comes
                return Reads()
            got = Reads()
            for k in sorted(ks):
                part = self._done[k]
                if part.error is not None:
                    got.error = got.error or part.error
                # given away: memory stays bounded whatever the number of cases (asked again: read again)
                for t in wanted & part.observations.keys():
                    got.observations[t] = part.observations.pop(t)
                for key in [key for key in part.proofs if key[0] in wanted]:
                    got.proofs[key] = part.proofs.pop(key)
            return got

    def close(self, *, wait: bool = True) -> None:
        """Stop reading ahead (after the request under way); ``wait``: until the thread has ended."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if wait and self._thread.is_alive():
            self._thread.join()


class ReadAhead:
    """The :class:`NodeReads` :func:`read_ahead` started, one per network."""

    def __init__(self, streams: dict[str, NodeReads]):
        self.streams = streams

    def take(self, network: str) -> NodeReads | None:
        return self.streams.pop(network, None)

    def close(self, *, wait: bool = True) -> None:
        for stream in self.streams.values():
            stream.close(wait=wait)
        self.streams.clear()


def read_ahead(db: str | None) -> ReadAhead:
    """Start reading the open cases' transactions now (see the module docstring); never raises."""
    streams: dict[str, NodeReads] = {}
    try:
        from recover.life.operations import OPERATIONS
        from recover.networks.registry import get_network
        from recover.queries.db import reading

        accepts = sorted(s.value for s in OPERATIONS["verify"].accepts)
        with reading(db) as handle:
            rows = handle.rows("SELECT network, txid, deposit_address, asset FROM cases WHERE status IN ("
                               + ", ".join("?" for _ in accepts) + ") ORDER BY id", accepts)
        by_network: dict[str, list] = {}
        for r in rows:
            by_network.setdefault(r["network"], []).append(r)
        for network, group in by_network.items():
            try:
                net = get_network(network)
            except Exception:  # noqa: BLE001 - the command names it, in its own words
                continue
            claims = [(r["txid"], r["deposit_address"], asset_term(r["asset"], net)) for r in group]
            streams[network] = NodeReads(net, claims).start()
    except Exception:  # noqa: BLE001 - the command meets it again and reports it (see above)
        pass
    return ReadAhead(streams)
