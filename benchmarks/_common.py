"""Shared set-up for the benchmarks: paths, a raw batched JSON-RPC call, a migrated case database.

The benchmarks reuse the tests' real parts (``tests/support/evm_devnet.py`` for anvil and the compiled
tokens, ``tests/support/team.py`` for the enrolled operators, ``tests/conftest.py`` for throw-away
PostgreSQL databases) so that what is measured is set up exactly as the tests set it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "tests" / "support"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

PG_URL = os.environ.get("RECOVER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def rpc_batch(session, url: str, calls: list[tuple[str, list]], timeout: float = 120) -> list:
    """One JSON array of calls over ``requests``; the results in order (an error answer raises)."""
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answer = session.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"},
                          timeout=timeout).json()
    if not isinstance(answer, list):  # the node refused the whole request (too big, ...)
        raise RuntimeError(f"the node answered a batch of {len(calls)} with {str(answer)[:300]}")
    by_id = {a["id"]: a for a in answer}
    out = []
    for i in range(len(calls)):
        item = by_id[i]
        if item.get("error"):
            raise RuntimeError(f"{calls[i][0]}: {item['error']}")
        out.append(item["result"])
    return out


def team_env() -> dict[str, str]:
    """The tests' team (trust root, specialist key, passphrase) in this process's environment."""
    import team

    values = team.env()
    os.environ.update(values)
    os.environ.pop("RECOVER_CONFIG_DIR", None)
    return values


@contextlib.contextmanager
def case_database(backend: str):
    """A migrated case database with the team's operators enrolled: ``sqlite`` or ``postgresql``."""
    import team
    from recover.storage.db import dispose_engines, upgrade_to_head

    team_env()
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-db-") as tmp:
            url = f"sqlite:///{tmp}/cases.db"
            upgrade_to_head(url)
            team.enroll(url)
            try:
                yield url
            finally:
                dispose_engines()
        return
    from pgdb import create_pg_database, drop_pg_database

    url = create_pg_database()
    try:
        upgrade_to_head(url)
        team.enroll(url)
        yield url
    finally:
        drop_pg_database(url)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB: Linux's VmHWM, which starts afresh at
    exec (ru_maxrss does not: a child forked from a big parent would report the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
