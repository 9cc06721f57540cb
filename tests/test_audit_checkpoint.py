"""Issue 12, item 5: a signed checkpoint of the audit chain's head detects a history truncated, or
rewritten and re-hashed, since it: attacks `audit verify` alone cannot see."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from clihelp import run

SEED = "test test test test test test test test test test test junk"
OTHER_SEED = "legal winner thank year wave sausage worth useful legal winner thank yellow"
RET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.fixture
def chain_db(db_url):
    for i in range(3):
        r = run("case", "open", "--network", "ethereum", "--tx", "0x" + f"{i + 1:02x}" * 32, "--return-address", RET,
                "--json", db=db_url)
        assert r.code == 0, r.err
    return db_url


def _verify(db, checkpoint, seed=SEED):
    return run("audit", "verify", "--checkpoint", str(checkpoint), "--json", db=db, env={"RECOVER_SEED": seed})


def test_checkpoint_detects_truncation_and_a_rehashed_rewrite(chain_db, tmp_path):
    from recover.audit import event_hash
    from recover.db import session_scope
    from recover.models import AuditEvent
    from sqlmodel import select

    cp = tmp_path / "cp.json"
    made = run("audit", "checkpoint", "--out", str(cp), "--json", db=chain_db, env={"RECOVER_SEED": SEED})
    assert made.code == 0, made.err
    assert made.json["seq"] == 3 and made.json["events"] == 3
    assert _verify(chain_db, cp).code == 0
    assert run("audit", "checkpoint", "--out", str(cp), "--json", db=chain_db,
               env={"RECOVER_SEED": SEED}).error["code"] == "file_exists"

    # 1. truncate the newest event: the chain alone still looks whole
    with session_scope(chain_db) as s:
        s.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 3))
    assert run("audit", "verify", "--json", db=chain_db).code == 0
    truncated = _verify(chain_db, cp)
    assert truncated.code == 1 and any("truncated" in p for p in truncated.json["problems"])

    # 2. put an event back, rewritten, and re-hash the whole chain: intact to itself, not to the checkpoint
    with session_scope(chain_db) as s:
        events = list(s.exec(select(AuditEvent).order_by(AuditEvent.seq)))
        forged = AuditEvent(seq=3, case_id=3, actor="mallory", action="case_opened", to_status="open", details={},
                            created_at=events[-1].created_at, prev_hash=events[-1].hash, hash="")
        forged.hash = event_hash(forged)
        s.add(forged)
    with session_scope(chain_db) as s:
        prev = "0" * 64
        for ev in s.exec(select(AuditEvent).order_by(AuditEvent.seq)):
            if ev.seq == 1:
                ev.details = {**(ev.details or {}), "claimant": "someone else"}
            ev.prev_hash = prev
            ev.hash = event_hash(ev)
            prev = ev.hash
            s.add(ev)
    assert run("audit", "verify", "--json", db=chain_db).code == 0  # re-hashed: consistent with itself
    rewritten = _verify(chain_db, cp)
    assert rewritten.code == 1 and any("rewritten" in p for p in rewritten.json["problems"])


def test_an_altered_or_foreign_checkpoint_is_refused(chain_db, tmp_path):
    cp = tmp_path / "cp.json"
    assert run("audit", "checkpoint", "--out", str(cp), db=chain_db, env={"RECOVER_SEED": SEED}).code == 0
    doc = json.loads(cp.read_text())
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps({**doc, "seq": 2}))
    bad = _verify(chain_db, altered)
    assert bad.code == 1 and any("signature" in p for p in bad.json["problems"])
    foreign = _verify(chain_db, cp, seed=OTHER_SEED)  # verified on another signer host
    assert foreign.code == 1 and any("not signed by this signer" in p for p in foreign.json["problems"])
    missing = run("audit", "checkpoint", "--out", str(tmp_path / "x.json"), "--json", db=chain_db,
                  env={"RECOVER_SEED": ""})
    assert missing.code == 4 and missing.error["code"] == "signer_config"
