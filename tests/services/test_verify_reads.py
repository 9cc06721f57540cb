"""Issue 27: the node reads of ``verify`` run in one thread ahead of planning and writing
(``recover.casework.verify_reads.NodeReads``).

No node here: the scheduling (how far ahead, which transfers are proved before planning names them,
what a failed chunk gives, that nothing is left running) is checked on an adapter that records its
calls.  The same reads against a real anvil, from the CLI and the library, are in
``test_verify_ahead.py``.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.errors import ChainError, RetryableChainError
from recover.casework.verify_reads import SPECULATE, NodeReads, named_transfers, proof_key

TOKEN = "0xt0ken"


def _addr(i: int) -> str:
    return f"0xaddr{i}"


def _tx(i: int) -> str:
    return f"0xtx{i}"


class _Chain:
    """An adapter that answers from a script and records each call with its thread."""

    address_key = staticmethod(str.lower)

    def __init__(self, *, transfers=None, fail_observe=(), fail_prove=False, status=None):
        self.calls: list[tuple] = []
        self.transfers = transfers or {}
        self.fail_observe = set(fail_observe)
        self.fail_prove = fail_prove
        self.status = status or {}
        self.lock = threading.Lock()

    def observe(self, txids, *, native_value=True):
        with self.lock:
            self.calls.append(("observe", tuple(txids), threading.current_thread().name))
        if self.fail_observe & set(txids):
            raise RetryableChainError("anvil: node unreachable")
        out = {}
        for t in txids:
            i = int(t.removeprefix("0xtx"))
            found, success, block = self.status.get(i, (True, True, 100 + i))
            transfers = self.transfers.get(i, (Transfer(0, TOKEN, "0xsender", _addr(i), 10 + i),))
            out[t] = TxObservation(t, found, success, None, block, None, None, 20 if block else 0, "0xsender",
                                   TOKEN, transfers if found else ())
        return out

    def prove_each(self, items):
        with self.lock:
            self.calls.append(("prove", tuple(proof_key(o, t) for o, t in items), threading.current_thread().name))
        if self.fail_prove:
            raise RetryableChainError("anvil: node unreachable")
        return [BalanceProof(t, 0, t.amount, t.amount, 6, "TOK", False) for _o, t in items]

    def of(self, what):
        with self.lock:
            return [c for c in self.calls if c[0] == what]


def _reads(chain, claims, **kw) -> NodeReads:
    return NodeReads(SimpleNamespace(key="anvil", native_symbol="ETH"), claims, chain=chain, **kw).start()


def _claims(n, *, address=True):
    return [(_tx(i), _addr(i) if address else None, TOKEN) for i in range(n)]


def _settle(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_reads_run_ahead_in_their_own_thread_and_no_further_than_told():
    chain = _Chain()
    reads = _reads(chain, _claims(7), chunk=2, ahead=2)
    try:
        assert _settle(lambda: len(chain.of("prove")) == 2)
        time.sleep(0.1)  # and then it waits: two chunks read ahead, nothing taken yet
        assert [c[1] for c in chain.of("observe")] == [(_tx(0), _tx(1)), (_tx(2), _tx(3))]
        assert {c[2] for c in chain.calls} == {"verify-reads-anvil"}
        got = reads.take([_tx(0), _tx(1)])
        assert set(got.observations) == {_tx(0), _tx(1)} and got.error is None
        assert sorted(k[0] for k in got.proofs) == [_tx(0), _tx(1)]
        assert _settle(lambda: len(chain.of("observe")) == 3)  # chunk 0 taken: chunk 2 may be read
        time.sleep(0.1)
        assert len(chain.of("observe")) == 3
        got = reads.take([_tx(6)])  # the last chunk: everything before it may be read now
        assert set(got.observations) == {_tx(6)}
        assert [c[1] for c in chain.of("observe")][-1] == (_tx(6),)
    finally:
        reads.close()
    assert not reads._thread.is_alive()


def test_only_the_transfers_a_claim_names_are_proved_ahead():
    many = tuple(Transfer(k, TOKEN, "0xsender", _addr(100 + k), 1) for k in range(SPECULATE + 1))
    three = (Transfer(0, TOKEN, "0xs", _addr(50), 1), Transfer(1, TOKEN, "0xs", _addr(1), 7),
             Transfer(2, NATIVE, "0xs", _addr(1), 9))
    chain = _Chain(transfers={1: three, 2: many}, status={3: (False, None, None), 4: (True, False, 104),
                                                          5: (True, True, None)})
    claims = [(_tx(0), _addr(0), TOKEN),   # its one transfer
              (_tx(1), _addr(1), TOKEN),   # of three transfers, the token one to its address
              (_tx(2), None, TOKEN),       # no address, more transfers than SPECULATE: planning picks
              (_tx(3), _addr(3), TOKEN),   # not found
              (_tx(4), _addr(4), TOKEN),   # failed on chain
              (_tx(5), _addr(5), TOKEN)]   # not mined
    observations = chain.observe([t for t, _a, _s in claims])
    items = named_transfers(chain, observations, claims)
    assert [(o.txid, t.index) for o, t in items] == [(_tx(0), 0), (_tx(1), 1)]
    reads = _reads(chain, claims)
    try:
        got = reads.take([t for t, _a, _s in claims])
    finally:
        reads.close()
    assert set(got.observations) == {t for t, _a, _s in claims}
    assert sorted((k[0], k[2].index) for k in got.proofs) == [(_tx(0), 0), (_tx(1), 1)]


def test_a_chunk_whose_reads_fail_reports_it_and_the_next_chunk_is_still_read():
    chain = _Chain(fail_observe={_tx(2)})
    reads = _reads(chain, _claims(6), chunk=2)
    try:
        first, failed, last = (reads.take([_tx(0), _tx(1)]), reads.take([_tx(2), _tx(3)]),
                               reads.take([_tx(4), _tx(5)]))
    finally:
        reads.close()
    assert first.error is None and last.error is None and set(last.observations) == {_tx(4), _tx(5)}
    assert isinstance(failed.error, RetryableChainError) and failed.observations == {}


def test_a_list_that_shifted_by_a_case_still_takes_everything_from_the_reads_and_each_only_once():
    """A case closed between the reads' list and the command's: the command's chunks straddle the
    reads' chunks; each transaction is still given once, and the node is asked nothing more."""
    chain = _Chain()
    reads = _reads(chain, _claims(6), chunk=2)
    try:
        takes = [reads.take(t) for t in ([_tx(0), _tx(2)], [_tx(3), _tx(4)], [_tx(5)])]
        again = reads.take([_tx(0)])
    finally:
        reads.close()
    assert [sorted(g.observations) for g in takes] == [[_tx(0), _tx(2)], [_tx(3), _tx(4)], [_tx(5)]]
    assert [sorted(k[0] for k in g.proofs) for g in takes] == [[_tx(0), _tx(2)], [_tx(3), _tx(4)], [_tx(5)]]
    assert len(chain.of("observe")) == 3 and again.observations == {}  # given once: memory stays bounded


def test_proofs_that_fail_ahead_are_left_for_planning_to_ask_again():
    chain = _Chain(fail_prove=True)
    reads = _reads(chain, _claims(2))
    try:
        got = reads.take([_tx(0), _tx(1)])
    finally:
        reads.close()
    assert got.error is None and set(got.observations) == {_tx(0), _tx(1)} and got.proofs == {}


def test_transactions_it_was_not_given_are_left_to_the_caller():
    chain = _Chain()
    reads = _reads(chain, _claims(2))
    try:
        got = reads.take([_tx(1), _tx(9)])
    finally:
        reads.close()
    assert set(got.observations) == {_tx(1)}
    assert all(_tx(9) not in c[1] for c in chain.of("observe"))


def test_a_network_whose_adapter_cannot_be_made_reports_it_for_every_chunk(monkeypatch):
    import recover.networks.chainio as chainio

    def broken(_net):
        raise ChainError("anvil: rpc_urls: ${ANVIL_URL} is not set", code="config_unresolved")

    monkeypatch.setattr(chainio, "adapter", broken)
    reads = NodeReads(SimpleNamespace(key="anvil", native_symbol="ETH"), _claims(3), chunk=2).start()
    try:
        assert reads.take([_tx(0)]).error.code == "config_unresolved"
        assert reads.take([_tx(2)]).error.code == "config_unresolved"
    finally:
        reads.close()


def test_closed_early_it_stops_and_a_take_then_gives_nothing():
    gate = threading.Event()

    class Slow(_Chain):
        def observe(self, txids, *, native_value=True):
            gate.wait(10)
            return super().observe(txids, native_value=native_value)

    chain = Slow()
    reads = _reads(chain, _claims(9), chunk=1, ahead=5)
    closing = threading.Thread(target=reads.close)
    closing.start()
    assert _settle(lambda: reads._stop)
    gate.set()  # the request under way finishes; nothing after it is asked
    closing.join(10)
    assert not closing.is_alive() and not reads._thread.is_alive()
    assert len(chain.of("observe")) == 1
    assert reads.take([_tx(8)]).observations == {}


@pytest.mark.parametrize("n", [0, 1])
def test_nothing_to_read_ends_at_once(n):
    reads = _reads(_Chain(), _claims(n))
    reads.close()
    assert not reads._thread.is_alive()
