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

from typing import Any

import requests

from chains.errors import ChainError, NetworkConfigError
from chains.transport import HttpFailover, TransientFailure, redact_url


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


class HorizonClient(HttpFailover):
    """GET / POST (form-encoded, as Horizon's ``/transactions`` takes ``tx=``) with retries and failover
    (:class:`HttpFailover`)."""

    what = "Horizon"

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

    def _send(self, url: str, method: str, path: str, *, params=None, data=None) -> Any:
        try:
            resp = self._session.request(method, url + path, params=params, data=data, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise TransientFailure(type(exc).__name__) from None
        if resp.status_code in (401, 403):
            raise NetworkConfigError(
                f"{self.network}: Horizon at {redact_url(url)} refused the credentials (HTTP {resp.status_code}): "
                f"check {self.setting}", code="rpc_unauthorized",
                details={"network": self.network, "key": self.setting, "http_status": resp.status_code})
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TransientFailure(f"HTTP {resp.status_code}")
        try:
            answer = resp.json()
        except ValueError:
            raise TransientFailure(f"HTTP {resp.status_code}, body is not JSON") from None
        if resp.status_code >= 400:
            return HorizonProblem(resp.status_code, answer if isinstance(answer, dict) else {}, path)
        return answer
