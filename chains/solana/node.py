"""Solana JSON-RPC over :class:`chains.transport.JsonRpcClient`: the requests the adapter sends (same
params, encodings and commitments as solana-py's client sent), batched, and their answers.

A request is a ``(method, params)`` pair built by the functions here; :meth:`SolanaNode.batch` sends
many in one HTTP POST and returns each result (or, for a node's error answer, the classified
:class:`~chains.errors.ChainError` as a *value*: never retried).  Transport failures are retried and
failed over by the client and end as ``RetryableChainError`` (exit 8).
"""

from __future__ import annotations

from typing import Any, Sequence

from chains.errors import ChainError, RetryableChainError
from chains.transport import JsonRpcClient, RpcError, classify

FINALIZED = "finalized"
CONFIRMED = "confirmed"
ACCOUNTS_PER_CALL = 100  # getMultipleAccounts takes at most 100 keys

Request = tuple[str, list]


def get_transaction(txid: str) -> Request:
    return ("getTransaction", [txid, {"encoding": "jsonParsed", "commitment": FINALIZED,
                                      "maxSupportedTransactionVersion": 0}])


def get_slot() -> Request:
    return ("getSlot", [{"commitment": FINALIZED}])


def get_genesis_hash() -> Request:
    return ("getGenesisHash", [])


def get_balance(address: str) -> Request:
    return ("getBalance", [address, {"commitment": FINALIZED}])


def get_multiple_accounts(addresses: Sequence[str]) -> Request:
    return ("getMultipleAccounts", [list(addresses), {"encoding": "base64", "commitment": FINALIZED}])


def get_token_accounts_by_owner(owner: str, mint: str) -> Request:
    return ("getTokenAccountsByOwner", [owner, {"mint": mint}, {"encoding": "base64", "commitment": FINALIZED}])


def get_minimum_balance_for_rent_exemption(size: int) -> Request:
    return ("getMinimumBalanceForRentExemption", [int(size), {"commitment": FINALIZED}])


def get_latest_blockhash() -> Request:
    return ("getLatestBlockhash", [{"commitment": CONFIRMED}])


def simulate_transaction(tx_base64: str) -> Request:
    return ("simulateTransaction", [tx_base64, {"sigVerify": False, "replaceRecentBlockhash": True,
                                                "commitment": CONFIRMED, "encoding": "base64"}])


def send_transaction(tx_base64: str) -> Request:
    return ("sendTransaction", [tx_base64, {"skipPreflight": False, "preflightCommitment": CONFIRMED,
                                            "encoding": "base64"}])


def get_signature_statuses(txids: Sequence[str]) -> Request:
    return ("getSignatureStatuses", [list(txids), {"searchTransactionHistory": True}])


def value(result: Any) -> Any:
    """The ``value`` of an ``{"context", "value"}`` answer (other answers as they are)."""
    if isinstance(result, dict) and "value" in result and "context" in result:
        return result["value"]
    return result


class SolanaNode:
    """The configured Solana nodes of one network (``rpc_urls``, in order, with failover)."""

    def __init__(self, urls: Sequence[str], *, network: str, timeout: float = 20.0, send=None):
        self.network = network
        self.client = JsonRpcClient(urls, network=network, timeout=timeout, retries=2, backoff=0.1, send=send)

    def batch(self, requests: Sequence[Request]) -> list[Any]:
        """Results in order; a node's error answer is its classified ``ChainError`` in its place."""
        out = []
        for (method, _), res in zip(requests, self.client.batch(list(requests))):
            out.append(classify(res, method=method, network=self.network) if isinstance(res, RpcError) else res)
        return out

    def call(self, request: Request) -> Any:
        """One result; a node's error answer raises its classified ``ChainError``."""
        (res,) = self.batch([request])
        return must(res)

    def raw_call(self, request: Request) -> Any:
        """One result or the node's unclassified :class:`RpcError` (callers that read its data)."""
        (res,) = self.client.batch([request])
        return res

    def accounts_requests(self, addresses: Sequence[str]) -> list[Request]:
        return [get_multiple_accounts(addresses[i:i + ACCOUNTS_PER_CALL])
                for i in range(0, len(addresses), ACCOUNTS_PER_CALL)]

    @staticmethod
    def accounts_from(results: Sequence[Any], count: int) -> list[dict | None]:
        """The accounts of :meth:`accounts_requests`' answers (``count`` of them, in order)."""
        out: list[dict | None] = []
        for res in results:
            out.extend(value(must(res)) or [])
        if len(out) != count:
            raise RetryableChainError(f"getMultipleAccounts answered {len(out)} accounts for {count} keys",
                              code="node_answer_malformed")
        return out


def must(result: Any) -> Any:
    """``result`` itself, or raise it when it is a (classified) node error answer."""
    if isinstance(result, ChainError):
        raise result
    return result
