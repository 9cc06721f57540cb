"""Offline signing: export an approved plan for a signer that never touches the network, and import
what it signed only if it is exactly the approved plan.

Export: UTXO plans as a BIP-174 PSBT, EVM plans as the unsigned transactions in JSON.  Import: a
JSON document ``{"case_id", "plan_hash", "signed": [raw, ...]}`` (or ``"psbt"``: a finalized PSBT
for UTXO).  The adapter checks that every signed transaction spends the same inputs to the same
outputs (UTXO) or is the same transaction from the same signer (EVM) before anything is stored.

Both run through ``recover.casework.runner.run``, which checks the wallet team's role, the history, and (after
``recover.casework.execution.refuse_unapproved`` and, for an import, :func:`read_signed`) the case's status.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlmodel import Session

from chains.base import Capability
from chains.errors import ChainError
from recover.casework.execution import approved_plan, attest_signed, deposit_still_there
from recover.casework.transitions import move
from recover.errors import EXIT_INVALID, InvalidInput, PolicyRefused
from recover.life.states import CaseStatus
from recover.networks.chainio import adapter
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.models import Case, SignedTx


def _approved(session: Session, case: Case):
    return approved_plan(session, case, gas_station=os.environ.get("RECOVER_GAS_STATION_ADDRESS") or None)


def _offline_chain(net):
    chain = adapter(net)
    if not chain.can(Capability.OFFLINE_EXPORT):
        raise InvalidInput(f"{net.key} plans cannot be signed offline", code="no_offline")
    return chain


def export_case(session: Session, case: Case, out: Path, *, actor: str) -> dict:
    plan_row, plan = _approved(session, case)
    net = get_network(case.network)
    body = _offline_chain(net).export_unsigned(plan)
    doc = {"case_id": case.id, "network": net.key, "plan_hash": plan_row.plan_hash, **body}
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise InvalidInput(f"{out} exists: refusing to overwrite", code="file_exists") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}", code="bad_file") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=2) + "\n")
    append_event(session, actor=actor, action="plan_exported", case_id=case.id,
                 details={"plan_hash": plan_row.plan_hash, "format": body["format"], "file": out.name})
    return doc


def read_signed(path: Path) -> dict:
    """The signed-plan document of ``path`` (exit 4 ``bad_file`` when it is none)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a signed-plan JSON file ({exc})", code="bad_file") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path} is not a signed-plan JSON document", code="bad_file")
    return doc


def import_signed(session: Session, case: Case, path: Path, doc: dict, *, actor: str) -> list[SignedTx]:
    """Store ``doc`` (:func:`read_signed` of ``path``) as the case's signed transactions if it is exactly
    the approved plan."""
    plan_row, plan = _approved(session, case)
    if doc.get("case_id") != case.id or doc.get("plan_hash") != plan_row.plan_hash:
        raise PolicyRefused(f"{path} is for case {doc.get('case_id')} plan {str(doc.get('plan_hash'))[:16]}…, not the "
                            f"approved plan {plan_row.plan_hash[:16]}… of case {case.id}", code="signed_differs")
    net = get_network(case.network)
    chain = _offline_chain(net)
    try:
        raws = chain.signed_from_document(doc)
    except ChainError as exc:
        raise InvalidInput(f"{path}: {exc}", code=exc.code if exc.exit_code == EXIT_INVALID else "bad_file") from None
    deposit_still_there(session, case, chain, doing="the import")
    txids = chain.check_signed(plan, raws)
    rows = [SignedTx(case_id=case.id, plan_hash=plan_row.plan_hash, seq=st.seq, role=st.role, raw=raw, txid=txid,
                     signed_by=actor) for st, raw, txid in zip(plan.steps, raws, txids)]
    for r in rows:
        session.add(r)
    session.flush()
    record = attest_signed(session, case, plan_row.plan_hash, rows, actor=actor)
    move(session, case, CaseStatus.SIGNED, op="import-signed", actor=actor, action="signed",
         details={"plan_hash": plan_row.plan_hash, "txids": txids, "offline": True, "statement": record.hash})
    return rows
