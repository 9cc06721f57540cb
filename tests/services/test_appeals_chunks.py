"""Issue 27: ``case import`` opens its lines in chunks (one transaction each, a savepoint per line).

The per-line promises hold inside a chunk: a refused line in the middle of a chunk neither stops nor
undoes the lines before and after it, a line repeating one earlier in the same chunk is ``exists``
once, and the database then holds exactly the opened lines (cases, signed claims, jobs, audit events,
both hash chains whole).  A crash in the middle of a chunk leaves nothing of that chunk, and the file
run again opens each line exactly once.
"""

from __future__ import annotations

import sqlalchemy as sa

from clihelp import run
from evmflow import derive
from recover.services.appeals import CHUNK

HEADER = "network,txid,asset,deposit_address,return_address,credit_account,claimant,external_ref\n"


def _tx(i: int) -> str:
    return "0x" + f"{i:064x}"


def _counts(db_url: str) -> dict[str, int]:
    from recover.storage.db import get_engine

    queries = {"cases": "SELECT count(*) FROM cases",
               "claims": "SELECT count(*) FROM statements WHERE kind = 'claim'",
               "jobs": "SELECT count(*) FROM jobs",
               "opened": "SELECT count(*) FROM audit_events WHERE action = 'case_opened'"}
    with get_engine(db_url).connect() as conn:
        return {k: int(conn.execute(sa.text(q)).scalar()) for k, q in queries.items()}


def _refs(db_url: str) -> list[str]:
    from recover.storage.db import get_engine

    with get_engine(db_url).connect() as conn:
        return sorted(r for (r,) in conn.execute(sa.text("SELECT external_ref FROM cases")))


def test_a_bad_line_and_repeats_inside_one_chunk(db_url, tmp_path):
    ret = derive(30)
    lines = [
        f"anvil,{_tx(1)},,,{ret},,,C-1",                 # 2: opened
        f"anvil,{_tx(2)},,,,acct-2,,C-2",                # 3: opened
        f"anvil,{_tx(3)},,,{ret.lower()[:-1]}x,,,C-3",   # 4: refused (broken address), between good lines
        f"anvil,{_tx(4)},,,{ret},,,C-4",                 # 5: opened
        f"anvil,{_tx(5)},,,{ret},,,C-2",                 # 6: the appeal of line 3 again: exists
        f"anvil,{_tx(2)},,,{ret},,,",                    # 7: the deposit of line 3 again: exists
        f"anvil,{_tx(6)},,,{ret},acct-6,,C-6",           # 8: refused (two destinations)
        f"anvil,{_tx(7)},,,,acct-7,,C-7",                # 9: opened
    ]
    assert len(lines) < CHUNK  # all of them in one chunk, one transaction
    csv = tmp_path / "appeals.csv"
    csv.write_text(HEADER + "\n".join(lines) + "\n")
    r = run("case", "import", str(csv), "--json", db=db_url)
    assert r.code == 4, r.err
    rows = {x["line"]: x for x in r.json}
    assert [(x["line"], x["outcome"], x["code"]) for x in r.json] == [
        (2, "opened", None), (3, "opened", None), (4, "error", "invalid_address"), (5, "opened", None),
        (6, "exists", "duplicate_ref"), (7, "exists", "duplicate"), (8, "error", "destination"),
        (9, "opened", None)]
    assert rows[6]["id"] == rows[7]["id"] == rows[3]["id"]
    assert len({rows[n]["id"] for n in (2, 3, 5, 9)}) == 4
    # exactly the four opened lines, each with its signed claim, its job and its audit event
    assert _counts(db_url) == {"cases": 4, "claims": 4, "jobs": 4, "opened": 4}
    assert _refs(db_url) == ["C-1", "C-2", "C-4", "C-7"]
    assert run("audit", "verify", db=db_url).code == 0  # both chains whole, every claim's signature good


def test_a_line_the_database_refuses_mid_chunk_is_rolled_back_alone(db_url, tmp_path):
    """A line whose insert the database itself refuses (here a trigger, as another opener's row would)
    after earlier lines of its chunk appended statements and audit events: its savepoint is rolled
    back, the heads of both logs read again, and the lines after it chain on correctly."""
    from recover.storage.db import get_engine

    engine = get_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("CREATE TRIGGER refuse_d3 BEFORE INSERT ON cases WHEN NEW.external_ref = 'D-3' "
                                 "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"))
        else:
            conn.execute(sa.text("CREATE FUNCTION refuse_d3() RETURNS trigger AS $$ BEGIN "
                                 "IF NEW.external_ref = 'D-3' THEN RAISE unique_violation USING MESSAGE = 'refused by test'; "
                                 "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(sa.text("CREATE TRIGGER refuse_d3 BEFORE INSERT ON cases FOR EACH ROW EXECUTE FUNCTION refuse_d3()"))
    ret = derive(31)
    lines = [f"anvil,{_tx(100 + i)},,,{ret},,,D-{i}" for i in range(1, 7)]
    csv = tmp_path / "appeals.csv"
    csv.write_text(HEADER + "\n".join(lines) + "\n")
    r = run("case", "import", str(csv), "--json", db=db_url)
    assert [(x["external_ref"], x["outcome"]) for x in r.json] == [
        ("D-1", "opened"), ("D-2", "opened"), ("D-3", "exists"), ("D-4", "opened"), ("D-5", "opened"),
        ("D-6", "opened")], r.json
    assert r.json[2]["id"] is None  # refused by the database as a claim made meanwhile: no case to name
    assert _counts(db_url) == {"cases": 5, "claims": 5, "jobs": 5, "opened": 5}
    assert run("audit", "verify", db=db_url).code == 0


def test_a_crash_mid_chunk_then_the_same_file_again_opens_each_line_once(db_url, tmp_path):
    ret = derive(32)
    n = CHUNK + 30
    lines = [f"anvil,{_tx(1000 + i)},,,{ret if i % 2 else ''},{'' if i % 2 else f'acct-{i}'},,K-{i}"
             for i in range(n)]
    csv = tmp_path / "appeals.csv"
    csv.write_text(HEADER + "\n".join(lines) + "\n")
    crash_at = CHUNK + 20  # a line of the second chunk (file line numbers start at 2)
    crashed = run("case", "import", str(csv), "--json", db=db_url, env={"RECOVER_FAULT": f"appeal_opened:{crash_at}"})
    assert crashed.code == 137, (crashed.code, crashed.err)
    # the first chunk was committed, nothing of the second
    assert _counts(db_url) == {"cases": CHUNK, "claims": CHUNK, "jobs": CHUNK, "opened": CHUNK}
    assert _refs(db_url) == sorted(f"K-{i}" for i in range(CHUNK))
    assert run("audit", "verify", db=db_url).code == 0
    again = run("case", "import", str(csv), "--json", db=db_url)
    assert again.code == 0, again.err
    assert [x["outcome"] for x in again.json] == ["exists"] * CHUNK + ["opened"] * (n - CHUNK)
    assert _counts(db_url) == {"cases": n, "claims": n, "jobs": n, "opened": n}
    assert _refs(db_url) == sorted(f"K-{i}" for i in range(n))
    assert run("audit", "verify", db=db_url).code == 0
