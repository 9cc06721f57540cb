"""The history a deciding host accepts: the whole statement log, extending what it accepted before.

A host that decides (signs, exports credits, approves, reopens, closes, completes, audits) calls
:func:`accept_history` before it reads any statement it relies on.  It refuses (exit 7) a database
whose log

- does not chain: a statement deleted, inserted, re-ordered or re-labelled, an admin number skipped
  (:func:`recover.authority.statement_log.chain_rows`: every entry recomputed, no payload read);
- does not extend the head this host pinned last time: truncated, or rewritten and re-hashed, since
  this host last looked (the pin is a local file it owns, next to the trust root: never the database);
- holds, after that pin, a statement that does not check out in full: payload, signed place, deployment,
  signature (every statement the first time a host looks, then only the new ones).

Then it pins the new head.  So deleting a revocation, a rejection or a policy, or copying in a
statement made in another copy of the database, is a refusal everywhere it matters, never a silent
fall-back to what is left.

The pin file (``RECOVER_LOG_PIN``, else ``<trust root folder>/<root name>.pins/<deployment>-<db>.json``)
says ``{"format", "deployment", "database", "seq", "entry", "at"}``.  A database restored from a backup
older than the pin is refused until someone who owns this host removes the pin deliberately.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlmodel import Session, select

from recover.authority.acting import Verifier
from recover.authority.statement_log import APPENDED, Head, chain_rows
from recover.authority.trust import TrustRoot
from recover.errors import ConfigError, PolicyRefused
from recover.storage.db import AFTER_COMMIT
from recover.storage.models import StatementRecord

PIN_ENV = "RECOVER_LOG_PIN"
PIN_FORMAT = "recover-log-pin/1"
ACCEPTED = "recover.authority.history.accepted"  # session.info: (pin path, root, head accepted) of this transaction


@dataclass(frozen=True)
class Pin:
    seq: int
    entry: str


def _database(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def pin_path(root: TrustRoot, session: Session) -> Path:
    """Where this host keeps its pin for this deployment and database."""
    if os.environ.get(PIN_ENV):
        return Path(os.environ[PIN_ENV])
    if not root.source:
        raise ConfigError(f"set {PIN_ENV} to a file this host owns: where it pins the newest statement it accepted",
                          code="no_log_pin")
    source = Path(root.source)
    db = hashlib.sha256(_database(session).encode("utf-8")).hexdigest()[:16]
    return source.parent / f"{source.stem}.pins" / f"{root.deployment[:16]}-{db}.json"


def read_pin(path: Path, root: TrustRoot) -> Pin | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{PIN_ENV} {path}: cannot read the pinned head ({exc.strerror})", code="bad_log_pin") \
            from None
    try:
        doc = json.loads(text)
        if doc.get("format") != PIN_FORMAT or doc.get("deployment") != root.deployment:
            raise ValueError("format")
        seq, entry = doc["seq"], str(doc["entry"])
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or len(entry) != 64:
            raise ValueError("seq")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{path}: not a pinned head of this deployment's statement log", code="bad_log_pin") \
            from None
    return Pin(seq, entry)


def write_pin(path: Path, root: TrustRoot, session: Session, head: Head) -> None:
    """Pin ``head`` (atomically, never moving an existing pin backwards)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            current = read_pin(path, root)
            if current is not None and current.seq > head.seq:
                return  # another process here accepted a longer log meanwhile
            doc = {"format": PIN_FORMAT, "deployment": root.deployment, "database": _database(session),
                   "seq": head.seq, "entry": head.entry,
                   "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(doc, indent=2) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot pin the statement log's head at {path} ({exc.strerror}): this host must own a "
                          f"writable place for it (set {PIN_ENV})", code="bad_log_pin") from None


@dataclass(frozen=True)
class HistoryReport:
    head: Head
    pinned: Pin | None
    problems: tuple[str, ...]
    checked: int  # statements checked in full this time

    @property
    def ok(self) -> bool:
        return not self.problems


def examine_history(session: Session, root: TrustRoot, *, pin: Pin | None, full: bool = False,
                    want: tuple[int, ...] = ()) -> tuple[HistoryReport, dict[int, str]]:
    """Everything wrong with the log against ``pin`` (nothing is written).  ``full``: check every
    statement in full, not only those after the pin (``audit verify``)."""
    seqs = tuple(want) + ((pin.seq,) if pin is not None and pin.seq > 0 else ())
    chain = chain_rows(session, want=seqs)
    problems = list(chain.problems)
    if pin is not None and not problems:
        if pin.seq > chain.head.seq:
            problems.append(f"the statement log ends at statement {chain.head.seq}, but this host accepted it up to "
                            f"statement {pin.seq}: statements were withheld (the log was truncated, or this is "
                            "another or an older copy of the database)")
        elif pin.seq > 0 and chain.entries.get(pin.seq) != pin.entry:
            problems.append(f"statement {pin.seq} of the log is not the one this host accepted: the history up to it "
                            "was rewritten since (or this is another copy of the database)")
    checked = 0
    if not problems:
        start = 0 if full or pin is None else pin.seq
        verifier = Verifier(session, root)
        query = select(StatementRecord).where(StatementRecord.seq > start).order_by(StatementRecord.seq)
        for record in session.exec(query):
            signed, why = verifier.check(record)
            checked += 1
            if signed is None:
                problems.append(f"statement {record.seq} ({record.kind} about {record.subject}): {why}")
                if not full:
                    break
    return HistoryReport(chain.head, pin, tuple(problems), checked), chain.entries


def accept_history(session: Session, root: TrustRoot, *, doing: str) -> HistoryReport:
    """Refuse (exit 7, ``history_broken``) unless the log is whole and extends this host's pin, then
    pin its head.  Call before relying on any statement."""
    path = pin_path(root, session)
    pin = read_pin(path, root)
    report, _ = examine_history(session, root, pin=pin)
    if report.problems:
        raise PolicyRefused(f"the statement log cannot be trusted: {report.problems[0]}; refusing {doing}",
                            code="history_broken", details={"problems": list(report.problems)})
    write_pin(path, root, session, report.head)
    session.info[ACCEPTED] = (path, root, report.head)
    after = session.info.setdefault(AFTER_COMMIT, [])
    if pin_after_commit not in after:  # ``recover.storage.db.session_scope`` runs it once the transaction committed
        after.append(pin_after_commit)
    return report


def pin_after_commit(session: Session) -> None:
    """After a deciding transaction committed: pin the statements it appended itself, when they follow
    the head it accepted directly (a statement another process appended in between was not checked
    here, and is left for the next decision to check)."""
    accepted, appended = session.info.get(ACCEPTED), session.info.get(APPENDED)
    if not accepted or not appended:
        return
    path, root, head = accepted
    first, last = appended
    if first == head.seq + 1:
        write_pin(path, root, session, last)
