"""What ``networks check`` reports: problems (each blocking named commands, with the exit code it gives
the command) and notes, shared by the settings check (:mod:`recover.networks.netcheck`) and the node
check (:mod:`recover.networks.livecheck`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chains.errors import EXIT_INVALID, EXIT_NODE
from recover.errors import ConfigError, NodeUnreachable

NODE_COMMANDS = "verify, quote, prepare, sign, broadcast, track, scan"

NEEDED_BY = {
    "rpc_urls": NODE_COMMANDS,
    "chain_id": NODE_COMMANDS,
    "fee_collector": "quote, prepare, sign",
    "hot_wallet": "quote, prepare and sign of credit-account cases",
    "gas_station_path": "prepare and sign of token sweeps (gas top-up, fee payer)",
    "gas_station": "prepare of sweeps the gas station pays for (token gas top-ups, Solana fees), and their broadcast",
    "deposit_path_prefix": "addresses import, sign",
    "signer": "sign, and prepare where a gas station pays",
    "trust_root": "every state-changing command",
    "node_stale": "verify (confirmations), quote, prepare, broadcast, track, scan",
}


@dataclass(frozen=True)
class Problem:
    """One finding that blocks commands: the setting to fix, what is wrong, the commands it blocks
    (``needed_by``), a stable ``code`` and the exit code it gives the command."""

    setting: str
    problem: str
    needed_by: str
    code: str = "setting"
    exit_code: int = EXIT_INVALID

    def to_dict(self) -> dict:
        return {"setting": self.setting, "problem": self.problem, "needed_by": self.needed_by, "code": self.code}


@dataclass
class NetworkCheck:
    """The report: ``problems`` block commands, ``notes`` are for information; ``node`` what ``--live``
    read (None without it, or when the node could not be asked)."""

    net: object
    role: str
    live: bool
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    node: dict | None = None

    @property
    def exit_code(self) -> int:
        codes = {p.exit_code for p in self.problems}
        return EXIT_INVALID if EXIT_INVALID in codes else max(codes, default=0)

    def error(self) -> ConfigError | NodeUnreachable | None:
        """What the command fails with when something blocks (None when nothing does): the report is
        the command's output, this is its error document (DESIGN: on failure stderr carries one)."""
        if not self.problems:
            return None
        what = "; ".join(f"{p.setting}: {p.problem}" for p in self.problems)
        text = f"network {self.net.key}: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}: {what}"
        details = {"network": self.net.key, "problems": [p.to_dict() for p in self.problems]}
        return NodeUnreachable(text, details=details) if self.exit_code == EXIT_NODE else ConfigError(text, details=details)

    def to_dict(self) -> dict:
        return {"network": self.net.key, "source": self.net.source, "role": self.role, "live": self.live,
                "ok": not self.problems, "problems": [p.to_dict() for p in self.problems], "notes": self.notes,
                "node": self.node}
