"""Credits are exported exactly once, even when two exports run at the same moment (issue 11, item 6).

Real processes of the installed CLI against the real PostgreSQL server (and SQLite): the export
pauses after claiming its batch (``RECOVER_TEST_PAUSE``) so that the two really overlap.
"""

from __future__ import annotations

import csv
import os
import subprocess

from clihelp import RECOVER
from evmflow import world_both  # noqa: F401


def _seed_credits(w, n: int) -> set[int]:
    """``n`` credit cases carried out to the end on anvil through the CLI (opened, verified, quoted,
    prepared, approved, signed, broadcast, tracked to completed): an export checks each credit against
    its case's signed statements, its plan's signed transactions and the chain."""
    from evmflow import cli, key, prepared_token_case

    ids = set()
    for i in range(n):
        cid, *_ = prepared_token_case(w, credit=f"acct-{i}", deposit_index=40 + i, amount=500 * 10**6)
        assert cli(w, "queue", "approve", str(cid), "--key", key("bob"))["status"] == "approved"  # < 1,000 USD
        cli(w, "case", "sign", str(cid))
        cli(w, "case", "broadcast", str(cid))
        assert cli(w, "case", "track", str(cid))["status"] == "completed"
        ids.add(cid)
    return ids


def _exported(path) -> list[int]:
    with open(path, newline="") as fh:
        return [int(row["case_id"]) for row in csv.DictReader(fh)]


def test_two_exports_at_once_never_write_the_same_credit(world_both, tmp_path):
    w = world_both
    db_url = w.db
    ids = _seed_credits(w, 4)
    from team import team

    env = {**os.environ, "RECOVER_DB_URL": db_url, "RECOVER_TEST_PAUSE": "credits_claimed:1500",
           "RECOVER_OPERATOR_KEY": team().key("wes")}  # the wallet team exports credits
    outs = [tmp_path / "a.csv", tmp_path / "b.csv"]
    procs = [subprocess.Popen([RECOVER, "credits", "export", "--out", str(o), "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for o in outs]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    for out, err, code in results:
        assert code == 0, err
    a, b = (_exported(o) for o in outs)
    assert not set(a) & set(b), "a credit was written to both files"
    assert sorted(a + b) == sorted(ids)
    again = tmp_path / "c.csv"
    r = subprocess.run([RECOVER, "credits", "export", "--out", str(again), "--json"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert _exported(again) == []  # an exported credit is never exported again

    from sqlmodel import select

    from recover.storage.db import session_scope
    from recover.storage.models import AuditEvent, Credit

    with session_scope(db_url) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "credits_exported")).all()
        assert sorted(e.details["count"] for e in events) == sorted([len(a), len(b), 0])
        assert all(c.exported_at is not None for c in s.exec(select(Credit)))
