"""Sign, broadcast, track: the money-moving end of a case.

- sign: only an ``approved`` case whose current plan still hashes to what was approved, whose
  approvals still count, whose deposit is still there (block canonical, funds in place) and whose
  plan still simulates; signed bytes are stored, keys never are.
- broadcast: sends the stored bytes in order, waiting for a step's prerequisites (the gas top-up)
  to confirm; progress is committed after every send, so a re-run after a crash re-sends the same
  bytes and never builds a new transaction.
- track: confirmations; all confirmed -> completed (credit-account cases get a ledger credit);
  reverted or dropped -> failed with the reason, never retried with new money movement.
"""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.base import SweepPlan
from recover.approvals import case_state
from recover.audit import append_event
from recover.canonical import sha256_hex
from recover.chainio import adapter
from recover.errors import IllegalTransition, InvalidInput, NodeUnreachable, PolicyRefused, VerificationRefused
from recover.models import Case, Credit, DepositFact, SignedTx, utcnow
from recover.planning import current_plan, current_quote
from recover.policy import load_policy
from recover.registry import get_network
from recover.states import CaseStatus
from recover.transitions import move


def _checked_plan(session: Session, case: Case):
    plan_row = current_plan(session, case)
    if plan_row is None:
        raise IllegalTransition(f"case {case.id} has no plan", code="no_plan")
    doc = json.loads(plan_row.plan_json)
    if sha256_hex(doc) != plan_row.plan_hash:
        raise PolicyRefused(f"the stored plan of case {case.id} no longer matches its hash {plan_row.plan_hash[:16]}…: "
                            "it was altered after it was prepared; refusing to sign", code="plan_altered")
    return plan_row, SweepPlan.from_dict(doc)


def approved_plan(session: Session, case: Case):
    """The case's current plan, intact (its hash) and still approved enough (derived now)."""
    plan_row, plan = _checked_plan(session, case)
    state = case_state(session, case, load_policy())
    if state is None or not state.satisfied:
        raise PolicyRefused(f"case {case.id}'s approvals no longer suffice: "
                            f"{state.missing_text() if state else 'no plan'}", code="approvals_missing")
    return plan_row, plan


def deposit_still_there(session: Session, case: Case, chain, *, doing: str) -> None:
    """Refuse (exit 6) when a deposit's block was reorganised away or its funds moved."""
    for f in session.exec(select(DepositFact).where(DepositFact.case_id == case.id)):
        problem = chain.recheck_deposit(txid=f.txid, block_number=f.block_number, block_hash=f.block_hash,
                                        recipient=f.receiving_address, asset=f.asset, amount=f.amount,
                                        index=f.deposit_index)
        if problem:
            raise VerificationRefused(f"case {case.id}: {problem}; refusing {doing}", code="deposit_gone")


def sign_with(chain, plan: SweepPlan, family: str, signer) -> list[str]:
    """Sign every step with the key the backend holds for its path (and the fee payer's, if any)."""
    paths = {s.signer_path: s.signer_address for s in plan.steps}
    # Solana: the gas station pays the fee and signs the same transaction as the deposit.
    paths.update({s.tx["fee_payer_path"]: s.tx["fee_payer"] for s in plan.steps if "fee_payer_path" in s.tx})
    return chain.sign(plan, lambda path: signer.key_for(family, path, paths[path]))


def sign_case(session: Session, case: Case, *, actor: str, signer) -> list[SignedTx]:
    if case.status == CaseStatus.AWAITING_APPROVAL.value:
        state = case_state(session, case, load_policy())
        raise PolicyRefused(f"case {case.id} is not approved: {state.missing_text() if state else 'no plan'}",
                            code="approvals_missing")
    if case.status == CaseStatus.SIGNED.value:
        return _resign(session, case, actor=actor, signer=signer)
    if case.status != CaseStatus.APPROVED.value:
        raise IllegalTransition(f"case {case.id} is '{case.status}': only approved cases are signed", code="not_approved")
    plan_row, plan = approved_plan(session, case)
    net = get_network(case.network)
    chain = adapter(net)
    deposit_still_there(session, case, chain, doing="to sign")
    chain.simulate(plan)
    raws = sign_with(chain, plan, net.family, signer)
    rows = []
    for step, raw in zip(plan.steps, raws):
        row = SignedTx(case_id=case.id, plan_hash=plan_row.plan_hash, seq=step.seq, role=step.role, raw=raw,
                       txid=chain.txid_of(raw), signed_by=actor)
        session.add(row)
        rows.append(row)
    session.flush()
    move(session, case, CaseStatus.SIGNED, actor=actor, action="signed",
         details={"plan_hash": plan_row.plan_hash, "txids": [r.txid for r in rows]})
    return rows


def _resign(session: Session, case: Case, *, actor: str, signer) -> list[SignedTx]:
    """Sign a signed case again, only if none of its transactions ever reached the chain.

    Solana signatures embed a blockhash that expires in about a minute; a plan signed too long
    before broadcasting must be signed again.  The plan (and so its approvals) is unchanged; the
    node is asked first that no old transaction is known, so nothing can be sent twice.
    """
    rows = _signed_rows(session, case.id)
    if any(r.status != "signed" for r in rows):
        raise IllegalTransition(f"case {case.id} has transactions already sent: it cannot be signed again",
                                code="already_sent")
    net = get_network(case.network)
    chain = adapter(net)
    for r in rows:
        if chain.tx_status(r.txid).found:
            raise IllegalTransition(f"transaction {r.txid} of case {case.id} is known to the node: not re-signing",
                                    code="already_sent")
    plan_row, plan = approved_plan(session, case)
    chain.simulate(plan)
    raws = sign_with(chain, plan, net.family, signer)
    old = [r.txid for r in rows]
    for row, raw in zip(rows, raws):
        row.raw, row.txid, row.signed_by, row.created_at = raw, chain.txid_of(raw), actor, utcnow()
        session.add(row)
    session.flush()
    append_event(session, actor=actor, action="resigned", case_id=case.id,
                 details={"plan_hash": plan_row.plan_hash, "old_txids": old, "txids": [r.txid for r in rows]})
    return rows


@dataclass
class SendReport:
    case_id: int
    sent: list[str] = field(default_factory=list)
    status: str = ""

    def to_dict(self) -> dict:
        return {"id": self.case_id, "sent": self.sent, "status": self.status}


def _signed_rows(session: Session, case_id: int) -> list[SignedTx]:
    return list(session.exec(select(SignedTx).where(SignedTx.case_id == case_id).order_by(SignedTx.seq)))


def broadcast_case(session_factory, case_id: int, *, actor: str, wait_seconds: float = 120.0,
                   poll: float = 1.0) -> SendReport:
    with session_factory() as s:
        case = s.get(Case, case_id)
        if case is None:
            from recover.errors import NotFound

            raise NotFound(f"no case {case_id}", code="case_not_found")
        if case.status not in (CaseStatus.SIGNED.value, CaseStatus.BROADCAST.value):
            raise IllegalTransition(f"case {case_id} is '{case.status}': only signed cases are broadcast",
                                    code="not_signed")
        plan_row, plan = _checked_plan(s, case)
        rows = _signed_rows(s, case_id)
        if not rows:
            raise IllegalTransition(f"case {case_id} has no signed transactions", code="not_signed")
        net = get_network(case.network)
    chain = adapter(net)
    report = SendReport(case_id)
    by_seq = {r.seq: r for r in rows}
    after = {st.seq: st.after for st in plan.steps}
    for row in rows:
        for dep in after.get(row.seq, ()):
            _wait_confirmed(chain, by_seq[dep].txid, net.confirmations, wait_seconds, poll, case_id)
        txid = chain.broadcast(row.raw)  # the same bytes every time: "already known" is success
        _fault_point(f"sent:{row.seq}")
        if txid.lower() != row.txid.lower():
            raise PolicyRefused(f"node returned txid {txid} for stored bytes of {row.txid}", code="txid_mismatch")
        with session_factory() as s:  # commit each send: a crash after this line loses nothing
            fresh = s.get(SignedTx, row.id)
            if fresh.status == "signed":
                fresh.status, fresh.sent_at = "sent", utcnow()
                s.add(fresh)
                append_event(s, actor=actor, action="tx_sent", case_id=case_id,
                             details={"seq": row.seq, "role": row.role, "txid": row.txid})
        report.sent.append(row.txid)
    with session_factory() as s:
        case = s.get(Case, case_id)
        if case.status == CaseStatus.SIGNED.value:
            move(s, case, CaseStatus.BROADCAST, actor=actor, action="broadcast", details={"txids": report.sent})
        report.status = s.get(Case, case_id).status
    return report


def _wait_confirmed(chain, txid: str, confirmations: int, wait_seconds: float, poll: float, case_id: int) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        obs = chain.tx_status(txid)
        if obs.found and obs.success is False:
            raise VerificationRefused(f"case {case_id}: prerequisite transaction {txid} reverted; nothing more is "
                                      "sent (track the case to record the failure)", code="prerequisite_failed")
        if obs.found and obs.success and obs.confirmations >= confirmations:
            return
        if time.monotonic() >= deadline:
            raise NodeUnreachable(f"case {case_id}: transaction {txid} is not confirmed yet "
                                  f"({obs.confirmations} of {confirmations}); run broadcast again later",
                                  code="not_yet_confirmed")
        time.sleep(poll)


def _fault_point(name: str) -> None:
    """Crash-safety tests kill the process here (``RECOVER_FAULT=sent:0``): sent, not yet recorded."""
    if os.environ.get("RECOVER_FAULT") == name:
        os._exit(137)


@dataclass
class TrackReport:
    case_id: int
    status: str
    txs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.case_id, "status": self.status, "transactions": self.txs}


def track_case(session: Session, case: Case, *, actor: str) -> TrackReport:
    if case.status != CaseStatus.BROADCAST.value:
        raise IllegalTransition(f"case {case.id} is '{case.status}': only broadcast cases are tracked",
                                code="not_broadcast")
    net = get_network(case.network)
    chain = adapter(net)
    rows = _signed_rows(session, case.id)
    failures = []
    for row in rows:
        obs = chain.tx_status(row.txid)
        if not obs.found:
            row.status, row.error = "failed", "dropped: the node no longer knows this transaction"
        elif obs.success is False:
            row.status, row.error = "failed", f"reverted in block {obs.block_number}"
        elif obs.block_number is None:
            row.status, row.confirmations = "sent", 0
        else:
            row.block_number, row.confirmations = obs.block_number, obs.confirmations
            row.status = "confirmed" if obs.confirmations >= net.confirmations else "sent"
        if row.status == "failed":
            failures.append(f"{row.role} {row.txid}: {row.error}")
        session.add(row)
    session.flush()
    report = TrackReport(case.id, case.status, [{"seq": r.seq, "role": r.role, "txid": r.txid, "status": r.status,
                                                 "confirmations": r.confirmations, "error": r.error} for r in rows])
    if failures:
        move(session, case, CaseStatus.FAILED, actor=actor, action="failed", details={"failures": failures},
             extra={"refusal_code": "tx_failed", "refusal_reason": "; ".join(failures)})
    elif all(r.status == "confirmed" for r in rows):
        move(session, case, CaseStatus.COMPLETED, actor=actor, action="completed",
             details={"txids": [r.txid for r in rows]})
        if case.credit_account:
            _record_credit(session, case, rows, actor=actor)
    report.status = case.status
    return report


def _record_credit(session: Session, case: Case, rows: list[SignedTx], *, actor: str) -> None:
    quote = current_quote(session, case)
    fact = session.exec(select(DepositFact).where(DepositFact.case_id == case.id)).first()
    net = get_network(case.network)
    asset = net.native_symbol if fact.asset == "native" else f"{net.key}:{fact.asset}"
    credit = Credit(case_id=case.id, account=case.credit_account, network=net.key, asset=asset, amount=quote.net,
                    decimals=fact.decimals, txids=" ".join(r.txid for r in rows))
    session.add(credit)
    session.flush()
    append_event(session, actor=actor, action="credit_recorded", case_id=case.id,
                 details={"account": case.credit_account, "asset": asset, "amount": str(quote.net)})


CREDIT_COLUMNS = ["case_id", "account", "network", "asset", "amount", "decimals", "txids", "completed_at"]


def export_credits(session: Session, out: Path, *, actor: str) -> int:
    """Write the credits not yet exported to a new CSV, once each.

    The file is written and flushed to a temporary name first; the credits are then marked exported
    in the caller's transaction and the file renamed into place after the commit (by the API).
    """
    if out.exists():
        raise InvalidInput(f"{out} exists: refusing to overwrite an export", code="file_exists")
    rows = list(session.exec(select(Credit).where(Credit.exported_at.is_(None)).order_by(Credit.id)))
    batch = uuid.uuid4().hex[:16]
    tmp = out.with_name(out.name + f".{batch}.partial")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CREDIT_COLUMNS)
        for c in rows:
            w.writerow([c.case_id, c.account, c.network, c.asset, str(c.amount), c.decimals, c.txids,
                        c.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")])
        fh.flush()
        os.fsync(fh.fileno())
    now = utcnow()
    for c in rows:
        session.execute(sa.update(Credit).where(Credit.id == c.id, Credit.exported_at.is_(None))
                        .values(exported_at=now, export_batch=batch))
    append_event(session, actor=actor, action="credits_exported",
                 details={"batch": batch, "count": len(rows), "file": out.name})
    return len(rows), tmp
