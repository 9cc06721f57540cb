"""The statement log: every signed statement at a numbered place in one hash-linked sequence.

A signature proves that a statement exists, never that no other statement was withheld.  So every
statement is appended here, and both the signed body and the row say where:

- the signed body carries ``log``: ``{"deployment", "subject", "head"[, "admin_seq"]}``: the trust
  root's deployment (a statement made in another deployment counts for nothing here), what the
  statement is about (a row's subject column cannot move it to another case), the entry of the newest
  statement its signer saw (everything before that entry is fixed by this signature), and for admin
  statements their number, 1, 2, 3... (the newest policy is the one with the highest number, never the
  highest row id).  A statement signed here is signed under the append lock, so its head is the entry
  right before its own place; only a passkey's (the browser signs what the page showed, a moment
  earlier) may name an older entry.  A statement made in a copy of the database after the copy and the
  original parted names a head that is not the entry before its place in the original: refused;
- each row has ``seq`` (1, 2, 3... without gaps) and ``entry`` = SHA-256 of canonical JSON of
  ``[seq, previous entry, hash, kind, subject, head, admin_seq]``: a row deleted, inserted, moved or
  re-labelled (its kind or subject edited so that a query no longer finds it) breaks the entries of
  every later row.

Appends are serialised by the same lock as the audit chain (:func:`recover.storage.audit.lock_logs`): the
head is read, the statement sealed and signed, and the row written in one transaction.  A host that
decides (the signer, an auditor) checks the whole chain of entries, checks in full every statement
after the head it pinned last time, and pins the new head (:mod:`recover.authority.history`).

Pure except for :func:`log_head`, :func:`append` and :func:`chain_rows`, which read and write the
``statements`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from recover.authority.statements import ADMIN_KINDS, LOG, Statement, envelope_of
from recover.errors import IllegalTransition, InvalidInput, PolicyRefused
from recover.storage.audit import forget_audit_head, lock_logs
from recover.storage.canonical import sha256_hex
from recover.storage.models import StatementRecord, utcnow

GENESIS = "0" * 64
_HEAD = "recover.authority.statement_log.head"  # session.info: the head this transaction holds under the lock
APPENDED = "recover.authority.statement_log.appended"  # session.info: (first seq, last Head) this transaction appended


@dataclass(frozen=True)
class Head:
    """The newest place of the log: its seq and entry, and the highest admin statement number."""

    seq: int = 0
    entry: str = GENESIS
    admin_seq: int = 0


def entry_hash(seq: int, prev: str, statement_hash: str, kind: str, subject: str, head: str,
               admin_seq: int | None) -> str:
    return sha256_hex([seq, prev, statement_hash, kind, subject, head, admin_seq])


def envelope(deployment: str, head: Head, kind: str, subject: str) -> dict:
    """The ``log`` member a statement about ``subject`` signs when ``head`` is the newest it saw."""
    env = {"deployment": deployment, "head": head.entry, "subject": subject}
    if kind in ADMIN_KINDS:
        env["admin_seq"] = head.admin_seq + 1
    return env


def sealed(body: dict, *, deployment: str, head: Head, kind: str, subject: str) -> dict:
    return {**body, LOG: envelope(deployment, head, kind, subject)}


# -- reading and appending (under the lock) -------------------------------------------------------
def log_head(session: Session, *, lock: bool = True) -> Head:
    """The log's head.  With ``lock`` (appending) the append lock is taken first and the head kept
    for the rest of the transaction; without it (a page asking a passkey to sign) it is only read."""
    if lock:
        lock_logs(session)
        cached = session.info.get(_HEAD)
        if cached is not None:
            return cached
    conn = session.connection()
    t = StatementRecord.__table__
    last = conn.execute(sa.select(t.c.seq, t.c.entry).order_by(t.c.seq.desc()).limit(1)).first()
    admin = conn.execute(sa.select(sa.func.max(t.c.admin_seq))).scalar()
    head = Head(int(last[0]), str(last[1]), int(admin or 0)) if last else Head()
    if lock:
        session.info[_HEAD] = head
    return head


def forget_heads(session: Session) -> None:
    """After rolling back a savepoint that may have appended statements or audit events: read both
    heads again next time (the append lock is kept: it belongs to the transaction)."""
    session.info.pop(_HEAD, None)
    forget_audit_head(session)


def _row(statement: Statement, env: dict, head: Head) -> dict:
    seq = head.seq + 1
    admin_seq = env.get("admin_seq")
    return {"seq": seq, "hash": statement.hash, "kind": statement.kind, "subject": env["subject"],
            "head": env["head"], "admin_seq": admin_seq,
            "entry": entry_hash(seq, head.entry, statement.hash, statement.kind, env["subject"], env["head"],
                                admin_seq),
            "payload": statement.payload, "signatures": [s.to_dict() for s in statement.signatures]}


def _check_place(session: Session, statement: Statement, env: dict | None, head: Head, deployment: str) -> dict:
    """Refuse a statement that cannot take the next place of the log."""
    if env is None:
        raise InvalidInput(f"{statement.kind} statement: it names no place in the statement log", code="bad_statement")
    if env["deployment"] != deployment:
        raise PolicyRefused(f"{statement.kind} statement: it was made for deployment {env['deployment'][:8]}…, not "
                            "this one (the trust root's)", code="wrong_deployment")
    if statement.kind in ADMIN_KINDS and env["admin_seq"] != head.admin_seq + 1:
        raise IllegalTransition(f"{statement.kind} statement: it is admin statement {env['admin_seq']}, but the next "
                                f"one is {head.admin_seq + 1} (another admin statement was made meanwhile): sign "
                                "it again", code="log_moved")
    if env["head"] not in (head.entry, GENESIS):
        t = StatementRecord.__table__
        seen = session.connection().execute(sa.select(t.c.seq).where(t.c.entry == env["head"])).scalar()
        if seen is None:
            raise PolicyRefused(f"{statement.kind} statement: the head of the log it names is not in this log "
                                "(it was made in another copy of the database)", code="wrong_deployment")
    return env


def append(session: Session, statement: Statement, *, deployment: str) -> StatementRecord:
    """Store a sealed, signed statement at the next place of the log."""
    head = log_head(session)
    env = _check_place(session, statement, envelope_of(statement), head, deployment)
    row = StatementRecord(**_row(statement, env, head))
    session.add(row)
    session.flush()
    session.info[_HEAD] = Head(row.seq, row.entry, row.admin_seq or head.admin_seq)
    _appended(session, row.seq, session.info[_HEAD])
    return row


def _appended(session: Session, first: int, last: Head) -> None:
    earlier = session.info.get(APPENDED)
    session.info[APPENDED] = (earlier[0] if earlier else first, last)


def sign_and_append(session: Session, *, deployment: str, kind: str, subject: str, body: dict, sign) \
        -> StatementRecord:
    """Seal ``body`` at the head (under the lock), sign it with ``sign(Statement) -> Statement`` and
    append it: the head a statement names is the log's newest entry when it was signed."""
    head = log_head(session)
    statement = sign(Statement(kind, sealed(body, deployment=deployment, head=head, kind=kind, subject=subject)))
    return append(session, statement, deployment=deployment)


def sign_and_append_many(session: Session, *, deployment: str, items: list[tuple[str, str, dict]], sign) \
        -> list[Statement]:
    """Like :func:`sign_and_append` for many ``(kind, subject, body)``, each naming the one before
    as its head, written in one multi-row INSERT (``verify --all`` writes a chunk at once)."""
    head = log_head(session)
    rows, out = [], []
    for kind, subject, body in items:
        statement = sign(Statement(kind, sealed(body, deployment=deployment, head=head, kind=kind, subject=subject)))
        env = envelope_of(statement)
        row = _row(statement, env, head)
        rows.append(row)
        out.append(statement)
        head = Head(row["seq"], row["entry"], row["admin_seq"] or head.admin_seq)
    if rows:
        now = utcnow()
        session.connection().execute(sa.insert(StatementRecord.__table__), [{**r, "created_at": now} for r in rows])
        session.info[_HEAD] = head
        _appended(session, rows[0]["seq"], head)
    return out


# -- checking the chain of entries ------------------------------------------------------------------
@dataclass
class ChainCheck:
    """The log as its rows chain: the head it reaches and what breaks the chain."""

    head: Head
    problems: list[str]
    entries: dict[int, str]  # seq -> recomputed entry, for the seqs asked for (pins, checkpoints)


def chain_rows(session: Session, *, want: tuple[int, ...] = ()) -> ChainCheck:
    """Recompute every entry from the rows' columns (no payload is read: cheap enough to run on every
    decision).  Reports the first place where the chain breaks: a seq missing or repeated, an entry
    that is not the hash of its row and its predecessor, a head that names no earlier entry, admin
    numbers out of order.  After a clean pass, every column that takes part in the entries (kind,
    subject, head, admin_seq, hash) is what was appended."""
    t = StatementRecord.__table__
    result = session.connection().execute(  # streamed: a log of millions is never held in memory
        sa.select(t.c.seq, t.c.hash, t.c.kind, t.c.subject, t.c.head, t.c.admin_seq, t.c.entry).order_by(t.c.seq)
        .execution_options(stream_results=True, yield_per=10_000))
    problems: list[str] = []
    prev, expected, admin_expected = GENESIS, 1, 1
    late: list[tuple[int, str]] = []  # statements whose head is not their predecessor (a passkey's, signed later)
    entries: dict[int, str] = {}
    wanted = set(want)
    for seq, digest, kind, subject, head, admin_seq, entry in result:
        if seq != expected:
            problems.append(f"statement {expected} of the log is missing (the next one is {seq}): statements were "
                            "deleted or the log was re-numbered" if seq > expected else
                            f"statement {seq} appears out of order")
            break
        recomputed = entry_hash(seq, prev, digest, kind, subject, head, admin_seq)
        if recomputed != entry:
            problems.append(f"statement {seq} ({kind} about {subject}) does not chain to the log before it: it, or "
                            "a statement before it, was altered, re-labelled, inserted or removed")
            break
        if kind in ADMIN_KINDS:
            if admin_seq != admin_expected:
                problems.append(f"statement {seq} ({kind}) is admin statement {admin_seq}, the next admin statement "
                                f"must be {admin_expected}: an admin statement was withheld")
                break
            admin_expected += 1
        elif admin_seq is not None:
            problems.append(f"statement {seq} ({kind}) carries an admin number but is no admin statement")
            break
        if head != prev:
            late.append((seq, head))
        if seq in wanted:
            entries[seq] = recomputed
        prev, expected = recomputed, expected + 1
    result.close()
    last = Head(expected - 1, prev, admin_expected - 1)
    if not problems and late:
        problems += _late_heads_signed_elsewhere(session, late)
    if not problems and late:
        heads = {h for _, h in late if h != GENESIS}
        found: dict[str, int] = {}
        names = sorted(heads)
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            found.update({e: s for e, s in session.connection().execute(
                sa.select(t.c.entry, t.c.seq).where(t.c.entry.in_(chunk)))})
        for seq, head in late:
            if head != GENESIS and not (head in found and found[head] < seq):
                problems.append(f"statement {seq} names a head of the log that is not an earlier entry of this log")
                break
    return ChainCheck(last, problems, entries)


def _late_heads_signed_elsewhere(session: Session, late: list[tuple[int, str]]) -> list[str]:
    """A statement whose head is not the entry before it must be a passkey's (signed in a browser a
    moment before it was stored); any other was signed at another place: in another copy of the log.
    (A signature relabelled ``webauthn`` to pass here fails its own check: the operator's enrolled key
    decides the scheme.)"""
    t = StatementRecord.__table__
    seqs = [seq for seq, _ in late]
    for i in range(0, len(seqs), 500):
        for seq, signatures in session.connection().execute(
                sa.select(t.c.seq, t.c.signatures).where(t.c.seq.in_(seqs[i:i + 500])).order_by(t.c.seq)):
            sigs = signatures if isinstance(signatures, list) else []
            if not sigs or any(not isinstance(x, dict) or x.get("scheme") != "webauthn" for x in sigs):
                return [f"statement {seq} was signed at another place of the statement log than where it stands "
                        "(made in another copy of the database, then copied here)"]
    return []
