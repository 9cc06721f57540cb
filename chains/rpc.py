"""JSON-RPC transport for the EVM adapter: batched HTTP with retries and failover, and an
in-process transport over web3's ``EthereumTesterProvider`` (URL ``eth-tester://``, used by the demo).

* :class:`RpcClient` ``call(method, params)`` returns the result or raises :class:`RpcError` (the
  node answered with a JSON-RPC error object: permanent, never retried).  ``batch(requests)`` sends
  one HTTP POST per chunk (a JSON array) and returns, in request order, each result or an
  :class:`RpcError` *value*.
* Transport failures (connection refused/reset, timeouts, HTTP 5xx/429, a body that is not JSON)
  are retried with tenacity (exponential backoff, a few attempts, well under 3 s per URL), then the
  next URL of ``rpc_urls`` is tried; when every URL failed, :class:`chains.errors.RetryableChainError`
  (exit 8) names the URLs tried.  The last URL that answered is preferred for later requests.
"""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chains.errors import RetryableChainError

ETH_TESTER_URL = "eth-tester://"

__all__ = ["RpcClient", "RpcError", "ETH_TESTER_URL", "eth_tester_web3", "reset_eth_tester"]


class RpcError(Exception):
    """A JSON-RPC error object returned by the node (permanent: the node answered)."""

    def __init__(self, code: int | None, message: str, data: Any = None):
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def revert_data(self) -> str | None:
        """The revert payload (``0x...``) when the error carries one (geth/anvil: ``data``)."""
        data = self.data
        if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."} or {"originalError": {...}}
            data = data.get("data") or (data.get("originalError") or {}).get("data")
        if isinstance(data, (bytes, bytearray)):
            return "0x" + bytes(data).hex()
        if isinstance(data, str) and data.startswith("0x"):
            return data
        return None

    def __repr__(self) -> str:
        return f"RpcError({self.code!r}, {self.message!r}, {self.data!r})"


class _Transient(Exception):
    """A transport failure worth retrying (internal)."""


# -- eth-tester (in-process) -------------------------------------------------------------------------
_tester_lock = threading.Lock()
_tester_w3 = None


def eth_tester_web3():
    """The process-wide ``Web3(EthereumTesterProvider())``, created on first use.

    The demo deploys its contracts through this object; adapters of an ``eth-tester://`` network
    read the same chain.
    """
    global _tester_w3
    with _tester_lock:
        if _tester_w3 is None:
            from web3 import EthereumTesterProvider, Web3

            _tester_w3 = Web3(EthereumTesterProvider())
        return _tester_w3


def reset_eth_tester() -> None:
    """Forget the shared eth-tester chain (tests): the next use starts a fresh one."""
    global _tester_w3
    with _tester_lock:
        _tester_w3 = None


def _to_wire(value: Any) -> Any:
    """web3/eth-tester Python values -> JSON-RPC wire form (quantities as hex, bytes as 0x-hex)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value
    if hasattr(value, "items"):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    return value


def _tester_call(method: str, params: Sequence[Any]) -> Any:
    w3 = eth_tester_web3()
    try:
        result = w3.manager.request_blocking(method, list(params))
    except Exception as exc:  # eth-tester raises Python exceptions for node-side errors
        data = getattr(exc, "data", None)
        code = 3 if data else -32000
        msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return RpcError(code, str(msg), data)
    return _to_wire(result)


# -- the client ---------------------------------------------------------------------------------------
class RpcClient:
    """JSON-RPC over HTTP (``requests``) or over the in-process eth-tester chain.

    ``supports_overrides``: whether ``eth_call``/``eth_estimateGas`` accept a state-override
    argument (False for eth-tester).
    """

    chunk_size = 500

    def __init__(self, urls: Sequence[str], *, timeout: float = 10, retries: int = 3,
                 max_workers: int = 4, backoff: float = 0.05):
        urls = [u for u in urls if u]
        if not urls:
            raise ValueError("RpcClient needs at least one URL")
        self.urls = list(urls)
        self.timeout = timeout
        self.retries = max(1, retries)
        self.max_workers = max(1, max_workers)
        self.backoff = backoff
        self.tester = self.urls[0] == ETH_TESTER_URL
        self.supports_overrides = not self.tester
        self._preferred = 0
        self._ids = itertools.count(1)
        self._local = threading.local()
        self.http_requests = 0  # number of HTTP POSTs sent (tests, benchmarks)
        self._pool: ThreadPoolExecutor | None = None

    # -- public ----------------------------------------------------------------------------------
    def call(self, method: str, params: Sequence[Any] | None = None) -> Any:
        result = self.batch([(method, list(params or []))])[0]
        if isinstance(result, RpcError):
            raise result
        return result

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Results (or :class:`RpcError` values) in the order of ``calls``."""
        calls = [(m, list(p or [])) for m, p in calls]
        if not calls:
            return []
        if self.tester:
            return [_tester_call(m, p) for m, p in calls]
        chunks = [calls[i:i + self.chunk_size] for i in range(0, len(calls), self.chunk_size)]
        if len(chunks) == 1 or self.max_workers == 1:
            parts = [self._post_chunk(c) for c in chunks]
        else:
            if self._pool is None:  # kept: its threads keep their HTTP connections alive
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="rpc")
            parts = list(self._pool.map(self._post_chunk, chunks))
        return [r for part in parts for r in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    # -- internals -------------------------------------------------------------------------------
    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"Content-Type": "application/json"})
            self._local.session = session
        return session

    def _post_chunk(self, chunk: list[tuple[str, list]]) -> list[Any]:
        ids = [next(self._ids) for _ in chunk]
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, chunk)]
        answer = self._post(json.dumps(body))
        if isinstance(answer, dict):  # a node that refuses the whole batch answers one error object
            err = answer.get("error") or {"code": None, "message": f"unexpected batch answer: {answer!r}"[:300]}
            e = RpcError(err.get("code"), err.get("message", ""), err.get("data"))
            return [e] * len(chunk)
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        out: list[Any] = []
        for i in ids:
            item = by_id.get(i)
            if item is None:
                out.append(RpcError(None, "no answer for this request in the batch reply"))
            elif item.get("error") is not None:
                err = item["error"]
                out.append(RpcError(err.get("code"), err.get("message", ""), err.get("data")))
            else:
                out.append(item.get("result"))
        return out

    def _post(self, body: str) -> Any:
        order = self.urls[self._preferred:] + self.urls[:self._preferred]
        failures: list[str] = []
        for url in order:
            try:
                answer = self._post_one(url, body)
            except _Transient as exc:
                failures.append(f"{url}: {exc}")
                continue
            self._preferred = self.urls.index(url)
            return answer
        raise RetryableChainError(
            f"node unreachable after {self.retries} attempt(s) per URL; tried {', '.join(order)} "
            f"({'; '.join(failures)})",
            details={"urls": order, "failures": failures},
        )

    def _post_one(self, url: str, body: str) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=self.backoff, max=1.0),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send(url, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, url: str, body: str) -> Any:
        self.http_requests += 1
        try:
            resp = self._session.post(url, data=body, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(type(exc).__name__) from None
        except requests.RequestException as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        try:
            answer = resp.json()
        except ValueError:
            raise _Transient(f"HTTP {resp.status_code}, body is not JSON") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            # some nodes send a JSON-RPC error with a 5xx; only retry when it is not one
            if not (isinstance(answer, (list, dict)) and _is_rpc_answer(answer)):
                raise _Transient(f"HTTP {resp.status_code}")
        return answer


def _is_rpc_answer(answer: Any) -> bool:
    if isinstance(answer, list):
        return bool(answer) and all(isinstance(a, dict) and "jsonrpc" in a for a in answer)
    return isinstance(answer, dict) and "jsonrpc" in answer and ("result" in answer or "error" in answer)
