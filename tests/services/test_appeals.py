"""Issue 13, item 1: batch appeals through the installed CLI (no node is needed to open a case)."""

from __future__ import annotations

from clihelp import run, snapshot
from evmflow import derive

HEADER = "network,txid,asset,deposit_address,return_address,credit_account,claimant,external_ref\n"


def _tx(i: int) -> str:
    return "0x" + f"{i:064x}"


def test_import_opens_each_line_once_and_reports_every_line(db_url, tmp_path):
    ret = derive(30)
    lines = [
        f"anvil,{_tx(1)},,,{ret},,alice@example.com,T-1",           # 2: opened
        f"anvil,{_tx(2)},,,,acct-7,,T-2",                           # 3: opened (credit)
        f"anvil,{_tx(3)},,,{ret},,,T-1",                            # 4: the same appeal again
        f"anvil,{_tx(1)},,,{ret},,,",                               # 5: the same deposit, no reference
        f"anvil,{_tx(4)},,,{ret.lower()[:-1]}x,,,T-4",              # 6: a broken return address
        f"nowhere,{_tx(5)},,,{ret},,,T-5",                          # 7: unknown network
        f"anvil,{_tx(6)},,,{ret},acct-1,,T-6",                      # 8: two destinations
        f"anvil,{_tx(7)},,,{ret},,,T-7,extra",                      # 9: too many fields
        f"anvil,{_tx(8)},,,{derive(31)},,,T-8",                     # 10: opened
    ]
    csv = tmp_path / "appeals.csv"
    csv.write_text(HEADER + "\n".join(lines) + "\n")
    r = run("case", "import", str(csv), "--json", db=db_url)
    assert r.code == 4, r.err  # some lines were refused: the others are opened all the same
    rows = r.json
    assert [(x["line"], x["outcome"]) for x in rows] == [
        (2, "opened"), (3, "opened"), (4, "exists"), (5, "exists"), (6, "error"), (7, "error"), (8, "error"),
        (9, "error"), (10, "opened")]
    by_line = {x["line"]: x for x in rows}
    assert by_line[4]["id"] == by_line[2]["id"] and by_line[4]["code"] == "duplicate_ref"
    assert by_line[5]["id"] == by_line[2]["id"] and by_line[5]["code"] == "duplicate"
    assert by_line[6]["code"] == "invalid_address"
    assert by_line[7]["code"] == "unknown_network"
    assert by_line[8]["code"] == "destination"
    assert by_line[9]["code"] == "bad_csv"
    assert "opened 3" not in r.err and "3 opened, 2 already there, 4 refused" in " ".join(r.err.split())
    cases = run("case", "list", "--json", db=db_url).json
    assert sorted((c["external_ref"], c["status"]) for c in cases) == [("T-1", "open"), ("T-2", "open"),
                                                                       ("T-8", "open")]
    shown = run("case", "show", str(by_line[3]["id"]), "--json", db=db_url).json
    assert shown["destination"]["credit_account"] == "acct-7" and shown["opened_by"] == "spec"
    # the same file again: nothing new, nothing changed
    before = snapshot(db_url)
    again = run("case", "import", str(csv), "--json", db=db_url)
    assert again.code == 4
    assert [x["outcome"] for x in again.json] == ["exists", "exists", "exists", "exists", "error", "error",
                                                  "error", "error", "exists"]
    assert snapshot(db_url) == before
    assert run("audit", "verify", db=db_url).code == 0


def test_import_refuses_a_file_that_is_not_an_appeals_csv(db_url, tmp_path):
    before = snapshot(db_url)
    for text, code in (("network,txid,amount\nanvil,0x01,5\n", "bad_csv"), (HEADER, "bad_csv"),
                       ("txid\n0x01\n", "bad_csv")):
        f = tmp_path / "x.csv"
        f.write_text(text)
        r = run("case", "import", str(f), "--json", db=db_url)
        assert r.code == 4 and r.error["code"] == code, r.err
    r = run("case", "import", str(tmp_path / "missing.csv"), "--json", db=db_url)
    assert r.code == 4 and r.error["code"] == "bad_file"
    # only a specialist opens cases
    f = tmp_path / "ok.csv"
    f.write_text(HEADER + f"anvil,{_tx(9)},,,{derive(30)},,,T-9\n")
    from team import team

    r = run("case", "import", str(f), "--json", "--key", team().key("bob"), db=db_url)
    assert r.code == 7 and r.error["code"] == "role_missing"
    assert snapshot(db_url) == before
