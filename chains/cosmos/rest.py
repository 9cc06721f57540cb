"""The REST (LCD, gRPC-gateway) client of a Cosmos network: ``rpc_urls`` in order, retries with tenacity and
failover as :class:`chains.transport.JsonRpcClient` does for JSON-RPC, errors classified by meaning.

* A node's *answer* is JSON: a result, or a gRPC status ``{"code", "message", "details"}`` (with HTTP
  400/404/500).  A status is :class:`RestError` (permanent: never retried); :func:`classify` turns it
  into the :class:`~chains.errors.ChainError` it means (gRPC 5 NotFound: ``not_found``; 3
  InvalidArgument: ``invalid_request``; others: a node refusal).
* Transport failures (connection refused/reset, timeouts, HTTP 5xx/429 without a status body, a body
  that is not JSON) are retried, then the next URL is tried; when every URL failed,
  ``RetryableChainError`` (exit 8).  HTTP 401/403 is a configuration error naming the setting.
* Every message shows URLs redacted (:func:`chains.transport.redact_url`).
"""

from __future__ import annotations

from typing import Any

import requests

from chains.errors import ChainError, InvalidRequest, NetworkConfigError, NodeRefused, NotFoundOnChain
from chains.transport import HttpFailover, TransientFailure, redact_url

GRPC_NOT_FOUND = 5
GRPC_INVALID_ARGUMENT = 3


class RestError(ChainError):
    """A gRPC status the node answered with (``code`` 5: not found...), before :func:`classify` says
    what it means; callers that read ``not_found`` catch it, the others get it classified."""

    def __init__(self, code: int | None, message: str, path: str, http_status: int):
        super().__init__(f"{path.split('?')[0]}: gRPC status {code}: {message}", code="node_refused",
                         details={"path": path.split("?")[0], "grpc_code": code})
        self.grpc_code = code
        self.node_message = message or ""
        self.path = path
        self.http_status = http_status

    @property
    def not_found(self) -> bool:
        return self.grpc_code == GRPC_NOT_FOUND or (self.grpc_code is None and self.http_status == 404)


def classify(err: RestError, *, network: str = "") -> ChainError:
    """The :class:`ChainError` a status answer means (none is retried)."""
    where = f"{network}: " if network else ""
    details = {"path": err.path.split("?")[0], "grpc_code": err.grpc_code}
    if err.not_found:
        return NotFoundOnChain(f"{where}{err.node_message}", details=details)
    if err.grpc_code == GRPC_INVALID_ARGUMENT:
        return InvalidRequest(f"{where}the node refused the parameters of {details['path']}: {err.node_message}",
                              details=details)
    return NodeRefused(f"{where}the node refused {details['path']}: {err.node_message}", details=details)


class RestClient(HttpFailover):
    """GET/POST JSON to the REST API of one network, with retries and failover (:class:`HttpFailover`)."""

    def get(self, path: str, params: dict | None = None, headers: dict | None = None) -> Any:
        """The JSON answer of ``GET path``; a status answer raises :class:`RestError`."""
        return self._request("GET", path, params=params, headers=headers)

    def post(self, path: str, body: dict) -> Any:
        return self._request("POST", path, json_body=body)

    def get_or_raise(self, path: str, params: dict | None = None) -> Any:
        """Like :meth:`get`, with a status answer already classified (:func:`classify`)."""
        try:
            return self.get(path, params)
        except RestError as err:
            raise classify(err, network=self.network) from None

    # -- internals ------------------------------------------------------------------------------
    def _send(self, url: str, method: str, path: str, *, params=None, headers=None, json_body=None) -> Any:
        try:
            resp = self._session.request(method, url + path, params=params, headers=headers, json=json_body,
                                         timeout=self.timeout)
        except requests.exceptions.InvalidURL:
            raise NetworkConfigError(f"{self.network}: {self.setting} {redact_url(url)!r} is not a usable URL",
                                     code="bad_rpc_url", details={"network": self.network, "key": self.setting}) from None
        except requests.RequestException as exc:
            raise TransientFailure(type(exc).__name__) from None
        if resp.status_code in (401, 403):
            raise NetworkConfigError(
                f"{self.network}: the node at {redact_url(url)} refused the credentials (HTTP {resp.status_code}): "
                f"check the user, password or API key in {self.setting}", code="rpc_unauthorized",
                details={"network": self.network, "key": self.setting, "http_status": resp.status_code})
        try:
            answer = resp.json()
        except ValueError:
            raise TransientFailure(f"HTTP {resp.status_code}, body is not JSON") from None
        if resp.status_code >= 400:
            if isinstance(answer, dict) and "message" in answer and ("code" in answer or resp.status_code == 404):
                code = answer.get("code")
                return RestError(int(code) if isinstance(code, (int, str)) and str(code).isdigit() else None,
                                 str(answer.get("message") or ""), path, resp.status_code)
            raise TransientFailure(f"HTTP {resp.status_code}")
        return answer
