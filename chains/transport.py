"""The one JSON-RPC-over-HTTP client every family uses: batching, retries, failover, and errors
classified by what they mean.

* :meth:`JsonRpcClient.call` returns a result or raises :class:`RpcError` (the node *answered* with
  a JSON-RPC error object: permanent, never retried).  :meth:`JsonRpcClient.batch` sends one HTTP
  POST per chunk (a JSON array) and returns, in request order, each result or an :class:`RpcError`
  *value* (nodes that take no batches get one POST per call: ``batching=False``).
* Transport failures (connection refused/reset, timeouts, HTTP 5xx/429 without a JSON-RPC answer, a
  body that is not JSON) are retried with tenacity (exponential backoff, a few attempts), then the
  next URL of ``rpc_urls`` is tried; when every URL failed, :class:`RetryableChainError` (exit 8).
* HTTP 401/403 (the node refused the credentials) and a URL that is not ``http(s)://host``
  are configuration errors (:class:`NetworkConfigError`, exit 4) naming the network and the setting.
* Every message shows URLs with their user, password and API-key-looking parts replaced by ``***``
  (:func:`redact_url`): no credential a URL carries is ever printed, logged or stored.
* :func:`classify` turns an :class:`RpcError` into the :class:`ChainError` its meaning calls for
  (invalid parameters: exit 4; execution reverted: exit 6 with the revert data; unknown
  transaction or block: ``not_found``; anything else: a permanent node refusal).

Amounts: ``parse_float=Decimal`` (bitcoind-style nodes print coins as JSON numbers) keeps them exact.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chains.errors import (
    ChainError,
    ExecutionReverted,
    InvalidRequest,
    NetworkConfigError,
    NodeRefused,
    NotFoundOnChain,
    RetryableChainError,
)

__all__ = ["HttpFailover", "JsonRpcClient", "RpcError", "TransientFailure", "check_url", "classify", "reads_node",
           "redact_url", "redact_text"]

# a path or query part that looks like an API key (Infura/Alchemy/QuickNode style): long and random
_KEYLIKE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9_\-]{20,}(?![A-Za-z0-9])")
_SECRET_QUERY = re.compile(r"(?i)((?:api[_-]?key|key|token|secret|auth|password|access[_-]?token)=)[^&#]*")


def redact_url(url: str) -> str:
    """``url`` with user and password, API-key-like path segments and secret query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:  # a malformed port: show none of it
        port = None
    if port:
        host = f"{host}:{port}"
    netloc = f"***@{host}" if (parts.username or parts.password) else host
    path = _KEYLIKE.sub("***", parts.path)
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    query = _KEYLIKE.sub("***", query)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_text(text: str, urls: Sequence[str]) -> str:
    """``text`` with every one of ``urls`` (and its credentials) replaced by its redacted form."""
    for u in sorted(urls, key=len, reverse=True):
        if not u:
            continue
        text = text.replace(u, redact_url(u))
        parts = urlsplit(u) if "://" in u else None
        if parts is not None:
            for secret in (parts.password, parts.username):
                if secret and len(secret) >= 4:
                    text = text.replace(secret, "***")
    return text


class RpcError(Exception):
    """A JSON-RPC error object returned by the node (permanent: the node answered)."""

    def __init__(self, code: int | None, message: str, data: Any = None, method: str | None = None):
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message or ""
        self.data = data
        self.method = method

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


_INVALID_PARAMS = (-32602, -32600, -32700, -8, -3)  # JSON-RPC invalid params/request/parse; bitcoind -8/-3
_NOT_FOUND_WORDS = ("not found", "no such", "unknown block", "unknown transaction", "does not exist")


def classify(err: RpcError, *, method: str | None = None, network: str = "") -> ChainError:
    """The :class:`ChainError` an error *answer* means (none of them is retried)."""
    what = method or err.method or "request"
    where = f"{network}: " if network else ""
    msg = err.message or ""
    low = msg.lower()
    details = {"method": what, "rpc_code": err.code}
    if err.revert_data is not None or "revert" in low:
        return ExecutionReverted(f"{where}{what} reverted: {msg}", details={**details, "data": err.revert_data})
    if err.code in (-5,) or any(w in low for w in _NOT_FOUND_WORDS):
        return NotFoundOnChain(f"{where}{what}: {msg}", details=details)
    if err.code in _INVALID_PARAMS or "invalid" in low:
        return InvalidRequest(f"{where}the node refused the parameters of {what}: {msg}", details=details)
    return NodeRefused(f"{where}the node refused {what}: {msg}", details=details)


class _Transient(Exception):
    """A transport failure worth retrying (internal)."""


def check_url(url: str, network: str, setting: str) -> None:
    """An ``http(s)://host`` URL, else a configuration error naming the setting (every client's rule)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        ok = False
    if not ok:
        raise NetworkConfigError(
            f"{network or 'network'}: {setting} {redact_url(url)!r} is not an http(s)://host URL",
            code="bad_rpc_url", details={"network": network, "key": setting})


class JsonRpcClient:
    """JSON-RPC 2.0 over HTTP(S) to the URLs of one network, in order, with retries and failover.

    ``send`` replaces the HTTP layer (``send(body_text) -> parsed answer``): an in-process node such
    as the demo's eth-tester provider plugs in there, and the adapters above never know.
    """

    def __init__(self, urls: Sequence[str], *, network: str = "", setting: str = "rpc_urls",
                 timeout: float = 10, retries: int = 3, backoff: float = 0.05, max_workers: int = 4,
                 chunk_size: int = 500, parse_float: Callable[[str], Any] | None = None,
                 batching: bool = True, send: Callable[[str], Any] | None = None):
        urls = [u for u in urls if u]
        if not urls:
            raise NetworkConfigError(f"{network or 'network'}: {setting} is empty", code="bad_rpc_url",
                                     details={"network": network, "key": setting})
        if send is None:
            for i, u in enumerate(urls):
                check_url(u, network, f"{setting}[{i}]")
        self.urls = list(urls)
        self.network = network
        self.setting = setting
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.max_workers = max(1, max_workers)
        self.chunk_size = max(1, chunk_size)
        self.parse_float = parse_float
        self.batching = batching
        self._send_fn = send
        self._preferred = 0
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self.http_requests = 0  # number of POSTs sent (tests, benchmarks)

    # -- public ----------------------------------------------------------------------------------
    def call(self, method: str, params: Sequence[Any] | dict | None = None) -> Any:
        result = self.batch([(method, params)])[0]
        if isinstance(result, RpcError):
            raise result
        return result

    def call_or_raise(self, method: str, params: Sequence[Any] | dict | None = None) -> Any:
        """Like :meth:`call`, with an error answer already classified (:func:`classify`)."""
        try:
            return self.call(method, params)
        except RpcError as err:
            raise classify(err, method=method, network=self.network) from None

    def batch(self, calls: Sequence[tuple[str, Sequence[Any] | dict | None]]) -> list[Any]:
        """Results (or :class:`RpcError` values) in the order of ``calls``."""
        calls = [(m, p if isinstance(p, dict) else list(p or [])) for m, p in calls]
        if not calls:
            return []
        size = self.chunk_size if self.batching else 1
        chunks = [calls[i:i + size] for i in range(0, len(calls), size)]
        if len(chunks) == 1 or self.max_workers == 1:
            parts = [self._post_chunk(c) for c in chunks]
        else:
            if self._pool is None:  # kept: its threads keep their HTTP connections alive
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="rpc")
            parts = list(self._pool.map(self._post_chunk, chunks))
        return [r for part in parts for r in part]

    def redact(self, text: str) -> str:
        return redact_text(text, self.urls)

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

    def _post_chunk(self, chunk: list[tuple[str, Any]]) -> list[Any]:
        ids = [next(self._ids) for _ in chunk]
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, chunk)]
        single = not self.batching and len(body) == 1
        answer = self._post(json.dumps(body[0] if single else body))
        if single and isinstance(answer, dict) and answer.get("id") == ids[0]:
            answer = [answer]
        if isinstance(answer, dict):  # a node that refuses the whole batch answers one error object
            err = answer.get("error") or {"code": None, "message": f"unexpected batch answer: {answer!r}"[:300]}
            return [RpcError(err.get("code"), err.get("message", ""), err.get("data"), m) for m, _ in chunk]
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        out: list[Any] = []
        for i, (m, _) in zip(ids, chunk):
            item = by_id.get(i)
            if item is None:
                out.append(RpcError(None, "no answer for this request in the batch reply", None, m))
            elif item.get("error") is not None:
                err = item["error"]
                if not isinstance(err, dict):
                    err = {"code": None, "message": str(err)}
                out.append(RpcError(err.get("code"), err.get("message", ""), err.get("data"), m))
            else:
                out.append(item.get("result"))
        return out

    def _post(self, body: str) -> Any:
        if self._send_fn is not None:
            return self._send_fn(body)
        order = self.urls[self._preferred:] + self.urls[:self._preferred]
        failures: list[str] = []
        for url in order:
            try:
                answer = self._post_one(url, body)
            except _Transient as exc:
                failures.append(f"{redact_url(url)}: {exc}")
                continue
            self._preferred = self.urls.index(url)
            return answer
        shown = [redact_url(u) for u in order]
        raise RetryableChainError(
            f"{self.network + ': ' if self.network else ''}node unreachable after {self.retries} attempt{'' if self.retries == 1 else 's'} per URL; "
            f"tried {', '.join(shown)} ({'; '.join(failures)})",
            details={"network": self.network, "urls": shown, "failures": failures},
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
        except requests.exceptions.InvalidURL:
            raise NetworkConfigError(f"{self.network}: {self.setting} {redact_url(url)!r} is not a usable URL",
                                     code="bad_rpc_url", details={"network": self.network, "key": self.setting}) from None
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        if resp.status_code in (401, 403):
            raise NetworkConfigError(
                f"{self.network}: the node at {redact_url(url)} refused the credentials (HTTP {resp.status_code}): "
                f"check the user, password or API key in {self.setting}", code="rpc_unauthorized",
                details={"network": self.network, "key": self.setting, "http_status": resp.status_code})
        try:
            answer = json.loads(resp.content, parse_float=self.parse_float) if self.parse_float \
                else resp.json()
        except ValueError:
            raise _Transient(f"HTTP {resp.status_code}, body is not JSON") from None
        if resp.status_code >= 400 and not _is_rpc_answer(answer):
            raise _Transient(f"HTTP {resp.status_code}")
        return answer


def _is_rpc_answer(answer: Any) -> bool:
    """A JSON-RPC answer (some nodes send their error objects with HTTP 500)."""
    if isinstance(answer, list):
        return bool(answer) and all(isinstance(a, dict) and ("result" in a or "error" in a) for a in answer)
    return isinstance(answer, dict) and ("result" in answer or "error" in answer)



class TransientFailure(RetryableChainError):
    """A transport failure worth retrying (a REST client's ``_send`` raises it: after the retries and every
    URL, :class:`HttpFailover` raises one ``RetryableChainError`` naming them all)."""


class HttpFailover:
    """The URLs of one network's HTTP API, in order, each tried with tenacity retries, the one that
    answered tried first next time; a session per thread.  A family's REST client (Cosmos LCD, Horizon)
    subclasses it and implements ``_send(url, method, path, **kw)``: the JSON answer, or the
    ``ChainError`` a status answer means (returned, so that it is raised without retrying), raising
    :class:`TransientFailure` for what is worth retrying.  ``what`` names the server in messages."""

    what = "node"

    def __init__(self, urls: Sequence[str], *, network: str = "", setting: str = "rpc_urls", timeout: float = 15,
                 retries: int = 3, backoff: float = 0.05):
        urls = [u.rstrip("/") for u in urls if u]
        if not urls:
            raise NetworkConfigError(f"{network or 'network'}: {setting} is empty", code="bad_rpc_url",
                                     details={"network": network, "key": setting})
        for i, u in enumerate(urls):
            check_url(u, network, f"{setting}[{i}]")
        self.urls, self.network, self.setting = urls, network, setting
        self.timeout, self.retries, self.backoff = timeout, max(1, retries), backoff
        self._preferred = 0
        self._local = threading.local()
        self.http_requests = 0

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, url: str, method: str, path: str, **kw) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _request(self, method: str, path: str, **kw) -> Any:
        order = self.urls[self._preferred:] + self.urls[:self._preferred]
        failures: list[str] = []
        for url in order:
            retrying = Retrying(stop=stop_after_attempt(self.retries), wait=wait_exponential(multiplier=self.backoff,
                                max=1.0), retry=retry_if_exception_type(TransientFailure), reraise=True)
            try:
                for attempt in retrying:
                    with attempt:
                        self.http_requests += 1
                        answer = self._send(url, method, path, **kw)
            except TransientFailure as exc:
                failures.append(f"{redact_url(url)}: {exc}")
                continue
            self._preferred = self.urls.index(url)
            if isinstance(answer, ChainError):
                raise answer
            return answer
        shown = [redact_url(u) for u in order]
        raise RetryableChainError(
            f"{self.network + ': ' if self.network else ''}{self.what} unreachable after {self.retries} attempt"
            f"{'' if self.retries == 1 else 's'} per URL; tried {', '.join(shown)} ({'; '.join(failures)})",
            details={"network": self.network, "urls": shown, "failures": failures})


def reads_node(fn):
    """For adapter methods that read node answers: an answer of the wrong shape (a broken proxy, a node of
    another kind) becomes ``RetryableChainError`` ``node_answer_malformed`` instead of a
    ``KeyError``/``TypeError`` crash (a node's error answer is classified, not this)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ChainError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise RetryableChainError(f"{fn.__name__}: the node's answer is malformed ({type(exc).__name__}: "
                                      f"{str(exc)[:200]})", code="node_answer_malformed") from None
    return wrapper
