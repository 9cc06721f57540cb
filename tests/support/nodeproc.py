"""What every devnet helper needs to run a node process: a free loopback port, no orphaned node when
the test process dies, the one JSON-RPC call of the tests (:func:`json_rpc`), and (Bitcoin family)
exact coin <-> base-unit conversion."""

from __future__ import annotations

import base64
import json
import signal
import socket
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any, Sequence

COIN = 10**8


class NodeRPCError(RuntimeError):
    """A JSON-RPC error answer from a node."""

    def __init__(self, method: str, code: int | None, message: str):
        super().__init__(f"{method}: RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message


def json_rpc(url: str, method: str, params: Sequence[Any] | dict | None = None, *,
             auth: tuple[str, str] | None = None, timeout: float = 60.0, version: str = "2.0") -> Any:
    """One JSON-RPC call (numbers that are not integers parse as ``Decimal``); an error answer raises
    :class:`NodeRPCError` (bitcoind sends those with HTTP 500), transport failures raise ``OSError``."""
    body = json.dumps({"jsonrpc": version, "id": 1, "method": method,
                       "params": params if isinstance(params, dict) else list(params or [])}, default=str).encode()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read(), parse_float=Decimal)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            answer = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise NodeRPCError(method, exc.code, raw.decode(errors="replace")[:300]) from None
    if not isinstance(answer, dict):
        raise NodeRPCError(method, None, f"unexpected answer {str(answer)[:200]}")
    if answer.get("error"):
        err = answer["error"]
        raise NodeRPCError(method, err.get("code"), err.get("message", ""))
    return answer.get("result")


def terminate(process, *, grace: float = 15.0) -> None:
    """Stop a node process by its PID: SIGTERM, wait ``grace`` seconds, then SIGKILL (a node that
    ignores SIGTERM must not outlive the test).  Nothing when it has already ended."""
    import signal
    import subprocess

    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the node if the Python process that started it dies (no orphans)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def to_base_units(value: Any) -> int:
    """A coin amount as the node prints it (Decimal or its text) -> base units, exactly."""
    d = Decimal(str(value)) * COIN
    if d != d.to_integral_value():
        raise ValueError(f"{value} has more than 8 decimals")
    return int(d)


def to_coins(base_units: int) -> str:
    """Base units -> the decimal text the node's RPC takes (``"0.12345678"``)."""
    return f"{Decimal(base_units) / COIN:.8f}"
