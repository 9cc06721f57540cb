"""Batch appeals: ``recover case import APPEALS.csv`` opens one case per line, idempotently.

The lines go in chunks of one transaction each (a crash loses at most the uncommitted chunk, which a
re-run opens); every line has every check of ``case open`` and its claim signed as its own statement,
and a chunk's rows are written together, or line by line in savepoints when the database refuses
the lot (nothing is half-written for a line, a bad line never stops or undoes the others).  A line
already imported (the same ``external_ref``, or the same deposit) is reported with the case it already
is, not opened twice; running the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from recover.casework.cases import Claim
from recover.casework.claim_batch import ClaimBatch, Opened
from recover.casework.runner import run
from recover.errors import DuplicateClaim, InvalidInput
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
    """One result per line, in file order.  The lines go in chunks, each chunk one transaction whose
    rows are written together: a refused line writes nothing, and one commit per chunk instead of one
    per line was most of the time a large file took (on PostgreSQL, then, the statements per line).
    A crash loses at most the chunk it was in (nothing of it is written); the file run again opens
    those lines and reports the others."""
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
    """The lines of one chunk in one transaction, each checked by every check of ``case open`` and the
    chunk's claims written together (:class:`ClaimBatch`: a few statements per chunk, not a dozen per
    line; a batch the database refuses is opened again line by line, each in its own savepoint).
    Anything but a refusal of a line (a bug, the database itself) rolls the whole chunk back and stops
    the import, as it stopped it before."""
    results: list[AppealResult] = []
    waiting: list[tuple[AppealResult, Opened]] = []  # lines added to the batch: settled once it is written
    with session_factory() as s:
        refs = [row["external_ref"] for _, row in lines if row.get("external_ref")]
        known = existing_refs(s, refs)  # appeals imported before: one query for the chunk
        # every claim lock the chunk needs (PostgreSQL), in one order, before the first statement or
        # audit event takes the logs' lock (the order every opener keeps: see ``lock_claims``)
        batch = ClaimBatch(s, [_claim(row, None) for _, row in lines  # a line already imported is not opened
                               if "__error__" not in row and row.get("external_ref") not in known], actor=actor)
        added: dict[str, Opened] = {}  # external_ref -> the line of this chunk that is opening it
        for line, row in lines:
            ref = row.get("external_ref")
            if "__error__" in row:
                results.append(AppealResult(line, "error", code="bad_csv", message=row["__error__"]))
                continue
            if ref and ref in added and ref not in known:  # an appeal repeated in the chunk: its case id first
                batch.flush()
                if added[ref].case_id is not None:
                    known[ref] = added[ref].case_id
            if ref and ref in known:
                results.append(AppealResult(line, "exists", known[ref], "duplicate_ref",
                                            f"appeal {ref} is already case {known[ref]}", ref))
                continue
            index = row.get("msg_index")
            if index is not None and not index.isdigit():
                results.append(AppealResult(line, "error", code="invalid_msg_index",
                                            message=f"msg_index {index!r} is not a whole number", external_ref=ref))
                continue
            opened = batch.add(_claim(row, index))
            if ref:
                added[ref] = opened
            results.append(AppealResult(line, "opened", None, None, "opened", ref))
            waiting.append((results[-1], opened))
        batch.flush()
        for result, opened in waiting:
            _settle(result, opened)
            if result.outcome == "opened":
                fault_point(f"appeal_opened:{result.line}")  # the crash tests end the process here, mid-chunk
    return results


def _settle(result: AppealResult, opened: Opened) -> None:
    """A line's result from what became of its claim (a refused line wrote nothing)."""
    exc = opened.error
    if isinstance(exc, DuplicateClaim):
        result.outcome, result.case_id = "exists", (exc.details or {}).get("existing_case")
        result.code, result.message = exc.code, str(exc)
    elif exc is not None:  # one bad line never stops the others
        result.outcome, result.code, result.message = "error", exc.code, str(exc)
    elif opened.case_id is None:
        raise RuntimeError(f"line {result.line}: its claim was never written")
    else:
        result.case_id = opened.case_id


def existing_refs(session, refs: list[str]) -> dict[str, int]:
    """``external_ref -> case id`` of the references among ``refs`` already imported."""
    found: dict[str, int] = {}
    for i in range(0, len(refs), 500):
        found.update({ref: cid for ref, cid in session.execute(
            sa.select(Case.external_ref, Case.id).where(Case.external_ref.in_(refs[i:i + 500])))})
    return found


def import_appeals(path: str | Path, *, db: str | None = None, key=None) -> list[AppealResult]:
    """``recover case import``: open one case per line of an appeals CSV, in chunks of one transaction
    (idempotent: lines already imported are reported)."""
    return run("open", db=db, key=key, own_units=True,
               body=lambda ctx: open_appeals(ctx.sessions, Path(path), actor=ctx.actor))
