"""``verify --all`` made cheaper per case (issue 13): the faster pieces answer exactly as before.

No node: the EVM pieces (checksums, call keys, the ERC-20 coders, the proofs' token metadata) are
compared with the library calls they replace, and the verification pipeline (chunk k+1 read while
chunk k is written) with the chunk-by-chunk order, on recorded phases.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.evm import common
from chains.evm.common import Batch, cs
from chains.evm.erc20 import TRANSFER_TOPIC, balance_of_data, transfer_log, uint_result
from chains.transport import RpcError
from paths import REPO


# -- checksums ----------------------------------------------------------------------------------------
def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return ("error", type(exc).__name__)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=20, max_size=20), st.sampled_from(["lower", "upper", "checksum", "bytes"]))
def test_cs_is_eth_utils_checksum_for_every_spelling(raw, spelling):
    address = "0x" + raw.hex()
    given_form = {"lower": address, "upper": "0x" + raw.hex().upper(), "checksum": to_checksum_address(address),
                  "bytes": raw}[spelling]
    assert cs(given_form) == to_checksum_address(given_form) == to_checksum_address(address)
    assert cs(cs(given_form)) == cs(given_form)


def test_cs_refuses_what_eth_utils_refuses_and_caches_none_of_it():
    for bad in ("0x12", "0x" + "zz" * 20, "", "0x" + "ab" * 21, 12, None):
        assert _outcome(cs, bad)[0] == "error"
        assert _outcome(cs, bad) == _outcome(to_checksum_address, bad)
        assert bad not in common._CHECKSUMS


def test_cs_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(common, "_CHECKSUMS", {})
    monkeypatch.setattr(common, "_CHECKSUMS_MAX", 10)
    addresses = ["0x" + f"{i:040x}" for i in range(25)]
    for a in addresses:
        assert cs(a) == to_checksum_address(a)
        assert len(common._CHECKSUMS) <= 10
    assert cs(addresses[-1]) == to_checksum_address(addresses[-1])
    assert cs(addresses[0]) == to_checksum_address(addresses[0])  # evicted, computed again


# -- call keys ------------------------------------------------------------------------------------------
def test_batch_deduplicates_exactly_as_the_json_key_did():
    calls = [("eth_call", [{"to": "0xA", "data": "0x1"}, "latest"]),
             ("eth_call", [{"data": "0x1", "to": "0xA"}, "latest"]),  # same call, keys in another order
             ("eth_call", [{"to": "0xA", "data": "0x1"}, "0x1"]),
             ("eth_getBalance", ["0xA", 1]), ("eth_getBalance", ["0xA", True]), ("eth_getBalance", ["0xA", 1.0]),
             ("eth_getBalance", ["0xA", "1"]), ("eth_getBalance", ["0xA", 1]), ("eth_getCode", ["0xé", None])]
    batch = Batch()
    handles = [batch.add(m, p) for m, p in calls]
    reference: dict[str, int] = {}
    expected = [reference.setdefault(json.dumps([m, p], sort_keys=True), len(reference)) for m, p in calls]
    assert handles == expected == [0, 0, 1, 2, 3, 4, 5, 2, 6]
    assert [c[0] for c in batch.calls] == ["eth_call", "eth_call", "eth_getBalance", "eth_getBalance",
                                           "eth_getBalance", "eth_getBalance", "eth_getCode"]


# -- ERC-20 coders --------------------------------------------------------------------------------------
def _uint_reference(value):
    if isinstance(value, RpcError) or value is None:
        return None
    try:
        return int(abi_decode(["uint256"], common.hexbytes(value), strict=False)[0])
    except Exception:  # noqa: BLE001
        return None


def _log_reference(log):
    topics = log.get("topics") or []
    if log.get("removed") or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
        return None
    data = common.hexbytes(log.get("data"))
    if len(data) != 32:
        return None
    try:
        frm, dst, amount = abi_decode(["address", "address", "uint256"],
                                      common.hexbytes(topics[1]) + common.hexbytes(topics[2]) + data)
    except Exception:  # noqa: BLE001
        return None
    return to_checksum_address(frm), to_checksum_address(dst), int(amount)


words = st.one_of(st.binary(min_size=32, max_size=32),
                  st.binary(min_size=20, max_size=20).map(lambda b: bytes(12) + b),  # a well-formed address word
                  st.binary(max_size=40))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=70).map(lambda b: "0x" + b.hex()), st.binary(max_size=70),
                 st.just(None), st.just("0xzz"), st.just("12"), st.just(RpcError(3, "execution reverted"))))
def test_uint_result_answers_as_abi_decode(value):
    assert uint_result(value) == _uint_reference(value)


@settings(max_examples=300, deadline=None)
@given(words, words, words, st.booleans(), st.sampled_from([TRANSFER_TOPIC, TRANSFER_TOPIC.upper(), "0x" + "11" * 32]))
def test_transfer_log_answers_as_abi_decode(frm, dst, data, removed, topic0):
    log = {"address": "0x" + "ab" * 20, "topics": [topic0, "0x" + frm.hex(), "0x" + dst.hex()],
           "data": "0x" + data.hex(), "removed": removed, "logIndex": "0x0"}
    assert transfer_log(log) == _log_reference(log)


def test_transfer_log_of_a_real_shape():
    frm, dst = "0x" + "12" * 20, "0x" + "34" * 20
    log = {"topics": [TRANSFER_TOPIC, "0x" + "00" * 12 + frm[2:], "0x" + "00" * 12 + dst[2:]],
           "data": "0x" + (10**6 + 7).to_bytes(32, "big").hex()}
    assert transfer_log(log) == (to_checksum_address(frm), to_checksum_address(dst), 10**6 + 7)
    dirty = {**log, "topics": [TRANSFER_TOPIC, "0x" + "01" + "00" * 11 + frm[2:], log["topics"][2]]}
    assert transfer_log(dirty) is None and _log_reference(dirty) is None  # padding bytes must be zero


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_balance_of_data_is_abi_encode(raw):
    owner = to_checksum_address("0x" + raw.hex())
    assert balance_of_data(owner) == "0x70a08231" + abi_encode(["address"], [owner.lower()]).hex()


# -- proofs: a token's decimals()/symbol() decoded once, for the right token ----------------------------------
def test_prove_each_gives_each_token_its_own_metadata():
    from chains.base import Transfer, TxObservation
    from chains.config import load_network_file
    from chains.errors import PermanentChainError
    from chains.evm import erc20, observe
    from chains.evm.adapter import EvmAdapter
    from chains.transport import JsonRpcClient

    network = load_network_file(REPO / "chain_configs" / "ethtester.toml").resolved({})
    tokens = {"0x" + "a1" * 20: (6, abi_encode(["string"], ["AAA"])),
              "0x" + "b2" * 20: (18, "BBB".encode().ljust(32, b"\0")),  # bytes32 symbol (MKR style)
              "0x" + "c3" * 20: (None, b"")}  # answers nothing: not a token

    def answer(call):
        method, params = call["method"], call["params"]
        if method == "eth_chainId":
            return {"result": hex(network.chain_id)}
        if method == "eth_getCode":
            return {"result": "0x"}
        to, data, tag = params[0]["to"].lower(), params[0]["data"], params[1]
        decimals, symbol = tokens[to]
        if decimals is None:
            return {"error": {"code": 3, "message": "execution reverted"}}
        if data == erc20.DECIMALS_DATA:
            return {"result": "0x" + abi_encode(["uint8"], [decimals]).hex()}
        if data == erc20.SYMBOL_DATA:
            return {"result": "0x" + symbol.hex()}
        owner_word = int(data[10:], 16)
        balance = owner_word % 1000 + (0 if tag == hex(9) else 500)  # block 10: +500 since block 9
        return {"result": "0x" + balance.to_bytes(32, "big").hex()}

    def send(body):
        return [{"jsonrpc": "2.0", "id": c["id"], **answer(c)} for c in json.loads(body)]

    chain = EvmAdapter(network, client=JsonRpcClient(["test://"], network=network.key, send=send))
    obs = TxObservation(txid="0x" + "00" * 32, found=True, success=True, block_number=10, confirmations=3)
    order = ["0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "a1" * 20, "0x" + "c3" * 20, "0x" + "b2" * 20,
             "0x" + "a1" * 20]
    items = [(obs, Transfer(i, cs(t), cs("0x" + "99" * 20), cs("0x" + f"{i + 1:040x}"), 500))
             for i, t in enumerate(order)]
    calls = {"uint": 0, "symbol": 0}
    real_symbol = observe.symbol_result

    def counted_symbol(value):
        calls["symbol"] += 1
        return real_symbol(value)

    observe.symbol_result = counted_symbol
    try:
        proofs = chain.prove_each(items)
    finally:
        observe.symbol_result = real_symbol
    assert calls["symbol"] == 2  # one per token that answers decimals(), not one per item
    got = [(p.decimals, p.symbol, p.before, p.after, p.now) if not isinstance(p, Exception) else p.code
           for p in proofs]
    assert got == [(6, "AAA", 1, 501, 501), (18, "BBB", 2, 502, 502), (6, "AAA", 3, 503, 503), "not_a_token",
                   (18, "BBB", 5, 505, 505), (6, "AAA", 6, 506, 506)]
    assert isinstance(proofs[3], PermanentChainError)


# -- the pipeline: the reads run ahead in their own thread, this thread plans, decides and writes in order ---
class _Recorder:
    """Fake phases of ``recover.casework.verification`` around a real ``NodeReads`` over an adapter that
    answers at once: what ran, in which thread, and which balance proofs the planning thread asked for."""

    def __init__(self, monkeypatch, *, fail_plan_at=None, fail_write_at=None, plan_extra=()):
        import recover.casework.verification as v
        from chains.base import BalanceProof, Transfer, TxObservation

        self.events: list[tuple[str, int, str]] = []
        self.lock = threading.Lock()
        recorder = self

        def log(what, first):
            with self.lock:
                self.events.append((what, first, threading.current_thread().name))

        class Chain:
            address_key = staticmethod(str.lower)

            def observe(self, txids, *, native_value=True):
                log("observe", int(txids[0].removeprefix("0xtx")))
                return {t: TxObservation(t, True, True, None, 7, None, None, 20, "0xs", "0xtok",
                                         (Transfer(0, "0xtok", "0xs", "0xto" + t, 1),)) for t in txids}

            def prove_each(self, items):
                log("prove", int(items[0][0].txid.removeprefix("0xtx")))
                return [BalanceProof(t, 0, 1, 1, 6, "TOK", False) for _o, t in items]

        self.chain = Chain()

        def plan(session_factory, net, chunk):
            log("plan", chunk.cases[0].id)
            if fail_plan_at == chunk.cases[0].id:
                raise RuntimeError("planning failed")
            # each case's own transfer (read ahead), and for the cases in plan_extra one more (not read ahead)
            chunk.plans = {c.id: None for c in chunk.cases}
            chunk.items = [(chunk.observations[c.txid], t) for c in chunk.cases
                           for t in (chunk.observations[c.txid].transfers
                                     + ((Transfer(1, "0xtok", "0xs", "0xother", 2),) if c.id in plan_extra else ()))]
            return chunk

        def decide(net, chunk, proofs):
            assert len(proofs) == len(chunk.items) and all(isinstance(p, BalanceProof) for p in proofs)
            recorder.proved = getattr(recorder, "proved", []) + [(o.txid, t.index) for o, t in chunk.items]
            log("decide", chunk.cases[0].id)
            return chunk

        def write(session_factory, net, cases, observations, decisions, *, actor):
            log("write", cases[0].id)
            if fail_write_at == cases[0].id:
                raise RuntimeError("writing failed")
            return [f"result {c.id}" for c in cases]

        for name, fn in (("_plan_chunk", plan), ("_decide_chunk", decide), ("_write", write)):
            monkeypatch.setattr(v, name, fn)
        monkeypatch.setattr(v, "CHUNK", 2)

    def run(self, n):
        from recover.casework.verification import _verify_network
        from recover.casework.verify_reads import NodeReads

        net = SimpleNamespace(key="anvil", native_symbol="ETH", deposit_model="own_address")
        cases = _cases(n)
        self.reads = NodeReads(net, [(c.txid, None, "0xtok") for c in cases], chunk=2, chain=self.chain).start()
        return _verify_network(None, net, cases, actor="spec", progress=self.progress.append, reads=self.reads)

    progress: list

    def main(self) -> list[tuple[str, int]]:
        return [(w, c) for w, c, t in self.events if t == threading.main_thread().name]

    def reader(self) -> list[tuple[str, int]]:
        return [(w, c) for w, c, t in self.events if t == "verify-reads-anvil"]


def _cases(n):
    return [SimpleNamespace(id=i, txid=f"0xtx{i}", deposit_address=None, asset="0xtok") for i in range(1, n + 1)]


def _readers_alive():
    return [t for t in threading.enumerate() if t.name.startswith("verify-reads")]


def test_pipeline_writes_every_chunk_in_order_with_the_reads_in_their_own_thread(monkeypatch):
    rec = _Recorder(monkeypatch)
    rec.progress = []
    assert rec.run(7) == [f"result {i}" for i in range(1, 8)]
    assert rec.progress == [2, 2, 2, 1]  # after each chunk's write, in order
    assert rec.main() == [(w, c) for c in (1, 3, 5, 7) for w in ("plan", "decide", "write")]
    # every node read in the reader thread, chunk by chunk: each claim's own transfer proved ahead
    assert rec.reader() == [(w, c) for c in (1, 3, 5, 7) for w in ("observe", "prove")]
    assert rec.proved == [(f"0xtx{i}", 0) for i in range(1, 8)]
    assert not _readers_alive()


def test_a_transfer_planning_names_that_was_not_read_ahead_is_proved_in_this_thread(monkeypatch):
    rec = _Recorder(monkeypatch, plan_extra={3})
    rec.progress = []
    assert rec.run(4) == [f"result {i}" for i in range(1, 5)]
    assert rec.main() == [("plan", 1), ("decide", 1), ("write", 1), ("plan", 3), ("prove", 3), ("decide", 3),
                          ("write", 3)]
    assert rec.proved == [("0xtx1", 0), ("0xtx2", 0), ("0xtx3", 0), ("0xtx3", 1), ("0xtx4", 0)]
    assert not _readers_alive()


def test_a_chunk_that_fails_to_plan_leaves_the_ones_before_written_and_no_reader(monkeypatch):
    rec = _Recorder(monkeypatch, fail_plan_at=5)
    rec.progress = []
    with pytest.raises(RuntimeError, match="planning failed"):
        rec.run(7)
    assert [c for w, c in rec.main() if w == "write"] == [1, 3]
    assert not _readers_alive()


def test_a_failed_write_stops_the_batch_and_leaves_no_reader(monkeypatch):
    rec = _Recorder(monkeypatch, fail_write_at=3)
    rec.progress = []
    with pytest.raises(RuntimeError, match="writing failed"):
        rec.run(7)
    assert [c for w, c in rec.main() if w == "write"] == [1, 3]
    assert ("decide", 5) not in rec.main()
    assert not _readers_alive()
