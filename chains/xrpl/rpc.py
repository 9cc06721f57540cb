"""rippled's JSON-RPC: ``{"method": m, "params": [{...}]}`` answered by ``{"result": {..., "status"}}``.

The transport is :class:`chains.transport.JsonRpcClient` (retries with tenacity, failover over
``rpc_urls``, redacted URLs) with rippled's request shape: one request per POST, no ``jsonrpc``/``id``
envelope expected back (rippled answers ``{"result": ...}`` alone).  Numbers with a fraction
(``reserve_base_xrp``) are parsed as ``Decimal``: drops are reckoned exactly, never through floats.  rippled reports its
errors *inside* ``result`` (``"status": "error"``, ``"error": "txnNotFound"``), so :func:`call` turns
those into :class:`XrplError` with the error token, which callers read by meaning.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chains.errors import NodeRefused, RetryableChainError
from chains.transport import JsonRpcClient, RpcError, classify

NOT_FOUND = ("txnNotFound", "actNotFound", "lgrNotFound", "entryNotFound")
RETRY = ("tooBusy", "noNetwork", "noCurrent", "noClosed", "amendmentBlocked", "slowDown")


class XrplError(NodeRefused):
    """rippled's error answer (``token`` such as ``txnNotFound``)."""

    def __init__(self, token: str, message: str, method: str):
        super().__init__(f"{method}: {token}: {message}".rstrip(": "), details={"method": method, "error": token})
        self.token = token

    @property
    def not_found(self) -> bool:
        return self.token in NOT_FOUND


class RippledClient(JsonRpcClient):
    """:class:`JsonRpcClient` speaking rippled's shape (see the module docstring)."""

    def _post_chunk(self, chunk):
        out = []
        for method, params in chunk:
            answer = self._post(json.dumps({"method": method, "params": params}))
            if not isinstance(answer, dict) or "result" not in answer:
                out.append(RpcError(None, f"unexpected answer: {answer!r}"[:300], None, method))
            else:
                out.append(answer["result"])
        return out


def client(urls, network: str, timeout: float = 15.0) -> RippledClient:
    return RippledClient(urls, network=network, timeout=timeout, batching=False, parse_float=Decimal)


def call(rpc: JsonRpcClient, method: str, **params: Any) -> dict:
    """The ``result`` of ``method``; rippled's error answer raises :class:`XrplError` (a busy or unsynced
    node: ``RetryableChainError``)."""
    try:
        result = rpc.call(method, [params])
    except RpcError as err:
        raise classify(err, method=method, network=rpc.network) from None
    if not isinstance(result, dict):
        raise RetryableChainError(f"{method}: the node's answer is not an object", code="node_answer_malformed")
    if result.get("status") == "error" or "error" in result:
        token = str(result.get("error") or "unknown")
        if token in RETRY:
            raise RetryableChainError(f"{rpc.network}: {method}: the node is not ready ({token})",
                                      details={"method": method, "error": token})
        raise XrplError(token, str(result.get("error_message") or ""), method)
    return result


def call_or_none(rpc: JsonRpcClient, method: str, **params: Any) -> dict | None:
    """Like :func:`call`, None when the node says the thing is not found."""
    try:
        return call(rpc, method, **params)
    except XrplError as err:
        if err.not_found:
            return None
        raise


__all__ = ["RippledClient", "XrplError", "call", "call_or_none", "client"]
