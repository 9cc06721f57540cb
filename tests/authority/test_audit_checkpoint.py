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


def _events(db) -> int:
    from recover.storage.db import session_scope
    from recover.storage.models import AuditEvent

    with session_scope(db) as s:
        return s.exec(sa.select(sa.func.count()).select_from(AuditEvent)).one()[0]


@pytest.fixture
def chain_db(db_url):
    """The team's enrollments, then three cases opened (by spec): the last three events are theirs."""
    for i in range(3):
        r = run("case", "open", "--network", "ethereum", "--tx", "0x" + f"{i + 1:02x}" * 32, "--return-address", RET,
                "--json", db=db_url)
        assert r.code == 0, r.err
    return db_url


def _verify(db, checkpoint, seed=SEED):
    return run("audit", "verify", "--checkpoint", str(checkpoint), "--json", db=db, env={"RECOVER_SEED": seed})


def test_checkpoint_detects_truncation_and_a_rehashed_rewrite(chain_db, tmp_path):
    from sqlmodel import select

    from recover.storage.audit import event_hash, verify_chain
    from recover.storage.db import session_scope
    from recover.storage.models import AuditEvent

    head = _events(chain_db)  # the team's enrollments and the three cases opened
    with session_scope(chain_db) as s:
        opened = list(s.exec(select(AuditEvent).where(AuditEvent.action == "case_opened").order_by(AuditEvent.seq)))
        assert [(e.seq, e.case_id) for e in opened] == [(head - 2, 1), (head - 1, 2), (head, 3)]
    cp = tmp_path / "cp.json"
    made = run("audit", "checkpoint", "--out", str(cp), "--json", db=chain_db, env={"RECOVER_SEED": SEED})
    assert made.code == 0, made.err
    assert made.json["seq"] == head and made.json["events"] == head
    good = _verify(chain_db, cp)
    assert good.code == 0 and good.json["problems"] == []
    assert run("audit", "checkpoint", "--out", str(cp), "--json", db=chain_db,
               env={"RECOVER_SEED": SEED}).error["code"] == "file_exists"

    # 1. truncate the newest event (case 3 opened): the chain alone still looks whole; only the case row,
    # whose status the log no longer gives, is named (that is audit verify's statement/row half)
    with session_scope(chain_db) as s:
        s.execute(sa.delete(AuditEvent).where(AuditEvent.seq == head))
    with session_scope(chain_db) as s:
        chain = verify_chain(s)
        assert chain.ok and chain.problems == () and chain.events == head - 1
    row_only = ["case 3: status is 'open' but the audit log last moved it to None"]
    alone = run("audit", "verify", "--json", db=chain_db)
    assert alone.code == 1 and alone.json["problems"] == row_only and alone.json["first_bad_seq"] is None
    truncated = _verify(chain_db, cp)
    assert truncated.code == 1 and truncated.json["problems"][:1] == row_only
    assert any("truncated" in p for p in truncated.json["problems"][1:])

    # 2. put an event back, rewritten, and re-hash the whole chain: intact to itself, not to the checkpoint
    with session_scope(chain_db) as s:
        events = list(s.exec(select(AuditEvent).order_by(AuditEvent.seq)))
        forged = AuditEvent(seq=head, case_id=3, actor="mallory", action="case_opened", to_status="open", details={},
                            created_at=events[-1].created_at, prev_hash=events[-1].hash, hash="")
        forged.hash = event_hash(forged)
        s.add(forged)
    with session_scope(chain_db) as s:
        prev = "0" * 64
        for ev in s.exec(select(AuditEvent).order_by(AuditEvent.seq)):
            if ev.seq == head - 2:  # case 1 opened
                ev.details = {**(ev.details or {}), "claimant": "someone else"}
            ev.prev_hash = prev
            ev.hash = event_hash(ev)
            prev = ev.hash
            s.add(ev)
    itself = run("audit", "verify", "--json", db=chain_db)  # re-hashed: consistent with itself (and the rows)
    assert itself.code == 0 and itself.json["problems"] == [], itself.out
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
    # the key is the one the trust root pins, wherever the checkpoint is verified (with another seed, or
    # with none at all on an auditor's host)
    assert _verify(chain_db, cp, seed=OTHER_SEED).code == 0
    assert _verify(chain_db, cp, seed="").code == 0
    # a checkpoint re-signed with another key (naming that key in the file) is refused on every host
    from chains.keys import mnemonic_seed
    from recover.authority.checkpoints import checkpoint_key
    from recover.storage.canonical import canonical_json

    other = checkpoint_key(mnemonic_seed(OTHER_SEED))
    body = {k: doc[k] for k in ("format", "seq", "hash", "events", "statements", "at")}
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({**body, "public_key": other.verify_key.encode().hex(),
                                   "signature": other.sign(canonical_json(body).encode()).signature.hex()}))
    for seed in ("", SEED, OTHER_SEED):
        bad = _verify(chain_db, foreign, seed=seed)
        assert bad.code == 1 and any("not signed by the checkpoint key the trust root pins" in p
                                     for p in bad.json["problems"]), (seed, bad.out)
    # and a host whose seed is not the pinned key's writes no checkpoint
    wrong = run("audit", "checkpoint", "--out", str(tmp_path / "y.json"), "--json", db=chain_db,
                env={"RECOVER_SEED": OTHER_SEED})
    assert wrong.code == 4 and wrong.error["code"] == "checkpoint_key_mismatch"
    assert not (tmp_path / "y.json").exists()
    missing = run("audit", "checkpoint", "--out", str(tmp_path / "x.json"), "--json", db=chain_db,
                  env={"RECOVER_SEED": ""})
    assert missing.code == 4 and missing.error["code"] == "signer_config"
