"""What someone who can write to the database (and holds no admin key) can do to the statement log,
done the way a careful attacker would: rows appended with their place in the log computed exactly as
the code computes it, rows deleted or edited and the entries after them re-computed, so that every
test shows what the *signatures and the pinned head* catch, not what a sloppy forgery trips over."""

from __future__ import annotations

import sqlalchemy as sa


def _engine(db):
    from recover.storage.db import get_engine

    return get_engine(db)


def append(db, kind: str, subject: str, body: dict, sign, *, deployment: str | None = None,
           head: str | None = None, admin_seq: int | None = None) -> str:
    """Append a statement sealed at the log's head (or ``head``) and signed by ``sign(Statement) ->
    Statement`` straight into the table, its entry computed like the code's.  Returns its hash."""
    from recover.authority.statement_log import GENESIS, entry_hash
    from recover.authority.statements import ADMIN_KINDS, Statement
    from recover.authority.trust import load_trust_root

    with _engine(db).begin() as conn:
        last = conn.execute(sa.text("SELECT seq, entry FROM statements ORDER BY seq DESC LIMIT 1")).first()
        top_admin = conn.execute(sa.text("SELECT max(admin_seq) FROM statements")).scalar() or 0
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        env = {"deployment": deployment or load_trust_root().deployment, "head": head or prev, "subject": subject}
        if kind in ADMIN_KINDS:
            env["admin_seq"] = admin_seq or top_admin + 1
        st = sign(Statement(kind, {**body, "log": env}))
        import json

        conn.execute(sa.text(
            "INSERT INTO statements (seq, hash, kind, subject, head, admin_seq, entry, payload, signatures, created_at) "
            "VALUES (:seq, :hash, :kind, :subject, :head, :admin, :entry, :payload, :sigs, '2026-12-07 00:00:00')"),
            {"seq": seq, "hash": st.hash, "kind": kind, "subject": subject, "head": env["head"],
             "admin": env.get("admin_seq"), "payload": st.payload,
             "sigs": json.dumps([s.to_dict() for s in st.signatures]),
             "entry": entry_hash(seq, prev, st.hash, kind, subject, env["head"], env.get("admin_seq"))})
        return st.hash


def rechain(db) -> None:
    """Re-number the log 1, 2, 3... and re-compute every entry from the rows as they now are: what an
    attacker does after deleting or editing a statement, so the chain of entries is whole again."""
    from recover.authority.statement_log import GENESIS, entry_hash

    with _engine(db).begin() as conn:
        rows = conn.execute(sa.text("SELECT id, hash, kind, subject, head, admin_seq FROM statements ORDER BY seq")).all()
        conn.execute(sa.text("UPDATE statements SET seq = -seq"))  # out of the way of the unique index
        prev = GENESIS
        for i, (rid, digest, kind, subject, head, admin_seq) in enumerate(rows, start=1):
            entry = entry_hash(i, prev, digest, kind, subject, head, admin_seq)
            conn.execute(sa.text("UPDATE statements SET seq = :s, entry = :e WHERE id = :i"),
                         {"s": i, "e": entry, "i": rid})
            prev = entry


def delete(db, statement_hash: str) -> None:
    with _engine(db).begin() as conn:
        conn.execute(sa.text("DELETE FROM statements WHERE hash = :h"), {"h": statement_hash})


def rechain_audit(db) -> None:
    """Re-number and re-hash the audit chain as it now is (after events were deleted)."""
    from types import SimpleNamespace

    from recover.storage.audit import GENESIS, event_hash

    with _engine(db).begin() as conn:
        rows = conn.execute(sa.text("SELECT id, case_id, actor, action, from_status, to_status, details, created_at "
                                    "FROM audit_events ORDER BY seq")).all()
        conn.execute(sa.text("UPDATE audit_events SET seq = -seq, hash = 'x' || id"))
        prev = GENESIS
        import json

        for i, (rid, case_id, actor, action, frm, to, details, created) in enumerate(rows, start=1):
            details = json.loads(details) if isinstance(details, str) else details
            ev = SimpleNamespace(seq=i, case_id=case_id, actor=actor, action=action, from_status=frm, to_status=to,
                                 details=details or {}, created_at=created, prev_hash=prev)
            h = event_hash(ev)
            conn.execute(sa.text("UPDATE audit_events SET seq = :s, prev_hash = :p, hash = :h WHERE id = :i"),
                         {"s": i, "p": prev, "h": h, "i": rid})
            prev = h
