"""Issue 23, "Done when": a newcomer following docs/desk.md alone reaches `completed` on anvil.

The page's shell blocks are run as written, in order, in one bash process, in a temporary folder,
against a real anvil that the page itself starts.  Only the install line (`make venv node`) is left
out: this test already runs inside the installed environment.  The page reads its paths from
variables it documents (``RECOVER_REPO``, ``RECOVER_VENV``, ``ANVIL_BIN``, ``ANVIL_PORT``, ``DESK``):
the test sets them to this checkout, this interpreter's environment, the anvil of ``npm ci``, a free
port and the temporary folder.  Then it checks the case and the token balances on chain, exactly.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evm_devnet import ANVIL_BIN
from nodeproc import free_port
from paths import REPO

DESK_MD = REPO / "docs" / "desk.md"
INSTALL = "make venv node"
FEE_COLLECTOR = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # chain_configs/anvil.toml

pytestmark = pytest.mark.node


def shell_blocks(text: str) -> list[str]:
    """The ```sh blocks of a Markdown page, in order."""
    return [m.group(1) for m in re.finditer(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)]


def script_of(text: str) -> str:
    """The page's commands as one bash script, without the install line."""
    blocks = shell_blocks(text)
    lines = [line for block in blocks for line in block.splitlines() if line.strip() != INSTALL]
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


def test_the_page_has_its_steps_in_shell_blocks():
    blocks = shell_blocks(DESK_MD.read_text())
    assert blocks[0].strip() == INSTALL  # the only line the test leaves out
    script = script_of(DESK_MD.read_text())
    for step in ("trust init", "operators keygen", "operators enroll", "recover init", "addresses import",
                 "chain.py fund", "case open", "case verify", "case quote", "case prepare", "queue approve",
                 "case sign", "case broadcast", "case track"):
        assert step in script, step
    assert script.index("chain.py fund") < script.index("case prepare")  # the gas station is funded first


def _env(tmp_path: Path) -> dict[str, str]:
    # the page sets every RECOVER_* it needs: none of the test process's own (the test team's) leak in
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOVER_") and k != "ANVIL_URL"}
    env.update(RECOVER_REPO=str(REPO), RECOVER_VENV=sys.prefix, ANVIL_BIN=str(ANVIL_BIN),
               ANVIL_PORT=str(free_port()), DESK=str(tmp_path / "desk"), HOME=str(tmp_path),
               RECOVER_CACHE_DIR=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    return env


def _stop_anvil(desk: Path) -> None:
    """The page stops its anvil at the end; stop it here too when the page failed half-way."""
    pid_file = desk / "anvil.pid"
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


def test_a_newcomer_reaches_completed_on_anvil(tmp_path):
    script = script_of(DESK_MD.read_text())
    env = _env(tmp_path)
    desk = Path(env["DESK"])
    try:
        r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL)
    finally:
        _stop_anvil(desk)
    assert r.returncode == 0, f"exit {r.returncode}\n--- stdout\n{r.stdout[-6000:]}\n--- stderr\n{r.stderr[-6000:]}"

    # what the page printed last: the balances on chain (base units of the 6-decimal token)
    said = dict(re.findall(r"^(user|fee collector|deposit address): (\d+)$", r.stdout, flags=re.M))
    balances = {k: int(v) for k, v in said.items()}
    assert set(balances) == {"user", "fee collector", "deposit address"}, r.stdout[-3000:]

    show = subprocess.run([str(Path(sys.prefix) / "bin" / "recover"), "case", "show", "1", "--json"],
                          cwd=desk, env={**env, "RECOVER_DB_URL": f"sqlite:///{desk / 'recover.db'}",
                                         "RECOVER_TRUST_ROOT": str(desk / "trust" / "trust-root.json")},
                          capture_output=True, text=True, timeout=120)
    assert show.returncode == 0, show.stderr
    case = json.loads(show.stdout)
    assert case["status"] == "completed"
    assert case["classification"] == "unlisted_token"
    assert [t["status"] for t in case["transactions"]] == ["confirmed"] * 3
    assert [a["approver"] for a in case["approvals"]["so_far"]] == ["ana", "ben"]
    quote = case["quote"]
    assert int(quote["gross"]) == 2_500 * 10**6
    assert int(quote["fee"]) == 125 * 10**6  # the default 5 % of 2,500 USD at 1 USD per token
    assert balances["user"] == int(quote["net"])
    assert balances["fee collector"] == int(quote["fee"]) + int(quote["network_cost_in_asset"])
    assert balances["deposit address"] == 0
    assert balances["user"] + balances["fee collector"] == 2_500 * 10**6
    assert case["destination"]["return_address"] == case["facts"][0]["sender"]
    assert FEE_COLLECTOR in DESK_MD.read_text()
    assert "intact" in r.stderr  # audit verify
