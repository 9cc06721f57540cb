"""Issue 13 item 3 on UTXO: ``recover scan`` of a Litecoin regtest network finds unspent outputs at
retired deposit addresses (``scantxoutset``) and opens each deposit once across two scans."""

from __future__ import annotations

from clihelp import run, snapshot
from utxoflow import cli, deposit_address, ltc, u  # noqa: F401  (fixtures and helpers)


def test_scan_opens_retired_outputs_once_and_the_case_verifies(u):
    w = u
    retired, active = deposit_address(w, status="retired"), deposit_address(w, status="active")
    txid, vout = w.ltc.fund(retired, 2 * 10**8)
    other_txid, _ = w.ltc.fund(retired, 5 * 10**7)
    w.ltc.fund(active, 3 * 10**8)  # coins at an active address are normal deposits
    w.ltc.fund(retired, 4000)      # dust: not worth a case
    first = cli(w, "scan", "--network", "ltc-regtest")
    assert first["kind"] == "holdings" and first["found"] == 2 and len(first["opened"]) == 2, first
    cases = {c["txid"]: c for c in cli(w, "case", "list")}
    assert set(cases) == {txid, other_txid}
    assert all(c["deposit_address"] == retired for c in cases.values())
    again = cli(w, "scan", "--network", "ltc-regtest", "--from-block", "0")
    assert again["found"] == 2 and again["opened"] == [] and again["already_cases"] == 2
    cid = cases[txid]["id"]
    doc = cli(w, "case", "verify", str(cid))
    assert doc["classification"] == "retired_address"
    assert [(f["deposit_index"], f["amount"]) for f in doc["facts"]] == [(vout, str(2 * 10**8))]


def test_scan_refusals_leave_the_database_unchanged(u):
    w = u
    before = snapshot(w.db)
    assert cli(w, "scan", "--network", "ltc-regtest", "--from-block", "5", "--to-block", "4",
               expect=4)["code"] == "empty_range"
    above = cli(w, "scan", "--network", "ltc-regtest", "--from-block", "10000000", expect=4)  # above the newest block
    assert above["code"] == "empty_range" and "the newest is" in above["message"]
    r = run("scan", "--network", "ltc-regtest", "--json", "--key", __import__("team").team().key("bob"),
            db=w.db, env=w.env)
    assert r.code == 7 and r.error["code"] == "role_missing"
    assert snapshot(w.db) == before
