"""The memo registry of shared-wallet networks: which memo / tag names which of the exchange's accounts.

On a ``shared_memo`` network every user deposits to the exchange's shared address and is told apart by
the memo the exchange gave them.  Whether a deposit's memo names nobody (``unknown_memo``), a closed
account, or another user (``wrong_memo``) is decided against this registry, so it is the exchange's
word, signed by an admin quorum like the address registry (``memos import``), never a free row.

An import is all or nothing: every row is checked first (network of the shared-memo model, the memo
matching the network's ``memo_pattern``, an account id, status active | closed), and a bad row names
its line.  A memo's account never changes; its status may (an account closed, or opened again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from recover.authority.acting import Verifier, memo_subject
from recover.authority.admin_statements import admin_attest, admin_names
from recover.authority.statements import Statement, require_quorum
from recover.errors import InvalidInput
from recover.networks.addresses import csv_rows
from recover.networks.registry import networks as all_networks
from recover.storage.audit import append_event
from recover.storage.models import MemoAccount

REQUIRED = ("network", "memo", "account")
STATUSES = ("active", "closed")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")  # as a case's --credit-account
_MEMO = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True)
class MemoEntry:
    """What the exchange's signed memo registry says of one memo (``status``: active | closed)."""

    memo: str
    account: str
    status: str


@dataclass(frozen=True)
class MemoImport:
    added: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}


def memo_problem(net, memo: str) -> str | None:
    """Why ``memo`` cannot be one of the exchange's memos on ``net`` (its ``memo_pattern``), or None."""
    if not _MEMO.match(memo):
        return "a memo is 1 to 128 characters without control characters"
    if net.memo_pattern and not re.fullmatch(net.memo_pattern, memo):
        return f"it does not match the network's memo_pattern {net.memo_pattern!r}"
    return None


def import_memos(session: Session, path: Path, *, root, admin_keys: list) -> MemoImport:
    """Register memo -> account rows, each new or changed one with its admin-quorum statement."""
    probe = Statement("memo_import_probe", {})
    for key in admin_keys:
        probe = probe.signed_by(key)
    require_quorum(probe, root.admin_keys, root.quorum)  # before anything is read or written
    nets = all_networks()
    seen: dict[tuple[str, str], int] = {}
    checked: list[dict] = []
    for line, row in csv_rows(path, REQUIRED, ("status",), "memo"):
        where = f"{path}:{line}"
        net = nets.get(row["network"])
        if net is None:
            raise InvalidInput(f"{where}: unknown network {row['network']!r}", code="unknown_network")
        if net.deposit_model != "shared_memo":
            raise InvalidInput(f"{where}: {net.key} takes deposits at per-user addresses (deposit_model = "
                               f"{net.deposit_model!r}): it has no memos", code="not_memo_network")
        problem = memo_problem(net, row["memo"])
        if problem:
            raise InvalidInput(f"{where}: memo {row['memo']!r}: {problem}", code="invalid_memo")
        if not _ACCOUNT.match(row["account"]):
            raise InvalidInput(f"{where}: account {row['account']!r} is not a valid account id (letters, digits, "
                               ". _ : @ -; at most 128)", code="bad_csv")
        row["status"] = row.get("status") or "active"
        if row["status"] not in STATUSES:
            raise InvalidInput(f"{where}: status {row['status']!r} must be active or closed", code="bad_csv")
        key = (net.key, row["memo"])
        if key in seen:
            raise InvalidInput(f"{where}: memo {row['memo']} on {net.key} is already on line {seen[key]}",
                               code="bad_csv")
        seen[key] = line
        row["line"] = line
        checked.append(row)

    added = updated = unchanged = 0
    signers: list[str] = []

    def statement(row: dict) -> str:
        body = {"network": row["network"], "memo": row["memo"], "account": row["account"], "status": row["status"]}
        record, who = admin_attest(session, root, "memo", memo_subject(row["network"], row["memo"]), body, admin_keys)
        signers[:] = who
        return record.hash

    for row in checked:
        existing = session.exec(select(MemoAccount).where(MemoAccount.network == row["network"],
                                                          MemoAccount.memo == row["memo"])).first()
        if existing is None:
            session.add(MemoAccount(network=row["network"], memo=row["memo"], account=row["account"],
                                    status=row["status"], statement=statement(row)))
            added += 1
        elif existing.account != row["account"]:
            raise InvalidInput(f"{path}:{row['line']}: memo {row['memo']} on {row['network']} names account "
                               f"{existing.account}; a memo's account never changes", code="memo_conflict")
        elif existing.status != row["status"]:
            existing.status = row["status"]
            existing.statement = statement(row)
            session.add(existing)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    result = MemoImport(added, updated, unchanged)
    append_event(session, actor=admin_names(root, signers) if signers else "admins", action="memos_imported",
                 details={"file": path.name, **result.to_dict()})
    return result


def signed_memos(session: Session, network: str, memos) -> dict[str, MemoEntry]:
    """What the admin-signed memo statements say of ``memos`` on ``network`` (the newest valid statement
    of each; memos without one are left out).  Never the rows alone: a row deleted or edited to turn a
    deposit for another user (``wrong_memo``, reviewed) into one for nobody would change who is paid."""
    return signed_memos_of(Verifier(session), network, memos)


def signed_memos_of(verifier, network: str, memos) -> dict[str, MemoEntry]:
    """:func:`signed_memos` with a statement checker the caller already has (the signer's)."""
    out = {}
    for memo in sorted({m for m in memos if m}):
        good, _ = verifier.statements(memo_subject(network, memo), ("memo",))
        good = [g for g in good if g.body.get("network") == network and g.body.get("memo") == memo]
        if good:
            body = good[-1].body
            out[memo] = MemoEntry(memo, body["account"], body["status"])
    return out
