"""The Horizon client of a Stellar network: ``rpc_urls`` in order, retries with tenacity and failover (as
:class:`chains.cosmos.rest.RestClient` does for Cosmos REST), errors classified by meaning.

* Horizon answers JSON: a resource, or a problem document (RFC 7807: ``type``, ``title``, ``status``,
  ``detail``, ``extras``) with HTTP 4xx.  A problem is :class:`HorizonProblem` (permanent: never retried;
  404 is ``not_found``; a refused submission carries ``extras.result_codes``).
* Transport failures (connection refused/reset, timeouts, HTTP 5xx/429, a body that is not JSON) are
  retried, then the next URL is tried; when every URL failed, ``RetryableChainError`` (exit 8).
  HTTP 401/403 is a configuration error naming the setting.
* Messages show URLs redacted (:func:`chains.transport.redact_url`).
"""

from __future__ import annotations

import threading
from typing import Any, Sequence
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chains.errors import ChainError, NetworkConfigError, RetryableChainError
from chains.transport import redact_url


class HorizonProblem(ChainError):
    """A problem document Horizon answered with (HTTP 4xx), kept whole for the caller to classify."""

    def __init__(self, status: int, problem: dict, path: str):
        self.status, self.problem, self.path = status, problem, path.split("?")[0]
        self.result_codes = ((problem.get("extras") or {}).get("result_codes") or {})
        super().__init__(f"{self.path}: HTTP {status} {problem.get('title') or ''}: {problem.get('detail') or ''} "
                         f"{self.result_codes or ''}".rstrip(), code="node_refused",
                         details={"path": self.path, "status": status, "result_codes": self.result_codes})

    @property
    def not_found(self) -> bool:
        return self.status == 404


class _Transient(RetryableChainError):
    """A transport failure worth retrying (internal)."""


def _check_url(url: str, network: str, setting: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        ok = False
    if not ok:
        raise NetworkConfigError(f"{network or 'network'}: {setting} {redact_url(url)!r} is not an http(s)://host URL",
                                 code="bad_rpc_url", details={"network": network, "key": setting})


class HorizonClient:
    """GET / POST (form-encoded, as Horizon's ``/transactions`` takes ``tx=``) with retries and failover."""

    def __init__(self, urls: Sequence[str], *, network: str = "", setting: str = "rpc_urls", timeout: float = 15,
                 retries: int = 3, backoff: float = 0.05):
        urls = [u.rstrip("/") for u in urls if u]
        if not urls:
            raise NetworkConfigError(f"{network or 'network'}: {setting} is empty", code="bad_rpc_url",
                                     details={"network": network, "key": setting})
        for i, u in enumerate(urls):
            _check_url(u, network, f"{setting}[{i}]")
        self.urls, self.network, self.setting = urls, network, setting
        self.timeout, self.retries, self.backoff = timeout, max(1, retries), backoff
        self._preferred = 0
        self._local = threading.local()

    def get(self, path: str, params: dict | None = None) -> Any:
        """The JSON answer of ``GET path``; a problem answer raises :class:`HorizonProblem`."""
        return self._request("GET", path, params=params)

    def get_or_none(self, path: str, params: dict | None = None) -> Any:
        """Like :meth:`get`, with 404 as None (an unknown transaction or account)."""
        try:
            return self.get(path, params)
        except HorizonProblem as exc:
            if exc.not_found:
                return None
            raise

    def post_form(self, path: str, form: dict) -> Any:
        return self._request("POST", path, data=form)

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _request(self, method: str, path: str, **kw) -> Any:
        order = self.urls[self._preferred:] + self.urls[:self._preferred]
        failures: list[str] = []
        for url in order:
            retrying = Retrying(stop=stop_after_attempt(self.retries), wait=wait_exponential(multiplier=self.backoff,
                                max=1.0), retry=retry_if_exception_type(_Transient), reraise=True)
            try:
                for attempt in retrying:
                    with attempt:
                        answer = self._send(url, method, path, **kw)
            except _Transient as exc:
                failures.append(f"{redact_url(url)}: {exc}")
                continue
            self._preferred = self.urls.index(url)
            if isinstance(answer, HorizonProblem):
                raise answer
            return answer
        shown = [redact_url(u) for u in order]
        raise RetryableChainError(
            f"{self.network + ': ' if self.network else ''}Horizon unreachable after {self.retries} attempt"
            f"{'' if self.retries == 1 else 's'} per URL; tried {', '.join(shown)} ({'; '.join(failures)})",
            details={"network": self.network, "urls": shown, "failures": failures})

    def _send(self, url: str, method: str, path: str, *, params=None, data=None) -> Any:
        try:
            resp = self._session.request(method, url + path, params=params, data=data, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        if resp.status_code in (401, 403):
            raise NetworkConfigError(
                f"{self.network}: Horizon at {redact_url(url)} refused the credentials (HTTP {resp.status_code}): "
                f"check {self.setting}", code="rpc_unauthorized",
                details={"network": self.network, "key": self.setting, "http_status": resp.status_code})
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Transient(f"HTTP {resp.status_code}")
        try:
            answer = resp.json()
        except ValueError:
            raise _Transient(f"HTTP {resp.status_code}, body is not JSON") from None
        if resp.status_code >= 400:
            return HorizonProblem(resp.status_code, answer if isinstance(answer, dict) else {}, path)
        return answer
