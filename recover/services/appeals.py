"""Batch appeals: ``recover case import APPEALS.csv`` opens one case per line, idempotently.

Each line is opened in its own savepoint of a chunk's transaction (nothing is half-written for a line,
a bad line never stops or undoes the others, and a crash loses at most the uncommitted chunk, which a
re-run opens), with every check of ``case open`` and its claim signed as its own statement.  A line
already imported (the same ``external_ref``, or the same deposit) is reported with the case it already
is, not opened twice; running the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from recover.authority.statement_log import forget_heads
from recover.casework.cases import Claim, lock_claims_many, open_claim
from recover.casework.runner import run
from recover.errors import DuplicateClaim, InvalidInput, ToolkitError
from recover.storage.models import Case
from recover.storage.testpoints import fault_point

COLUMNS = ("network", "txid", "asset", "deposit_address", "return_address", "credit_account", "claimant",
           "external_ref", "msg_index", "return_memo")  # the last two: shared-wallet (memo) networks
REQUIRED = ("network", "txid")


@dataclass
class AppealResult:
    line: int
    outcome: str  # opened | exists | error
    case_id: int | None = None
    code: str | None = None
    message: str = ""
    external_ref: str | None = None

    def to_dict(self) -> dict:
        return {"line": self.line, "outcome": self.outcome, "id": self.case_id, "code": self.code,
                "message": self.message, "external_ref": self.external_ref}


def read_appeals(path: Path) -> list[tuple[int, dict]]:
    """The file's lines as ``(line number, row)``; a file that is not such a CSV is exit 4 as a whole."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {type(exc).__name__}", code="bad_file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [h for h in REQUIRED if h not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise InvalidInput(f"{path}: the header must name columns among {','.join(COLUMNS)} (network and txid "
                           f"required)" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                           + (f"; missing: {', '.join(missing)}" if missing else ""), code="bad_csv")
    rows = []
    for row in reader:
        if None in row:
            rows.append((reader.line_num, {"__error__": "more fields than the header has"}))
            continue
        clean = {(k or "").strip(): (v or "").strip() or None for k, v in row.items()}
        if any(clean.values()):
            rows.append((reader.line_num, clean))
    if not rows:
        raise InvalidInput(f"{path}: no appeal lines", code="bad_csv")
    return rows


CHUNK = 200  # lines per transaction: one commit (and on SQLite one fsync) per chunk, not per line


def open_appeals(session_factory, path: Path, *, actor) -> list[AppealResult]:
    """One result per line, in file order.  The lines go in chunks, each chunk one transaction and
    each line of it a savepoint: a refused line is rolled back alone, and one commit per chunk instead
    of one per line was most of the time a large file took.  A crash loses at most the chunk it was in
    (nothing of it is written); the file run again opens those lines and reports the others."""
    lines = read_appeals(path)
    results: list[AppealResult] = []
    for start in range(0, len(lines), CHUNK):
        results += _open_chunk(session_factory, lines[start:start + CHUNK], actor=actor)
    return results


def _claim(row: dict, index: str | None) -> Claim:
    return Claim(network=row.get("network") or "", tx=row.get("txid") or "",
                 return_address=row.get("return_address"), credit_account=row.get("credit_account"),
                 asset=row.get("asset"), deposit_address=row.get("deposit_address"),
                 claimant=row.get("claimant"), external_ref=row.get("external_ref"),
                 msg_index=int(index) if index is not None else None, return_memo=row.get("return_memo"))


def _open_chunk(session_factory, lines: list[tuple[int, dict]], *, actor) -> list[AppealResult]:
    """The lines of one chunk in one transaction, each opened by :func:`open_claim` (every check of
    ``case open``) in its own savepoint.  Anything but a refusal of the line (a bug, the database
    itself) rolls the whole chunk back and stops the import, as it stopped it before."""
    results = []
    with session_factory() as s:
        refs = [row["external_ref"] for _, row in lines if row.get("external_ref")]
        known = existing_refs(s, refs)  # appeals imported before: one query for the chunk
        # PostgreSQL: every claim lock the chunk needs, in one order, before the first statement or
        # audit event takes the logs' lock (the order every opener keeps: see ``lock_claims``)
        lock_claims_many(s, [_claim(row, None) for _, row in lines if "__error__" not in row])
        for line, row in lines:
            ref = row.get("external_ref")
            if "__error__" in row:
                results.append(AppealResult(line, "error", code="bad_csv", message=row["__error__"]))
                continue
            if ref and ref in known:
                results.append(AppealResult(line, "exists", known[ref], "duplicate_ref",
                                            f"appeal {ref} is already case {known[ref]}", ref))
                continue
            index = row.get("msg_index")
            if index is not None and not index.isdigit():
                results.append(AppealResult(line, "error", code="invalid_msg_index",
                                            message=f"msg_index {index!r} is not a whole number", external_ref=ref))
                continue
            claim = _claim(row, index)
            try:
                with s.begin_nested():
                    case_id = open_claim(s, claim, actor=actor)
            except DuplicateClaim as exc:
                forget_heads(s)  # the savepoint's statement and audit event are gone: read the heads again
                other = (exc.details or {}).get("existing_case")
                results.append(AppealResult(line, "exists", other, exc.code, str(exc), ref))
                continue
            except ToolkitError as exc:  # one bad line never stops the others; its savepoint rolled back (anything
                # else is not an input problem but a bug or the database itself, which stops the import)
                forget_heads(s)
                results.append(AppealResult(line, "error", None, exc.code, str(exc), ref))
                continue
            if ref:
                known[ref] = case_id
            results.append(AppealResult(line, "opened", case_id, None, "opened", ref))
            fault_point(f"appeal_opened:{line}")  # the crash tests end the process here, mid-chunk
    return results


def existing_refs(session, refs: list[str]) -> dict[str, int]:
    """``external_ref -> case id`` of the references among ``refs`` already imported."""
    found: dict[str, int] = {}
    for i in range(0, len(refs), 500):
        found.update({ref: cid for ref, cid in session.execute(
            sa.select(Case.external_ref, Case.id).where(Case.external_ref.in_(refs[i:i + 500])))})
    return found


def import_appeals(path: str | Path, *, db: str | None = None, key=None) -> list[AppealResult]:
    """``recover case import``: open one case per line of an appeals CSV, each line in its own savepoint
    of a chunk's transaction (idempotent: lines already imported are reported)."""
    return run("open", db=db, key=key, own_units=True,
               body=lambda ctx: open_appeals(ctx.sessions, Path(path), actor=ctx.actor))
