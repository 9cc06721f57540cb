"""Credits are exported exactly once, even when two exports run at the same moment (issue 11, item 6).

Real processes of the installed CLI against the real PostgreSQL server (and SQLite): the export
pauses after claiming its batch (``RECOVER_TEST_PAUSE``) so that the two really overlap.
"""

from __future__ import annotations

import csv
import os
import subprocess

import pytest

from clihelp import RECOVER


def _seed_credits(db_url: str, n: int) -> set[int]:
    """``n`` completed credit cases, each with the signed statements an export checks its credit
    against (the specialist's claim, verification, quote and plan), its confirmed transaction and its
    completion in the audit log."""
    from recover.audit import append_event
    from recover.authority import acting, case_subject
    from recover.db import session_scope
    from recover.models import Case, Credit, DepositFact, SignedTx
    from recover.signed_case import QUOTE_FIELDS, claim_body, facts_body
    from team import team

    ids = set()
    with session_scope(db_url) as s:
        spec = acting(s, team().key("spec"), ("specialist",), doing="open cases")
        for i in range(n):
            amount, txid = 10**18 + i, "0x" + f"{i:064x}"
            case = Case(network="anvil", chain="eip155:31337", txid=txid, claim_scope="*|*", status="completed",
                        opened_by=spec.name, credit_account=f"acct-{i}")
            s.add(case)
            s.flush()
            claim = spec.attest(s, "claim", case_subject(case.id), claim_body(case)).hash
            case.claim_statement = claim
            s.add(case)
            fact = DepositFact(case_id=case.id, network="anvil", chain="eip155:31337", txid=txid, deposit_index=-1,
                               receiving_address="0x" + f"{i + 1:040x}", asset="native", decimals=18, amount=amount,
                               block_hash="0x" + "cd" * 32, classification="retired_address")
            s.add(fact)
            s.flush()
            verification = spec.attest(s, "verification", case_subject(case.id),
                                       {"case": case.id, "claim": claim, "facts": facts_body([fact]), "flags": []}).hash
            numbers = {"gross": amount + 10, "fee": 10, "network_cost_native": 0, "network_cost_in_asset": 0,
                       "net": amount, "decimals": 18, "value_usd": "3000", "economical": True}
            quote = {k: (numbers[k] if k in ("decimals", "value_usd", "economical") else str(numbers[k]))
                     for k in QUOTE_FIELDS}
            quote = spec.attest(s, "quote", case_subject(case.id),
                                {"case": case.id, "claim": claim, "verification": verification, "prices": [],
                                 "quote": {**quote, "asset_key": "ETH", "cost_mode": "deduct", "fee_folded": False,
                                           "refusal_code": None}}).hash
            plan_hash = f"{i:064x}"
            spec.attest(s, "plan", case_subject(case.id), {"case": case.id, "quote": quote, "plan_hash": plan_hash})
            s.add(SignedTx(case_id=case.id, plan_hash=plan_hash, seq=0, role="sweep_net", raw="0x02", txid="0x" + "ab" * 32,
                           status="confirmed", signed_by="wes"))
            append_event(s, actor=spec.name, action="case_opened", case_id=case.id, to_status="open")
            append_event(s, actor="wes", action="completed", case_id=case.id, from_status="broadcast",
                         to_status="completed")
            s.add(Credit(case_id=case.id, account=f"acct-{i}", network="anvil", asset="ETH", amount=amount,
                         decimals=18, txids="0x" + "ab" * 32))
            ids.add(case.id)
    return ids


def _exported(path) -> list[int]:
    with open(path, newline="") as fh:
        return [int(row["case_id"]) for row in csv.DictReader(fh)]


def test_two_exports_at_once_never_write_the_same_credit(db_url, tmp_path):
    ids = _seed_credits(db_url, 12)
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

    from recover.db import session_scope
    from recover.models import AuditEvent, Credit

    with session_scope(db_url) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "credits_exported")).all()
        assert sorted(e.details["count"] for e in events) == sorted([len(a), len(b), 0])
        assert all(c.exported_at is not None for c in s.exec(select(Credit)))
