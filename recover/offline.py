"""Offline signing: export an approved plan for a signer that never touches the network, and import
what it signed only if it is exactly the approved plan.

Export: UTXO plans as a BIP-174 PSBT, EVM plans as the unsigned transactions in JSON.  Import: a
JSON document ``{"case_id", "plan_hash", "signed": [raw, ...]}`` (or ``"psbt"``: a finalized PSBT
for UTXO).  The adapter checks that every signed transaction spends the same inputs to the same
outputs (UTXO) or is the same transaction from the same signer (EVM) before anything is stored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlmodel import Session

from recover.audit import append_event
from recover.chainio import adapter
from recover.errors import IllegalTransition, InvalidInput, PolicyRefused
from recover.execution import approved_plan, deposit_still_there
from recover.models import Case, SignedTx
from recover.registry import get_network
from recover.states import CaseStatus
from recover.transitions import move


def _approved(session: Session, case: Case):
    if case.status != CaseStatus.APPROVED.value:
        raise IllegalTransition(f"case {case.id} is '{case.status}': only approved plans are exported or imported",
                                code="not_approved")
    return approved_plan(session, case)


def export_case(session: Session, case: Case, out: Path, *, actor: str) -> dict:
    plan_row, plan = _approved(session, case)
    net = get_network(case.network)
    chain = adapter(net)
    if net.family == "utxo":
        body = {"format": "psbt", "psbt": chain.export_psbt(plan)}
    elif hasattr(chain, "export_unsigned"):
        body = chain.export_unsigned(plan)
    else:
        raise InvalidInput(f"{net.family} plans cannot be exported for offline signing yet", code="no_offline")
    doc = {"case_id": case.id, "network": net.key, "plan_hash": plan_row.plan_hash, **body}
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise InvalidInput(f"{out} exists: refusing to overwrite", code="file_exists") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=2) + "\n")
    append_event(session, actor=actor, action="plan_exported", case_id=case.id,
                 details={"plan_hash": plan_row.plan_hash, "format": body["format"], "file": out.name})
    return doc


def import_signed(session: Session, case: Case, path: Path, *, actor: str) -> list[SignedTx]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a signed-plan JSON file ({exc})", code="bad_file") from None
    plan_row, plan = _approved(session, case)
    if doc.get("case_id") != case.id or doc.get("plan_hash") != plan_row.plan_hash:
        raise PolicyRefused(f"{path} is for case {doc.get('case_id')} plan {str(doc.get('plan_hash'))[:16]}…, not the "
                            f"approved plan {plan_row.plan_hash[:16]}… of case {case.id}", code="signed_differs")
    net = get_network(case.network)
    chain = adapter(net)
    raws = doc.get("signed")
    if raws is None and doc.get("psbt") and net.family == "utxo":
        from chains.utxo import finalize_psbt

        try:
            raws = [finalize_psbt(doc["psbt"])]
        except Exception as exc:
            raise InvalidInput(f"the PSBT is not finalized ({exc})", code="bad_file") from None
    if not isinstance(raws, list) or not all(isinstance(r, str) for r in raws):
        raise InvalidInput(f"{path} has no list of signed transactions", code="bad_file")
    deposit_still_there(session, case, chain, doing="the import")
    txids = chain.check_signed(plan, raws)
    rows = [SignedTx(case_id=case.id, plan_hash=plan_row.plan_hash, seq=st.seq, role=st.role, raw=raw, txid=txid,
                     signed_by=actor) for st, raw, txid in zip(plan.steps, raws, txids)]
    for r in rows:
        session.add(r)
    session.flush()
    move(session, case, CaseStatus.SIGNED, actor=actor, action="signed",
         details={"plan_hash": plan_row.plan_hash, "txids": txids, "offline": True})
    return rows
