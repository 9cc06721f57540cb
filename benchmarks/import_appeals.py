"""`recover case import APPEALS.csv`: lines per second of ONE CLI process, start-up included.

Run by hand: `.venv/bin/python benchmarks/import_appeals.py [--lines N] [--pg [URL]] [--again]
[--profile FILE]`.  The default 10,000 lines; `--lines 1000` for a quick look.  The machine should be
otherwise idle.  Target (issue 27): >= 500 lines/s at 10,000 lines.

Setup (not timed): a private anvil, one StandardToken, N distinct deposit addresses each receiving
one token transfer (`verify_evm.make_deposits`, 10 deposits per block), a migrated case database
with the tests' team enrolled (`_common.case_database`: SQLite in a temporary folder, or with `--pg`
a fresh database on the PostgreSQL server, dropped afterwards), the N deposit addresses registered
(one `addresses import`, as an exchange's would be), and an appeals CSV of N lines: each a real
deposit (its txid, the token, its deposit address), every other line refunded to its own return
address and the rest credited to an exchange account, each with its own `external_ref`.

Timed: one `recover case import APPEALS.csv --json --key spec.key` process (python start-up, key
opening and all), as a specialist runs it.  Checked afterwards: one result row per line, in file
order, every one `opened` with a distinct case; in the database N cases, N signed `claim`
statements and N `case_opened` audit events (each case opened once); then `recover audit verify`
(every statement's signature and both hash chains; timed and reported too).  `--again` runs the
same file a second time (every line `exists`, the database unchanged) and reports that rate as well.
`--profile FILE` runs the timed import under cProfile (slower; the rate is then not the figure).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import PG_URL, case_database  # noqa: E402  (puts the repo and tests/support on sys.path)

HEADER = ["network", "txid", "asset", "deposit_address", "return_address", "credit_account", "claimant",
          "external_ref"]
RECOVER = str(Path(sys.executable).with_name("recover"))


def register(db_url: str, workdir: Path, deposits: list[tuple[str, str, int]]) -> None:
    """The deposit addresses as the exchange's own (one admin-signed `addresses import`)."""
    import team

    import recover.api as api

    path = workdir / "addresses.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["network", "address", "derivation_path", "account"])
        for i, (_txid, addr, _amount) in enumerate(deposits):
            w.writerow(["anvil", addr, f"m/44'/60'/0'/0/{1000 + i}", f"user-{i}"])
    api.import_addresses(path, admin_keys=team.team().admin_paths, db=db_url)


def write_appeals(path: Path, token: str, deposits: list[tuple[str, str, int]]) -> None:
    from eth_utils import to_checksum_address

    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i, (txid, addr, _amount) in enumerate(deposits):
            ret = to_checksum_address("0x" + os.urandom(20).hex()) if i % 2 == 0 else ""
            account = "" if ret else f"acct-{i}"
            w.writerow(["anvil", txid, token, addr, ret, account, f"user{i}@example.com", f"APL-{i:06d}"])


def timed(cmd: list[str], env: dict) -> tuple[float, float, str, str, int]:
    """Wall and CPU (user + system of the process) seconds, stdout, stderr, exit code."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, out.read(), err.read(), proc.returncode


def counts(db_url: str) -> dict[str, int]:
    import sqlalchemy as sa

    from recover.storage.db import get_engine

    queries = {
        "cases": "SELECT count(*) FROM cases",
        "distinct_txids": "SELECT count(DISTINCT txid) FROM cases",
        "claims": "SELECT count(*) FROM statements WHERE kind = 'claim'",
        "opened_events": "SELECT count(*) FROM audit_events WHERE action = 'case_opened'",
        "jobs": "SELECT count(*) FROM jobs",
    }
    with get_engine(db_url).connect() as conn:
        return {k: int(conn.execute(sa.text(q)).scalar()) for k, q in queries.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--pg", nargs="?", const=PG_URL, default=None,
                    help=f"PostgreSQL instead of SQLite: a fresh database on this server (default {PG_URL})")
    ap.add_argument("--per-block", type=int, default=10, help="deposit transactions per block")
    ap.add_argument("--again", action="store_true", help="import the same file again (every line `exists`)")
    ap.add_argument("--profile", default=None, help="run the import under cProfile, writing FILE")
    args = ap.parse_args()
    n = args.lines
    if args.pg:
        os.environ["RECOVER_TEST_PG_URL"] = args.pg

    import team
    from evm_devnet import start_anvil
    from verify_evm import make_deposits

    node = start_anvil(31337)
    os.environ["ANVIL_URL"] = node.url
    try:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp, \
                case_database("postgresql" if args.pg else "sqlite") as db_url:
            work = Path(tmp)
            t0 = time.perf_counter()
            token, deposits = make_deposits(node, n, args.per_block)
            t1 = time.perf_counter()
            register(db_url, work, deposits)
            appeals = work / "appeals.csv"
            write_appeals(appeals, token, deposits)
            t2 = time.perf_counter()
            print(f"setup: {n} ERC-20 deposits on anvil in {t1 - t0:.1f} s, {n} addresses registered and the "
                  f"appeals file in {t2 - t1:.1f} s ({'PostgreSQL' if args.pg else 'SQLite'})")

            env = {**os.environ, **team.env(), "RECOVER_DB_URL": db_url}
            cli = [RECOVER] if not args.profile else [sys.executable, "-m", "cProfile", "-o", args.profile, RECOVER]
            cmd = [*cli, "case", "import", str(appeals), "--json", "--key", team.team().key("spec")]
            wall, cpu, out, err, code = timed(cmd, env)
            assert code == 0, (code, err[-2000:])
            rows = json.loads(out)
            assert len(rows) == n, (len(rows), n)
            assert [r["line"] for r in rows] == list(range(2, n + 2)), "one result row per line, in order"
            bad = [r for r in rows if r["outcome"] != "opened"]
            assert not bad, bad[:3]
            assert len({r["id"] for r in rows}) == n, "each line its own case"
            c = counts(db_url)
            assert c["cases"] == c["distinct_txids"] == c["claims"] == c["opened_events"] == n, c
            print(f"case import: {n} lines in {wall:.2f} s wall ({cpu:.2f} s CPU): {n / wall:,.1f} lines/s "
                  f"(target >= 500){' [under cProfile: ' + args.profile + ']' if args.profile else ''}")
            print(f"  checked: {n} result rows, all opened, {c['cases']} cases, {c['claims']} signed claims, "
                  f"{c['opened_events']} case_opened events, {c['jobs']} jobs")

            if args.again:
                wall2, cpu2, out2, err2, code2 = timed(cmd, env)
                assert code2 == 0, (code2, err2[-2000:])
                again = json.loads(out2)
                assert [r["outcome"] for r in again] == ["exists"] * n, again[:3]
                assert [r["id"] for r in again] == [r["id"] for r in rows]
                assert counts(db_url) == c, "a second import of the same file changes nothing"
                print(f"case import again: {n} lines `exists` in {wall2:.2f} s ({cpu2:.2f} s CPU): "
                      f"{n / wall2:,.1f} lines/s")

            wall3, _cpu3, out3, err3, code3 = timed([RECOVER, "audit", "verify", "--json"], env)
            report = json.loads(out3) if out3.strip() else {}
            assert code3 == 0 and report.get("ok"), (code3, report.get("problems"), err3[-2000:])
            print(f"audit verify: ok, {report.get('events')} events, in {wall3:.2f} s")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
