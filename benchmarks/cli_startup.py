"""Start-up time of the commands a specialist types all day, against `python -c pass`, in one run.

Targets (issue 22): on SQLite `case list`, `case show ID` (a case with a plan, approvals and audit
rows), `queue list`, `addresses list`, `prices list`, `networks` and `policy show` <= 0.30 s each,
on PostgreSQL <= 0.45 s; `recover --help` <= 0.15 s.  The database is a real one: the demo's
completed case in a temporary SQLite file (the demo runs once first, in process), and with `--pg
URL` the same rows copied into a fresh PostgreSQL database on that server.

Run by hand: `.venv/bin/python benchmarks/cli_startup.py [--runs N] [--pg postgresql://...]`.
Prints best-of-N and median wall times and the best CPU time (user + system of the command's
process, from `wait4`: less sensitive to other work on the machine than wall time); the machine
should be otherwise idle.  Each command runs once untimed first, so that its bytecode and the read
path's network cache exist, as they do for someone who types it all day.
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


def best(cmd: list[str], runs: int, env: dict) -> tuple[float, float, float]:
    """Best and median wall time, and best CPU time (user + system of the process), of ``runs`` runs."""
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)  # warm
    times, cpu = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - t0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} failed")
        cpu.append(usage.ru_utime + usage.ru_stime)
    return min(times), statistics.median(times), min(cpu)


def copy_to_postgres(sqlite_url: str, server: str) -> str:
    """A fresh PostgreSQL database on ``server`` holding the rows of ``sqlite_url`` (same schema)."""
    import uuid

    import sqlalchemy as sa

    from recover.storage.db import get_engine, upgrade_to_head
    from recover.storage.models import SQLModel

    admin = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"recover_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = server.rsplit("/", 1)[0] + "/" + name
    upgrade_to_head(url)
    source, target = get_engine(sqlite_url), get_engine(url)
    with source.connect() as src, target.begin() as dst:
        for table in SQLModel.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
            if rows:
                dst.execute(table.insert(), rows)
    return url


def drop_postgres(url: str) -> None:
    import sqlalchemy as sa

    from recover.storage.db import dispose_engines

    dispose_engines()
    server, name = url.rsplit("/", 1)
    admin = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1) + "/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def demo_database(folder: Path) -> tuple[str, dict]:
    """The demo's flow, kept: its database (one completed case) and the environment to read it."""
    import recover.services.demo as demo
    from chains.evm import devchain
    from chains.evm.devchain import DevChain
    from chains.evm.keys import derive_evm_account
    from recover.networks.chainio import use_adapter_factory
    from recover.networks.registry import get_network

    use_adapter_factory(devchain.adapter_for)
    with demo._env(RECOVER_SEED=demo.DEMO_SEED, RECOVER_KEY_PASSPHRASE=demo.DEMO_PASSPHRASE, RECOVER_TRUST_ROOT="",
                   RECOVER_OPERATOR_KEY=""):
        demo._run(get_network(demo.NETWORK), folder, DevChain(), derive_evm_account, lambda _: None)
    env = {**os.environ, "RECOVER_DB_URL": f"sqlite:///{folder / 'demo.db'}",
           "RECOVER_TRUST_ROOT": str(folder / "trust-root.json")}
    return env["RECOVER_DB_URL"], env


READS = (["case", "list"], ["case", "show", "1"], ["queue", "list"], ["addresses", "list"], ["prices", "list"],
         ["networks"], ["policy", "show"])


def report(label: str, low: float, med: float, cpu: float, target: float | None = None) -> None:
    verdict = "" if target is None else f"  (target {target * 1000:.0f} ms: {'OK' if low <= target else 'OVER'})"
    print(f"{label:28} best {low * 1000:7.1f} ms  median {med * 1000:7.1f} ms  cpu {cpu * 1000:7.1f} ms{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pg", default=None, help="a PostgreSQL server URL (postgresql://user@host:port/db): the "
                                                    "reads again on a copy of the demo's database there")
    args = parser.parse_args()
    recover = str(Path(sys.executable).with_name("recover"))
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        sqlite_url, env = demo_database(Path(tmp))
        env = {**env, "RECOVER_CACHE_DIR": str(Path(tmp) / "cache")}
        report("python -c pass", *best([sys.executable, "-c", "pass"], args.runs, env))
        report("recover --help", *best([recover, "--help"], args.runs, env), 0.15)
        for cmd in READS:
            report("recover " + " ".join(cmd), *best([recover, *cmd], args.runs, env), 0.30)
        if args.pg:
            url = copy_to_postgres(sqlite_url, args.pg)
            try:
                pg_env = {**env, "RECOVER_DB_URL": url}
                for cmd in READS:
                    report("(pg) recover " + " ".join(cmd), *best([recover, *cmd], args.runs, pg_env), 0.45)
            finally:
                drop_postgres(url)


if __name__ == "__main__":
    main()
