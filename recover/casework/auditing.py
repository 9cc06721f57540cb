"""``audit verify``: everything that can be checked about the history, in one report.

The audit chain, the statement log (every statement in full) against this host's pinned head, every
row against its statement, the cases no job would move, and, with a checkpoint, that nothing was
truncated or rewritten since it.  When everything checks out this host pins the log's head (an
auditor's host is a deciding host too); otherwise nothing is pinned and the report says why.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session

from recover.authority.checkpoints import checkpoint_problems
from recover.authority.history import examine_history, pin_path, read_pin, write_pin
from recover.casework.consistency import statement_problems
from recover.storage.audit import AuditReport, verify_chain
from recover.storage.jobs import stranded_cases
from recover.storage.models import Case


def audit_report(session: Session, root, checkpoint: dict | None) -> AuditReport:
    report = verify_chain(session)
    path = pin_path(root, session)
    want = ()
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("statements"), dict):
        try:
            want = (int(checkpoint["statements"].get("seq") or 0),)
        except (TypeError, ValueError):
            want = ()
    history, entries = examine_history(session, root, pin=read_pin(path, root), full=True, want=want)
    problems = list(history.problems) + statement_problems(session)
    problems += [f"case {cid} is {session.get(Case, cid).status} and no job will move it (a worker's next loop "
                 "queues one; run `recover worker --once`)" for cid in stranded_cases(session)]
    if checkpoint is not None:
        problems += checkpoint_problems(session, checkpoint, expected_public_key=root.checkpoint_key,
                                        log_entries=entries, log_seq=history.head.seq)
    if problems:
        report = replace(report, ok=False, problems=report.problems + tuple(problems))
    if report.ok:
        write_pin(path, root, session, history.head)
    return replace(report, statements=history.head.seq)
