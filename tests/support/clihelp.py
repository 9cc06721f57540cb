"""Run the installed ``recover`` command in its own process, as users and scripts do (forked from a
warm copy of the installed CLI: ``tests/support/forkserver.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import forkserver

RECOVER = str(Path(sys.executable).with_name("recover"))
# The installed CLI forked from a warm process (tests/support/forkserver.py); RECOVER_TEST_FORK=0: a fresh
# `recover` subprocess for every command, as before.
FORK = os.environ.get("RECOVER_TEST_FORK", "1") != "0"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)

    @property
    def error(self) -> dict:
        return json.loads(self.err.strip().splitlines()[-1])["error"]


def run(*args: str, db: str | None = None, env: dict | None = None, cwd: str | None = None, timeout=120,
        default_keys: bool = True) -> Run:
    """Run ``recover ARGS``.  Unless the test names a key, the command is done by the team's operator
    whose role it needs (``team.DEFAULT_FOR``; admin commands get both admins' keys); after a
    successful ``init`` the database gets the team's operators (unless the test uses its own trust root)."""
    import team

    full_env = {**os.environ, **team.env(), **(env or {})}
    if db:
        full_env["RECOVER_DB_URL"] = db
    argv = team.with_default_keys(args, env) if default_keys else list(args)
    warm = forkserver.run(RECOVER, argv, env=full_env, cwd=cwd, timeout=timeout) if FORK else None
    if warm is None:
        proc = subprocess.run([RECOVER, *argv], capture_output=True, text=True, env=full_env, cwd=cwd,
                              timeout=timeout)
        warm = (proc.returncode, proc.stdout, proc.stderr)
    ours = full_env.get("RECOVER_TRUST_ROOT") == str(team.team().root_path)  # not a test's own trust root
    if warm[0] == 0 and args[:1] == ("init",) and ours and (db or full_env.get("RECOVER_DB_URL")):
        team.enroll(db or full_env["RECOVER_DB_URL"])
    return Run(*warm)


def cli_json(*args: str, db: str | None, env: dict | None = None, expect: int = 0):
    """``recover ARGS --json``, which must exit ``expect``: its JSON output, or its error on failure."""
    r = run(*args, "--json", db=db, env=env)
    assert r.code == expect, (args, r.code, r.out, r.err)
    return r.json if expect == 0 else r.error


def finished(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of a process started with pipes, read while waiting: waiting
    first and reading after blocks a process whose output fills a pipe (a worker's job lines)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def snapshot(db_url: str) -> dict:
    """Every row of every table, to prove a refused command changed nothing."""
    import sqlalchemy as sa

    from recover.storage.db import get_engine

    engine = get_engine(db_url)
    out = {}
    with engine.connect() as conn:
        for table in sorted(sa.inspect(conn).get_table_names()):
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted(tuple(str(v) for v in r) for r in rows)
    return out
