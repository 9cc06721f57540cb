"""Time `recover --help` against `python -c pass`, in one run (target: <= 2x + 0.2 s).

Run by hand: `.venv/bin/python benchmarks/cli_startup.py`.  Prints best-of-N wall times.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15


def best(cmd: list[str]) -> tuple[float, float]:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    recover = str(Path(sys.executable).with_name("recover"))
    base_min, base_med = best([sys.executable, "-c", "pass"])
    help_min, help_med = best([recover, "--help"])
    target = 2 * base_min + 0.2
    print(f"python -c pass : best {base_min * 1000:7.1f} ms  median {base_med * 1000:7.1f} ms")
    print(f"recover --help : best {help_min * 1000:7.1f} ms  median {help_med * 1000:7.1f} ms")
    print(f"target (2x + 200 ms): {target * 1000:.1f} ms -> {'OK' if help_min <= target else 'OVER'}")


if __name__ == "__main__":
    main()
