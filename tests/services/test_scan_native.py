"""Native deposits found by `scan` two ways, on a real anvil: every block's transactions, or the
node's `trace_filter` (``[evm] native_scan``); both must find exactly the same deposits.  The adapter
asks ``match`` which recipients are ours (here: a fixed set, as the case database would answer)."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from chains.base import NATIVE
from chains.config import load_network_file
from chains.errors import ChainError
from chains.evm.adapter import EvmAdapter
from evm_devnet import deploy, fund_token, token_transfer
from loopback import LoopbackNode
from paths import REPO


def _adapter(url: str, **evm) -> EvmAdapter:
    net = load_network_file(REPO / "chain_configs" / "anvil.toml").resolved({"ANVIL_URL": url})
    return EvmAdapter(net.model_copy(update={"evm": net.evm_options.model_copy(update=evm)}))


def _record_methods(chain: EvmAdapter) -> list[str]:
    """The methods the adapter's batched reads ask the node, in order (the reads themselves go through)."""
    seen: list[str] = []
    real = chain.client.batch

    def batch(calls):
        seen.extend(method for method, _ in calls)
        return real(calls)

    chain.client.batch = batch
    return seen


def test_trace_filter_and_block_reading_find_the_same_native_deposits(evm):
    node, _ = evm
    w3 = node.w3
    sender = node.accounts[0]
    retired = [to_checksum_address(f"0x{i:040x}") for i in range(0xA11CE0, 0xA11CE0 + 3)]
    other = to_checksum_address("0x" + "b0b".rjust(40, "0"))
    start = w3.eth.block_number + 1
    paid = {}
    for i, to in enumerate(retired * 2):  # two deposits each, in separate blocks
        paid[w3.eth.send_transaction({"from": sender, "to": to, "value": 10**15 + i}).to_0x_hex()] = (to.lower(), 10**15 + i)
    w3.eth.send_transaction({"from": sender, "to": other, "value": 10**15})  # not ours
    token = deploy(w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w3, token, sender, 10**9)
    token_transfer(w3, token, sender, retired[0], 10**6)  # a token transfer: no native value to the address
    node.rpc("anvil_mine", [hex(400)])  # more than one trace_filter range (anvil allows 300 blocks)
    end = w3.eth.block_number

    def found(**evm):
        chain = _adapter(node.url, **evm)
        methods = _record_methods(chain)
        ours = {a.lower() for a in retired}
        out = [f for chunk in chain.scan_deposits(start, end, match=lambda keys: keys & ours) for f in chunk.found]
        return [(f.txid, f.recipient.lower(), f.asset, f.amount, f.block_number) for f in out], methods

    by_blocks, read_blocks = found(native_scan="blocks")
    by_traces, read_traces = found(native_scan="trace_filter")
    # a range the node refuses (anvil: more than 300 blocks) is asked again in halves
    by_big_traces, read_big = found(native_scan="trace_filter", trace_filter_blocks=5_000)
    assert by_blocks == by_traces == by_big_traces
    # each way reads what it says: every block, or only the traces (in two ranges; halves once refused)
    assert "eth_getBlockByNumber" in read_blocks and "trace_filter" not in read_blocks
    assert "eth_getBlockByNumber" not in read_traces and read_traces.count("trace_filter") == 2
    assert "eth_getBlockByNumber" not in read_big and read_big.count("trace_filter") == 3  # 1 refused, 2 halves
    assert {t: (r, a) for t, r, asset, a, _ in by_traces if asset == NATIVE} == paid
    # the token transfer to retired[0] is a finding too (the caller decides what is stranded)
    assert [(r, asset) for _, r, asset, _, _ in by_traces if asset != NATIVE] == [(retired[0].lower(), token.address)]


def test_a_scan_without_native_reads_no_native_part(evm):
    """A network with no retired address (``native=False``) reads logs only: a native payment, even
    to an address ``match`` would accept, is never read."""
    node, _ = evm
    start = node.w3.eth.block_number + 1
    node.w3.eth.send_transaction({"from": node.accounts[0], "to": to_checksum_address("0x" + "c".rjust(40, "0")), "value": 1})
    node.rpc("evm_mine", [])  # the payment's block exists whatever another test left the mining mode at
    end = node.w3.eth.block_number
    for mode in ("blocks", "trace_filter"):
        chain = _adapter(node.url, native_scan=mode)
        methods = _record_methods(chain)
        asked = []
        chunks = list(chain.scan_deposits(start, end, match=lambda keys: asked.append(keys) or keys, native=False))
        assert [c.found for c in chunks] == [[]] and asked == [] and set(methods) <= {"eth_getLogs"}


def test_a_node_without_trace_filter_is_an_error_at_once_not_a_split_down_to_single_blocks():
    """A geth-like node answers trace_filter with -32601 (no such method): the scan stops with an
    error naming the method, after the first batch, instead of halving every range to one block."""
    asked = []

    def answer(req):
        out = []
        for r in (req if isinstance(req, list) else [req]):
            asked.append(r["method"])
            if r["method"] == "eth_chainId":
                out.append({"jsonrpc": "2.0", "id": r["id"], "result": "0x7a69"})
            elif r["method"] == "eth_getLogs":
                out.append({"jsonrpc": "2.0", "id": r["id"], "result": []})
            else:
                out.append({"jsonrpc": "2.0", "id": r["id"],
                            "error": {"code": -32601, "message": f"the method {r['method']} does not exist"}})
        return out if isinstance(req, list) else out[0]

    geth = LoopbackNode(body=answer)
    try:
        chain = _adapter(geth.url, native_scan="trace_filter")
        with pytest.raises(ChainError, match="trace_filter"):
            list(chain.scan_deposits(1, 900, match=lambda keys: set()))
    finally:
        geth.close()
    assert asked.count("trace_filter") == 3  # the first batch (three ranges of 300), nothing after
