"""What every devnet helper needs to run a node process: a free loopback port, no orphaned node when
the test process dies, and (Bitcoin family) exact coin <-> base-unit conversion."""

from __future__ import annotations

import signal
import socket
from decimal import Decimal
from typing import Any

COIN = 10**8


class NodeRPCError(RuntimeError):
    """A JSON-RPC error answer from a node."""

    def __init__(self, method: str, code: int | None, message: str):
        super().__init__(f"{method}: RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message


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
