"""Start-up time of the commands a specialist types all day, against `python -c pass`, in one run.

Targets (issue 15): `recover --help` <= 2x `python -c pass` + 0.2 s; `case list`, `case show ID` and
`queue list` (commands that need no chain) <= 0.3 s each.  The database is a real one: the demo's
completed case in a temporary SQLite file (the demo runs once first, in process).

Run by hand: `.venv/bin/python benchmarks/cli_startup.py [--runs N]`.  Prints best-of-N and median
wall times; the machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def best(cmd: list[str], runs: int, env: dict) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def demo_database(folder: Path) -> tuple[str, dict]:
    """The demo's flow, kept: its database (one completed case) and the environment to read it."""
    import recover.demo as demo
    from chains.evm import devchain
    from chains.evm.devchain import DevChain
    from chains.evm.keys import derive_evm_account
    from recover.chainio import use_adapter_factory
    from recover.registry import get_network

    use_adapter_factory(devchain.adapter_for)
    with demo._env(RECOVER_SEED=demo.DEMO_SEED, RECOVER_KEY_PASSPHRASE=demo.DEMO_PASSPHRASE, RECOVER_TRUST_ROOT="",
                   RECOVER_OPERATOR_KEY=""):
        demo._run(get_network(demo.NETWORK), folder, DevChain(), derive_evm_account, lambda _: None)
    env = {**os.environ, "RECOVER_DB_URL": f"sqlite:///{folder / 'demo.db'}",
           "RECOVER_TRUST_ROOT": str(folder / "trust-root.json")}
    return env["RECOVER_DB_URL"], env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    recover = str(Path(sys.executable).with_name("recover"))
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        _, env = demo_database(Path(tmp))
        base_min, base_med = best([sys.executable, "-c", "pass"], args.runs, env)
        print(f"{'python -c pass':22} best {base_min * 1000:7.1f} ms  median {base_med * 1000:7.1f} ms")
        rows = [("recover --help", [recover, "--help"], 2 * base_min + 0.2),
                ("recover case list", [recover, "case", "list"], 0.3),
                ("recover case show 1", [recover, "case", "show", "1"], 0.3),
                ("recover queue list", [recover, "queue", "list"], 0.3)]
        for label, cmd, target in rows:
            low, med = best(cmd, args.runs, env)
            verdict = "OK" if low <= target else "OVER"
            print(f"{label:22} best {low * 1000:7.1f} ms  median {med * 1000:7.1f} ms  "
                  f"(target {target * 1000:.0f} ms: {verdict})")


if __name__ == "__main__":
    main()
