"""Batch appeals: ``recover case import APPEALS.csv`` opens one case per line, idempotently.

Each line is opened in its own transaction (nothing is half-written for a line, and a bad line never
stops the others).  A line already imported (the same ``external_ref``, or the same deposit) is
reported with the case it already is, not opened twice; running the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from recover.casework.cases import Claim, open_case
from recover.casework.runner import run
from recover.errors import DuplicateClaim, InvalidInput, ToolkitError
from recover.storage.models import Case

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


def open_appeals(session_factory, path: Path, *, actor) -> list[AppealResult]:
    results = []
    for line, row in read_appeals(path):
        ref = row.get("external_ref")
        if "__error__" in row:
            results.append(AppealResult(line, "error", code="bad_csv", message=row["__error__"]))
            continue
        if ref:
            with session_factory() as s:
                existing = s.exec(select(Case.id).where(Case.external_ref == ref)).first()
            if existing is not None:
                results.append(AppealResult(line, "exists", existing, "duplicate_ref",
                                            f"appeal {ref} is already case {existing}", ref))
                continue
        index = row.get("msg_index")
        if index is not None and not index.isdigit():
            results.append(AppealResult(line, "error", code="invalid_msg_index",
                                        message=f"msg_index {index!r} is not a whole number", external_ref=ref))
            continue
        claim = Claim(network=row.get("network") or "", tx=row.get("txid") or "",
                      return_address=row.get("return_address"), credit_account=row.get("credit_account"),
                      asset=row.get("asset"), deposit_address=row.get("deposit_address"),
                      claimant=row.get("claimant"), external_ref=ref,
                      msg_index=int(index) if index is not None else None, return_memo=row.get("return_memo"))
        try:
            with session_factory() as s:
                case = open_case(s, claim, actor=actor)
                case_id = case.id
            results.append(AppealResult(line, "opened", case_id, None, "opened", ref))
        except DuplicateClaim as exc:
            other = (exc.details or {}).get("existing_case")
            results.append(AppealResult(line, "exists", other, exc.code, str(exc), ref))
        except ToolkitError as exc:  # one bad line never stops the others; its transaction rolled back (anything
            # else is not an input problem but a bug or the database itself, which stops the import)
            results.append(AppealResult(line, "error", None, exc.code, str(exc), ref))
    return results


def import_appeals(path: str | Path, *, db: str | None = None, key=None) -> list[AppealResult]:
    """``recover case import``: open one case per line of an appeals CSV, each in its own unit of
    work (idempotent: lines already imported are reported)."""
    return run("open", db=db, key=key, own_units=True,
               body=lambda ctx: open_appeals(ctx.sessions, Path(path), actor=ctx.actor))
