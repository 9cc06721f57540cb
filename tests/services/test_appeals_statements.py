"""Issue 27 (PostgreSQL): ``case import`` writes a chunk's claims in a few statements, not a dozen per line.

On PostgreSQL every statement is a round trip to the server; the line-by-line import sent about
thirteen per line.  Counted here, not timed: the statements the import's process sends for one chunk
of lines stay a small number that does not grow with the lines (an executemany counts once: psycopg
sends it pipelined).  The rows are then exactly those of a line-by-line open, checked by
``audit verify``.
"""

from __future__ import annotations

import sqlalchemy as sa

import team
from clihelp import run
from evmflow import derive
from recover.services.appeals import CHUNK

HEADER = "network,txid,asset,deposit_address,return_address,credit_account,claimant,external_ref\n"


def test_one_chunk_is_a_few_statements_whatever_its_lines(db_url, tmp_path, monkeypatch):
    from recover.services.appeals import import_appeals
    from recover.storage.db import dispose_engines

    for name, value in team.env().items():
        monkeypatch.setenv(name, value)
    ret = derive(33)
    n = CHUNK - 10
    lines = [f"anvil,0x{5000 + i:064x},,,{ret if i % 2 else ''},{'' if i % 2 else f'acct-{i}'},,S-{i}"
             for i in range(n)]
    csv = tmp_path / "appeals.csv"
    csv.write_text(HEADER + "\n".join(lines) + "\n")
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        results = import_appeals(csv, db=db_url)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
        dispose_engines()
    assert [r.outcome for r in results] == ["opened"] * n
    assert len({r.case_id for r in results}) == n
    assert len(sent) < 40, len(sent)  # line by line it was about 13 * n
    assert run("audit", "verify", db=db_url).code == 0
