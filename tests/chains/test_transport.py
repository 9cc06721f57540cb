"""The one JSON-RPC client: what is retried (transport), what is permanent (an answer), what is a
configuration error (credentials, URLs), and that no credential a URL carries is ever shown.

The servers here are real HTTP servers on loopback answering as nodes do (anvil for a real node's
error answers), not mocks of the client.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from chains.errors import (
    ExecutionReverted,
    InvalidRequest,
    NetworkConfigError,
    NodeRefused,
    NotFoundOnChain,
    RetryableChainError,
)
from chains.transport import JsonRpcClient, RpcError, classify, redact_text, redact_url
from loopback import LoopbackNode


@pytest.fixture
def node():
    nodes = []

    def make(status=200, body=None):
        n = LoopbackNode(status, body)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.close()


def _echo(req):
    if isinstance(req, list):
        return [{"jsonrpc": "2.0", "id": r["id"], "result": r["params"]} for r in req]
    return {"jsonrpc": "2.0", "id": req["id"], "result": req["params"]}


def test_batches_keep_request_order_and_values(node):
    n = node(body=_echo)
    client = JsonRpcClient([n.url], network="t", chunk_size=2)
    calls = [("m", [i]) for i in range(5)]
    assert client.batch(calls) == [[i] for i in range(5)]
    assert client.http_requests == 3  # chunks of 2, 2, 1
    assert sorted(len(r) for r in n.requests) == [1, 2, 2]  # chunks go out in parallel


def test_an_error_answer_is_permanent_and_not_retried(node):
    n = node(body=lambda req: [{"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32602, "message": "bad params"}}
                               for r in req])
    client = JsonRpcClient([n.url], network="t")
    with pytest.raises(RpcError) as info:
        client.call("eth_getBalance", ["nonsense"])
    assert info.value.code == -32602 and info.value.method == "eth_getBalance"
    assert len(n.requests) == 1  # one answer is enough: nothing retried
    with pytest.raises(InvalidRequest) as classified:
        client.call_or_raise("eth_getBalance", ["nonsense"])
    assert classified.value.exit_code == 4 and "bad params" in str(classified.value)


def test_a_json_rpc_error_sent_with_http_500_is_still_an_answer(node):
    n = node(status=500, body=lambda req: [{"jsonrpc": "2.0", "id": r["id"], "error": {"code": -5, "message":
                                            "No such mempool or blockchain transaction"}} for r in req])
    client = JsonRpcClient([n.url], network="t", retries=3, backoff=0)
    with pytest.raises(NotFoundOnChain) as info:
        client.call_or_raise("getrawtransaction", ["00" * 32])
    assert info.value.exit_code == 3
    assert len(n.requests) == 1


def test_transport_failures_are_retried_then_fail_over_to_the_next_url(node):
    down = node(status=503, body="<html>busy</html>")
    up = node(body=_echo)
    client = JsonRpcClient([down.url, up.url], network="t", retries=3, backoff=0)
    assert client.call("m", [1]) == [1]
    assert len(down.requests) == 3 and len(up.requests) == 1
    assert client.call("m", [2]) == [2]
    assert len(down.requests) == 3  # the URL that answered is preferred afterwards


def test_every_url_down_is_retryable_exit_8_and_names_them(node):
    a, b = node(status=502, body="x"), node(status=429, body="slow down")
    client = JsonRpcClient([a.url, b.url], network="anvil", retries=2, backoff=0)
    with pytest.raises(RetryableChainError) as info:
        client.call("m")
    assert info.value.exit_code == 8
    assert a.url in str(info.value) and b.url in str(info.value)
    assert len(a.requests) == 2 and len(b.requests) == 2


def test_connection_refused_is_retryable(node):
    client = JsonRpcClient(["http://127.0.0.1:9"], network="t", retries=2, backoff=0)
    with pytest.raises(RetryableChainError) as info:
        client.batch([("m", [])])
    assert info.value.exit_code == 8 and "ConnectionError" in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_a_configuration_error_without_the_password(node, status):
    n = node(status=status, body={"error": "unauthorized"})
    url = n.url.replace("http://", "http://alice:hunter2-secret@") + "/v3/0123456789abcdef0123456789abcdef"
    client = JsonRpcClient([url], network="ethereum", retries=3, backoff=0)
    with pytest.raises(NetworkConfigError) as info:
        client.call("eth_chainId")
    text = str(info.value) + json.dumps(info.value.details)
    assert info.value.exit_code == 4 and info.value.code == "rpc_unauthorized"
    assert "ethereum" in text and "rpc_urls" in text
    for secret in ("alice", "hunter2-secret", "0123456789abcdef0123456789abcdef"):
        assert secret not in text
    assert len(n.requests) == 1  # not retried: retrying cannot fix a password


@pytest.mark.parametrize("url", ["notaurl", "ftp://host/x", "http://", "http://host:notaport/"])
def test_a_malformed_url_is_a_configuration_error_not_unreachable(url):
    with pytest.raises(NetworkConfigError) as info:
        JsonRpcClient([url], network="ethereum")
    assert info.value.exit_code == 4 and info.value.code == "bad_rpc_url"
    assert "rpc_urls[0]" in str(info.value) and "ethereum" in str(info.value)


def test_unreachable_message_never_shows_credentials():
    url = "http://bob:pa55word-xyz@127.0.0.1:9/?apikey=SECRETKEY123"
    client = JsonRpcClient([url], network="bitcoin", retries=1, backoff=0)
    with pytest.raises(RetryableChainError) as info:
        client.call("getblockcount")
    text = str(info.value) + json.dumps(info.value.details)
    for secret in ("bob", "pa55word-xyz", "SECRETKEY123"):
        assert secret not in text
    assert "127.0.0.1:9" in text


def test_redaction_of_urls_and_text():
    assert redact_url("https://u:p@host.example:8545/path") == "https://***@host.example:8545/path"
    assert redact_url("https://mainnet.infura.io/v3/9aa3d95b3bc440fa88ea12eaa4456161") == \
        "https://mainnet.infura.io/v3/***"
    assert redact_url("https://rpc.example/?api_key=abc&x=1") == "https://rpc.example/?api_key=***&x=1"
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    text = "failed http://u:topsecret@h:1/ and again topsecret"
    assert "topsecret" not in redact_text(text, ["http://u:topsecret@h:1/"])


def test_decimal_amounts_stay_exact(node):
    n = node(body='[{"jsonrpc": "2.0", "id": 1, "result": {"value": 0.10000001}}]')
    client = JsonRpcClient([n.url], network="t", parse_float=Decimal)
    value = client.call("gettxout")["value"]
    assert isinstance(value, Decimal) and value == Decimal("0.10000001")


def test_classify_by_meaning():
    reverted = classify(RpcError(3, "execution reverted", "0x08c379a0"), method="eth_call", network="anvil")
    assert isinstance(reverted, ExecutionReverted) and reverted.exit_code == 6
    assert reverted.details["data"] == "0x08c379a0"
    assert isinstance(classify(RpcError(-32000, "transaction not found")), NotFoundOnChain)
    assert isinstance(classify(RpcError(-32602, "invalid argument 0")), InvalidRequest)
    other = classify(RpcError(-26, "mandatory-script-verify-flag-failed"))
    assert isinstance(other, NodeRefused) and other.exit_code == 6


def test_a_real_node_error_answer_is_invalid_input_not_unreachable(anvil_a):
    """anvil's own answer to a malformed request is a permanent, classified error (was exit 8)."""
    client = JsonRpcClient([anvil_a.url], network="anvil")
    with pytest.raises(InvalidRequest) as info:
        client.call_or_raise("eth_getBalance", ["not-an-address", "latest"])
    assert info.value.exit_code == 4
    assert client.call("eth_chainId") == "0x7a69"
