"""Sign, broadcast, track: the money-moving end of a case.

- sign: only an ``approved`` case whose current plan still hashes to what was approved, whose
  approvals still count, whose deposit is still there (block canonical, funds in place) and whose
  plan still simulates; signed bytes are stored, keys never are.
- broadcast: sends the stored bytes in order, waiting for a step's prerequisites (the gas top-up)
  to confirm, and for its signer to reach its nonce (a top-up whose reserved gas-station nonce
  follows another plan's top-up is not sent before that one: exit 9); progress is committed after
  every send, so a re-run after a crash re-sends the same bytes and never builds a new transaction.
- track: confirmations; all confirmed -> completed (credit-account cases get a ledger credit, and
  what our gas top-ups left at the deposit address goes to the gas book); reverted or dropped ->
  failed with the reason, never retried with new money movement.
"""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.base import Capability, SweepPlan
from chains.config import hsm_label
from chains.errors import ChainError, PermanentChainError
from recover.authority.acting import Verifier, attest, case_subject
from recover.authority.signed_case import load_signed_case
from recover.casework.approvals import case_state
from recover.casework.cases import get_case
from recover.casework.destinations import check_destination, recorded_conditions
from recover.casework.gasbook import holders, settle
from recover.casework.planning import current_plan
from recover.casework.quoting import supersede_plan
from recover.casework.signer_check import audited_status, check_before_signing, check_row
from recover.casework.signing import keys_for_plan
from recover.networks.gas_station import hsm_station_address
from recover.casework.transitions import move
from recover.errors import (
    ConcurrentUpdate,
    IllegalTransition,
    InvalidInput,
    PolicyRefused,
    VerificationRefused,
    Waiting,
)
from recover.life.states import CaseStatus, check_operation
from recover.networks.chainio import adapter
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.canonical import sha256_hex
from recover.storage.models import Case, Credit, DepositFact, SignedTx, utcnow
from recover.storage.models import SweepPlan as PlanRow
from recover.storage.testpoints import fault_point, pause_point


def checked_plan(session: Session, case: Case):
    plan_row = current_plan(session, case)
    if plan_row is None:
        raise IllegalTransition(f"case {case.id} has no plan", code="no_plan")
    doc = json.loads(plan_row.plan_json)
    if sha256_hex(doc) != plan_row.plan_hash:
        raise PolicyRefused(f"the stored plan of case {case.id} no longer matches its hash {plan_row.plan_hash[:16]}…: "
                            "it was altered after it was prepared; refusing to sign", code="plan_altered")
    return plan_row, SweepPlan.from_dict(doc)


def approved_plan(session: Session, case: Case, *, gas_station: str | None = None):
    """The case's current plan, intact (its hash), and everything about it re-derived from signed
    statements and this signer's configuration (:mod:`recover.casework.signer_check`)."""
    plan_row, plan = checked_plan(session, case)
    net = get_network(case.network)
    check_before_signing(session, case, plan_row, plan, net, adapter(net), gas_station=gas_station)
    return plan_row, plan


def gas_station_of(net, chain, signer) -> str | None:
    """The gas station's address as this signer derives it (or as RECOVER_GAS_STATION_ADDRESS names it)."""
    station = os.environ.get("RECOVER_GAS_STATION_ADDRESS") or None
    if station is None and hsm_label(net.gas_station_path) is not None and chain.can(Capability.GAS_STATION):
        return hsm_station_address(net)
    if station is None and signer is not None and net.gas_station_path and chain.can(Capability.GAS_STATION):
        try:
            station = signer.address_for(chain, net.gas_station_path)
        except InvalidInput:  # a backend that cannot derive paths (keystore): no address to compare
            station = None
    return station


def deposit_problem(session: Session, case: Case, chain) -> str | None:
    """None while every deposit of the case is still there (block canonical, funds at the address)."""
    for f in session.exec(select(DepositFact).where(DepositFact.case_id == case.id)):
        problem = chain.recheck_deposit(txid=f.txid, block_number=f.block_number, block_hash=f.block_hash,
                                        recipient=f.receiving_address, asset=f.asset, amount=f.amount,
                                        index=f.deposit_index)
        if problem:
            return problem
    return None


def deposit_still_there(session: Session, case: Case, chain, *, doing: str) -> None:
    """Refuse (exit 6) when a deposit's block was reorganised away or its funds moved."""
    problem = deposit_problem(session, case, chain)
    if problem:
        raise VerificationRefused(f"case {case.id}: {problem}; refusing {doing}", code="deposit_gone")


def sign_with(chain, plan: SweepPlan, signer) -> list[str]:
    """Sign every step with the keys the backend holds for the paths the adapter says the plan needs."""
    return chain.sign(plan, keys_for_plan(chain, plan, signer))


def refuse_unapproved(session: Session, case: Case) -> None:
    """Before the status check of ``sign``, ``export`` and ``import-signed`` (and before any signer is
    asked for): a case still awaiting approval says what it lacks (exit 7 ``approvals_missing``, as the
    signer's own check says of an approved case whose approvals do not count); any other status the
    operation does not accept is the runner's exit 5."""
    if case.status == CaseStatus.AWAITING_APPROVAL.value:
        state = case_state(session, case)
        raise PolicyRefused(f"case {case.id} is not approved yet: {state.missing_text() if state else 'no plan'}",
                            code="approvals_missing")


def sign_case(session: Session, case: Case, *, actor: str, signer) -> list[SignedTx]:
    """Sign an approved case (the runner checked its status and :func:`refuse_unapproved`), or sign a
    signed one again."""
    if case.status == CaseStatus.SIGNED.value:
        return _resign(session, case, actor=actor, signer=signer)
    net = get_network(case.network)
    chain = adapter(net)
    station = gas_station_of(net, chain, signer)
    plan_row, plan = approved_plan(session, case, gas_station=station)
    deposit_still_there(session, case, chain, doing="to sign")
    if not plan.steps:  # a shared-wallet credit: nothing to send; approved and re-checked, it is done
        return _complete_credit_in_place(session, case, plan_row, actor=actor)
    conflict = chain.nonce_conflict(plan)
    if conflict:
        return _replan(session, case, CaseStatus.QUOTED, op="sign", actor=actor, why=conflict)
    if case.return_address:
        check_destination(session, net, plan.destination, asset=plan.asset, gas_station=station, chain=chain,
                          allowed=recorded_conditions(session, case))
    chain.simulate(plan)
    raws = sign_with(chain, plan, signer)
    rows = []
    for step, raw in zip(plan.steps, raws):
        row = SignedTx(case_id=case.id, plan_hash=plan_row.plan_hash, seq=step.seq, role=step.role, raw=raw,
                       txid=chain.txid_of(raw), signed_by=actor)
        session.add(row)
        rows.append(row)
    case_id = case.id  # the session is unusable after a failed flush: read what the message needs first
    try:
        session.flush()
    except sa.exc.IntegrityError:  # another process stored its signatures of this plan first
        raise ConcurrentUpdate(f"case {case_id} was signed by another process at the same time; nothing was "
                               "stored by this one (see `recover case show`)", code="concurrent_sign") from None
    record = attest_signed(session, case, plan_row.plan_hash, rows, actor=actor)
    move(session, case, CaseStatus.SIGNED, op="sign", actor=actor, action="signed",
         details={"plan_hash": plan_row.plan_hash, "txids": [r.txid for r in rows], "statement": record.hash})
    return rows


def _complete_credit_in_place(session: Session, case: Case, plan_row, *, actor: str) -> list[SignedTx]:
    """Carry out a plan without transactions (``recover.casework.memo_plans``: the credit of a deposit
    already in our shared wallet): the wallet team's signed record of it names no transaction, the case
    completes and its credit is recorded, once (a second ``sign`` finds the case completed)."""
    record = attest_signed(session, case, plan_row.plan_hash, [], actor=actor)
    move(session, case, CaseStatus.COMPLETED, op="sign", actor=actor, action="completed",
         details={"plan_hash": plan_row.plan_hash, "txids": [], "statement": record.hash, "credit_in_place": True})
    _record_credit(session, case, plan_row.plan_hash, [], actor=actor)
    return []


def attest_signed(session: Session, case: Case, plan_hash: str, rows: list[SignedTx], *, actor):
    """The wallet team's signed record of the transactions that carry out ``plan_hash``: broadcast,
    track, completion and credits rely on exactly these txids, never on rows (which can be copied)."""
    return attest(actor, session, "signed", case_subject(case.id),
                  {"case": case.id, "plan_hash": plan_hash, "txids": [r.txid for r in rows]})


def completion_problems(session: Session, case: Case, chain, verifier=None, *, plan_row=None, plan=None,
                        rows: list[SignedTx] | None = None) -> list[str]:
    """Why the case's stored transactions are not exactly the signed steps of its signed plan: every
    row one step of the plan (its bytes are the step, signed by the step's signer, where the family
    can tell without a node), its txid the hash of its bytes, and the txids those the wallet team
    recorded signing for this plan.  Empty when everything matches."""
    if plan_row is None:
        plan_row, plan = checked_plan(session, case)
    if rows is None:
        rows = signed_rows(session, case.id, plan_row.plan_hash)
    sc = load_signed_case(verifier or Verifier(session), case.id, plan_row.plan_hash)
    out = list(sc.problems)
    if sc.claim is None:
        out.append("it has no valid signed claim")
    if sc.plan is None:
        out.append(f"its plan {plan_row.plan_hash[:16]}… has no valid signed plan statement")
    txids = [r.txid for r in rows]
    if sc.signed is None:
        out.append("no statement of the wallet team records signing its plan")
    elif sc.signed_txids != txids:
        out.append(f"its transactions ({', '.join(t[:18] for t in txids) or 'none'}) are not the ones the wallet "
                   f"team signed for its plan ({', '.join(t[:18] for t in sc.signed_txids)})")
    if [r.seq for r in rows] != [st.seq for st in plan.steps] or any(r.plan_hash != plan_row.plan_hash for r in rows):
        out.append("its transactions are not one per step of its plan")
        return out
    for step, row in zip(plan.steps, rows):
        try:
            if chain.txid_of(row.raw).lower() != row.txid.lower():
                out.append(f"step {step.seq}: the stored txid is not the hash of the stored bytes")
                continue
            problem = chain.signed_step_problem(step, row.raw)
        except Exception as exc:  # bytes that do not parse are as wrong as bytes that differ
            problem = f"the stored bytes cannot be read ({type(exc).__name__})"
        if problem:
            out.append(f"step {step.seq} ({step.role}): the stored transaction is not the plan's step: {problem}")
    return out


def check_completion(session: Session, case: Case, chain, *, doing: str, plan_row=None, plan=None,
                     rows: list[SignedTx] | None = None) -> None:
    """Refuse (exit 7, ``row_tampered``) transactions that are not exactly the signed plan's."""
    problems = completion_problems(session, case, chain, plan_row=plan_row, plan=plan, rows=rows)
    if problems:
        raise PolicyRefused(f"case {case.id}: {'; '.join(problems)}; refusing {doing}", code="row_tampered",
                            details={"problems": problems})


def _resign(session: Session, case: Case, *, actor: str, signer) -> list[SignedTx]:
    """Sign a signed case again, only if none of its transactions ever reached the chain.

    Solana signatures embed a blockhash that expires in about a minute; a plan signed too long
    before broadcasting must be signed again.  The plan (and so its approvals) is unchanged; the
    node is asked first that no old transaction is known, so nothing can be sent twice.
    """
    rows = signed_rows(session, case.id)
    if any(r.status != "signed" for r in rows):
        raise IllegalTransition(f"case {case.id} has transactions already sent: it cannot be signed again",
                                code="already_sent")
    net = get_network(case.network)
    chain = adapter(net)
    for r in rows:
        if chain.tx_status(r.txid).found:
            raise IllegalTransition(f"transaction {r.txid} of case {case.id} is known to the node: not re-signing",
                                    code="already_sent")
    plan_row, plan = approved_plan(session, case, gas_station=gas_station_of(net, chain, signer))
    chain.simulate(plan)
    raws = sign_with(chain, plan, signer)
    if [r.raw for r in rows] == list(raws):  # deterministic signatures: signing again changes nothing
        raise IllegalTransition(f"case {case.id} is already signed and its signed transactions are still the "
                                "ones to send: run `recover case broadcast`", code="already_signed")
    old = [r.txid for r in rows]
    for row, raw in zip(rows, raws):
        row.raw, row.txid, row.signed_by, row.created_at = raw, chain.txid_of(raw), actor, utcnow()
        session.add(row)
    session.flush()
    record = attest_signed(session, case, plan_row.plan_hash, rows, actor=actor)
    move(session, case, CaseStatus.SIGNED, op="sign", actor=actor, action="resigned",
         details={"plan_hash": plan_row.plan_hash, "old_txids": old, "txids": [r.txid for r in rows],
                  "statement": record.hash})
    return rows


@dataclass
class SendReport:
    case_id: int
    sent: list[str] = field(default_factory=list)
    status: str = ""
    resent: list[str] = field(default_factory=list)  # of ``sent``: sent by an earlier run, sent again (same bytes)

    def to_dict(self) -> dict:
        return {"id": self.case_id, "sent": self.sent, "status": self.status, "resent": self.resent}


def signed_rows(session: Session, case_id: int, plan_hash: str | None = None) -> list[SignedTx]:
    """The signed transactions of the case's current plan (a reopened case keeps its old, failed ones)."""
    if plan_hash is None:
        plan = current_plan(session, session.get(Case, case_id))
        plan_hash = plan.plan_hash if plan else ""
    return list(session.exec(select(SignedTx).where(SignedTx.case_id == case_id, SignedTx.plan_hash == plan_hash)
                             .order_by(SignedTx.seq)))


def broadcast_case(session_factory, case_id: int, *, actor: str, wait_seconds: float = 120.0,
                   poll: float = 1.0) -> SendReport:
    with session_factory() as s:
        case = get_case(s, case_id)
        check_operation("broadcast", case_id, case.status)
        check_row(s, case, doing="to broadcast it")
        plan_row, plan = checked_plan(s, case)
        rows = signed_rows(s, case_id, plan_row.plan_hash)
        if not rows:
            raise IllegalTransition(f"case {case_id} has no signed transactions", code="not_signed")
        net = get_network(case.network)
        chain = adapter(net)
        check_completion(s, case, chain, doing="to broadcast it; nothing was sent", plan_row=plan_row, plan=plan,
                         rows=rows)
    report = SendReport(case_id)
    by_seq = {r.seq: r for r in rows}
    after = {st.seq: st.after for st in plan.steps}
    unsent = {r.seq for r in rows if r.status == "signed"}
    for row in rows:
        for dep in after.get(row.seq, ()):
            _wait_confirmed(chain, by_seq[dep].txid, net.confirmations, wait_seconds, poll, case_id)
        if row.seq in unsent:
            _recheck_before_send(session_factory, case_id, chain, plan, row, unsent, first=len(unsent) == len(rows),
                                 actor=actor)
        txid = chain.broadcast(row.raw)  # the same bytes every time: "already known" is success
        fault_point(f"sent:{row.seq}")
        if txid.lower() != row.txid.lower():
            raise PolicyRefused(f"node returned txid {txid} for stored bytes of {row.txid}", code="txid_mismatch")
        with session_factory() as s:  # commit each send: a crash after this line loses nothing
            marked = s.execute(sa.update(SignedTx).where(SignedTx.id == row.id, SignedTx.status == "signed")
                               .values(status="sent", sent_at=utcnow()))
            if marked.rowcount == 1:  # only the process that marked it records the send (one event per effect)
                append_event(s, actor=actor, action="tx_sent", case_id=case_id,
                             details={"seq": row.seq, "role": row.role, "txid": row.txid})
        if row.seq not in unsent:
            report.resent.append(row.txid)
        unsent.discard(row.seq)
        report.sent.append(row.txid)
    with session_factory() as s:
        case = s.get(Case, case_id)
        if case.status == CaseStatus.SIGNED.value:
            move(s, case, CaseStatus.BROADCAST, op="broadcast", actor=actor, action="broadcast",
                 details={"txids": report.sent})
        report.status = s.get(Case, case_id).status
    return report


def _replan(session: Session, case: Case, to: CaseStatus, *, op: str, actor: str, why: str):
    """The plan can never be mined as it is (a nonce was taken): void it and its approvals, send the case
    back (``quoted``: prepare again; ``verified``: quote and prepare again), and say why."""
    supersede_plan(session, case, actor=actor, why=why)
    move(session, case, to, op=op, actor=actor, action="replan_needed", details={"why": why},
         extra={"refusal_code": "nonce_taken", "refusal_reason": f"{why}: the plan was voided; prepare the case "
                "again (and have it approved again)"})
    raise _Replanned(f"case {case.id}: {why}; the plan and its approvals were voided and the case is back at "
                     f"'{to.value}': run `recover case {'prepare' if to == CaseStatus.QUOTED else 'quote'} {case.id}`",
                     code="replan_needed", details={"why": why, "status": to.value})


class _Replanned(IllegalTransition):
    """Raised after the re-plan is recorded: the API commits it (see ``recover.api``) and exits 5."""

    commit = True


class _Recorded(VerificationRefused):
    """A refusal whose record (the case moved, why) is committed before it is raised."""

    commit = True


def _recheck_before_send(session_factory, case_id: int, chain, plan: SweepPlan, row: SignedTx, unsent: set[int], *,
                         first: bool, actor: str) -> None:
    """Before a transaction leaves: the deposit is still there (before the first send, the gas top-up
    included) and this step and every later unsent one would still succeed now (simulated at the
    chain's tip).  A step the node already knows (sent by a run that crashed before recording it) is
    not re-checked: sending its bytes again changes nothing."""
    if chain.tx_status(row.txid).found:
        return
    if first:
        with session_factory() as s:
            deposit_still_there(s, s.get(Case, case_id), chain, doing="to broadcast; nothing was sent")
    remaining = tuple(st for st in plan.steps if st.seq in unsent and st.seq >= row.seq)
    conflict = chain.nonce_conflict(_replace(plan, steps=remaining))
    if conflict and _sent_meanwhile(session_factory, chain, row):
        return  # the nonce was taken by this very step, sent by a concurrent broadcaster
    if conflict:
        with session_factory() as s:  # _replan's error commits what it recorded (``commit = True``)
            case = s.get(Case, case_id)
            problem = deposit_problem(s, case, chain)
            if problem is None:
                _replan(s, case, CaseStatus.VERIFIED, op="broadcast", actor=actor, why=conflict)
            move(s, case, CaseStatus.FAILED, op="broadcast", actor=actor, action="failed",
                 details={"why": conflict, "funds": problem},
                 extra={"refusal_code": "nonce_taken", "refusal_reason": f"{conflict}; {problem}"})
            raise _Recorded(f"case {case_id}: {conflict}, and {problem}: the case failed", code="nonce_taken")
    step = next(st for st in plan.steps if st.seq == row.seq)
    ahead = chain.nonce_ahead(_replace(plan, steps=(step,)))
    if ahead is not None:  # an earlier transaction of that account (another plan's top-up) comes first
        raise _nonce_wait(session_factory, case_id, ahead)
    try:
        chain.simulate(_replace(plan, steps=remaining))
    except PermanentChainError as exc:
        if _sent_meanwhile(session_factory, chain, row):
            return  # it fails now because it is already mined: another broadcaster sent these bytes
        raise VerificationRefused(f"case {case_id}: step {row.seq} ({row.role}) would fail now: {exc}; it was not "
                                  "sent (no gas is spent into a sweep that cannot succeed)", code="would_fail",
                                  details={"seq": row.seq, "reason": exc.details.get("reason", str(exc))}) from None


def _nonce_wait(session_factory, case_id: int, ahead) -> Waiting:
    """Exit 9: the step is sent once its signer reaches its nonce; the message names the cases whose
    reserved top-ups come first, or the free nonces the next prepare on the network will take."""
    with session_factory() as s:
        case = s.get(Case, case_id)
        net = get_network(case.network)
        held = holders(s, case.chain, net.family, ahead.signer, ahead.pending, ahead.nonce)
    free = [n for n in range(ahead.pending, ahead.nonce) if n not in held]
    parts = []
    if held:
        parts.append("reserved by " + ", ".join(f"case {c} (nonce {n})" for n, c in sorted(held.items())))
    if free:
        parts.append(f"nonce{'s' if len(free) > 1 else ''} {', '.join(map(str, free))} held by no live plan (released "
                     "by a voided one): the next case prepared with a gas top-up on this network takes "
                     f"{'them' if len(free) > 1 else 'it'}")
    return Waiting(f"case {case_id}: {ahead.message}, {'; '.join(parts)}; nothing was sent: run broadcast again later",
                   code="nonce_not_reached", details={"seq": ahead.seq, "signer": ahead.signer, "nonce": ahead.nonce,
                                                      "pending": ahead.pending, "held_by": sorted(held.values()),
                                                      "free": free})


def _sent_meanwhile(session_factory, chain, row: SignedTx) -> bool:
    """Whether another process sent this very step between our first look and the re-check (two
    broadcasters of one case race; the loser must not read its own mined step as a conflict)."""
    with session_factory() as s:
        stored = s.get(SignedTx, row.id)
        if stored is not None and stored.status != "signed":
            return True
    return chain.tx_status(row.txid).found


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
            raise Waiting(f"case {case_id}: transaction {txid} is not confirmed yet "
                          f"({obs.confirmations} of {confirmations} confirmations); run broadcast again later (what could be "
                          "sent was sent)", code="prerequisite_unconfirmed",
                          details={"txid": txid, "confirmations": obs.confirmations, "needed": confirmations})
        time.sleep(poll)


@dataclass
class TrackReport:
    case_id: int
    status: str
    txs: list[dict] = field(default_factory=list)
    confirmations_needed: int = 0  # the network's confirmation depth

    def to_dict(self) -> dict:
        return {"id": self.case_id, "status": self.status, "transactions": self.txs,
                "confirmations_needed": self.confirmations_needed}


def track_case(session: Session, case: Case, *, actor: str) -> TrackReport:
    """Follow the case's transactions to the network's confirmation depth.

    A transaction the node no longer knows (a reorg, an eviction from the pool) is sent again, the
    same bytes, while they are valid.  When one cannot succeed any more, the case goes back to be
    planned again if its money is still at the deposit address (``verified``: quote, prepare,
    approve again), and only otherwise ``failed``.  A failed case is tracked too: a dropped
    transaction that lands later completes it (and records its credit).
    """
    status = CaseStatus(case.status)  # one the operations table lets ``track`` start in (``recover.casework.runner``)
    check_row(session, case, doing="to track it")
    net = get_network(case.network)
    chain = adapter(net)
    rows = signed_rows(session, case.id)
    check_completion(session, case, chain, doing="to track it; nothing was sent, completed or credited", rows=rows)
    failures = []
    for row in rows:
        obs = chain.tx_status(row.txid)
        if not obs.found and status == CaseStatus.FAILED:
            continue  # it has not landed (yet): nothing to send again for a failed case
        if not obs.found:
            try:
                chain.broadcast(row.raw)  # the same bytes: valid until their nonce or inputs are used
            except ChainError as exc:
                row.status, row.error = "failed", f"dropped, and the node refuses it again: {exc}"
            else:
                row.status, row.error, row.confirmations = "sent", None, 0
                append_event(session, actor=actor, action="tx_resent", case_id=case.id,
                             details={"seq": row.seq, "role": row.role, "txid": row.txid,
                                      "why": "the node no longer knew it (reorg or eviction)"})
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
                                                 "confirmations": r.confirmations, "error": r.error} for r in rows],
                         net.confirmations)
    if rows and all(r.status == "confirmed" for r in rows):
        left = _settle_gas(session, case, chain, net, rows, actor=actor)
        move(session, case, CaseStatus.COMPLETED, op="track", actor=actor, action="completed",
             details={"txids": [r.txid for r in rows], "late": status == CaseStatus.FAILED,
                      **({"gas_left": str(left)} if left else {})})
        if case.credit_account:
            _record_credit(session, case, rows[0].plan_hash, rows, actor=actor)
    elif failures and status == CaseStatus.BROADCAST:
        problem = deposit_problem(session, case, chain)
        reason = "; ".join(failures)
        if problem is None:  # the money has not moved: plan the recovery again, never "failed"
            supersede_plan(session, case, actor=actor, why="a transaction of the plan can no longer succeed")
            move(session, case, CaseStatus.VERIFIED, op="track", actor=actor, action="replan_needed",
                 details={"failures": failures, "funds": "still at the deposit address"},
                 extra={"refusal_code": "tx_failed", "refusal_reason": f"{reason}; the funds are still at the "
                        "deposit address: quote and prepare the case again"})
        else:
            move(session, case, CaseStatus.FAILED, op="track", actor=actor, action="failed",
                 details={"failures": failures, "funds": problem},
                 extra={"refusal_code": "tx_failed", "refusal_reason": f"{reason}; {problem}"})
    report.status = case.status
    return report


def _settle_gas(session: Session, case: Case, chain, net, rows: list[SignedTx], *, actor: str) -> int:
    """The plan is carried out: what our gas left at the deposit address is ours again (the gas book).
    A stored plan that no longer matches its hash is not believed: nothing is added (the book may
    under-count, never over-count), and the case completes all the same (its transactions did)."""
    try:
        plan_row, plan = checked_plan(session, case)
    except PolicyRefused:
        append_event(session, actor=actor, action="gas_left_unknown", case_id=case.id,
                     details={"why": "the stored plan no longer matches its hash"})
        return 0
    left = chain.own_gas_left(plan, [r.txid for r in rows])
    settle(session, case, net.family, plan, plan_row.plan_hash, left)
    return left


def signed_credit(session: Session, case_id: int, plan_hash: str, verifier=None) -> tuple[str, int, dict]:
    """The account and amount a completed credit case is owed, from its signed claim and quote (the
    ones behind the plan that was carried out), and the first proven fact; ``PolicyRefused`` when the
    statements do not give them."""
    sc = load_signed_case(verifier or Verifier(session), case_id, plan_hash)
    account = sc.claim_fields.get("credit_account")
    if not account or sc.quote is None or sc.plan is None or not sc.facts:
        raise PolicyRefused(f"case {case_id}: no valid signed claim, quote and plan name a credit account and "
                            "amount; no credit is recorded or exported", code="credit_unsigned")
    return account, int(sc.quote_fields["net"]), sc.facts[0]


def _record_credit(session: Session, case: Case, plan_hash: str, rows: list[SignedTx], *, actor: str) -> None:
    net = get_network(case.network)
    account, amount, fact = signed_credit(session, case.id, plan_hash)
    asset = net.native_symbol if fact["asset"] == "native" else f"{net.key}:{fact['asset']}"
    credit = Credit(case_id=case.id, account=account, network=net.key, asset=asset, amount=amount,
                    decimals=int(fact["decimals"]), txids=" ".join(r.txid for r in rows))
    session.add(credit)
    session.flush()
    append_event(session, actor=actor, action="credit_recorded", case_id=case.id,
                 details={"account": account, "asset": asset, "amount": str(amount)})


def credited_plan(session: Session, case_id: int) -> str:
    """The hash of the plan whose confirmed transactions a credit is for; a credit in place (no
    transactions) is for the case's current plan, whose signed record names none."""
    found = session.exec(select(SignedTx.plan_hash).where(SignedTx.case_id == case_id, SignedTx.status == "confirmed")
                         .order_by(SignedTx.id.desc())).first()
    if found:
        return found
    return session.exec(select(PlanRow.plan_hash).where(PlanRow.case_id == case_id, PlanRow.superseded_at.is_(None))
                        .order_by(PlanRow.id.desc())).first() or ""


def _check_credits(session: Session, credits: list[Credit]) -> None:
    """Every credit says what the signed statements of its case say, and its case is completed in the
    audit log; otherwise nothing is exported (exit 7 naming the case)."""
    verifier = Verifier(session)
    for c in credits:
        problems = []
        try:
            account, amount, _ = signed_credit(session, c.case_id, credited_plan(session, c.case_id), verifier)
        except PolicyRefused as exc:
            problems.append(str(exc))
        else:
            if c.account != account:
                problems.append(f"its account is {c.account!r}, the signed claim says {account!r}")
            if c.amount != amount:
                problems.append(f"its amount is {c.amount}, the signed quote says {amount}")
        case = session.get(Case, c.case_id)
        if case is not None:
            problems += _credit_on_chain(session, case, c, verifier)
        audited = audited_status(session, c.case_id)
        if case is None or case.status != "completed" or audited != "completed":
            problems.append(f"the case is {case.status if case else 'missing'!r} (audit log: {audited!r}), "
                            "not completed")
        if problems:
            raise PolicyRefused(f"credit of case {c.case_id}: {'; '.join(problems)}; nothing was exported",
                                code="credit_tampered", details={"case_id": c.case_id, "problems": problems})


def _credit_on_chain(session: Session, case: Case, credit: Credit, verifier) -> list[str]:
    """A credit is owed only for a sweep that happened: its transactions are the signed steps of the
    case's signed plan (the wallet team's record names them), and the chain has them confirmed."""
    plan_hash = credited_plan(session, case.id)
    plan_row = session.exec(select(PlanRow).where(PlanRow.case_id == case.id, PlanRow.plan_hash == plan_hash)
                            .order_by(PlanRow.id.desc())).first()
    if plan_row is None:
        return ["no plan of the case was carried out"]
    doc = json.loads(plan_row.plan_json)
    if sha256_hex(doc) != plan_row.plan_hash:
        return [f"its plan {plan_hash[:16]}… was altered after it was prepared"]
    net = get_network(case.network)
    chain = adapter(net)
    rows = signed_rows(session, case.id, plan_hash)
    problems = completion_problems(session, case, chain, verifier, plan_row=plan_row, plan=SweepPlan.from_dict(doc),
                                   rows=rows)
    if sorted(credit.txids.split()) != sorted(r.txid for r in rows):
        problems.append("its transactions are not the case's signed transactions")
    if problems:
        return problems
    if not plan_row_steps(doc):  # a credit in place: owed only for a deposit our shared wallet really got
        return _in_place_problems(session, case, net, chain)
    for row in rows:
        obs = chain.tx_status(row.txid)
        if not (obs.found and obs.success and obs.confirmations >= net.confirmations):
            problems.append(f"transaction {row.txid} is not confirmed on {net.key} "
                            f"({'not found' if not obs.found else 'failed' if obs.success is False else f'{obs.confirmations} confirmations'})")
    return problems


def plan_row_steps(doc: dict) -> list:
    return list(doc.get("steps") or [])


def _in_place_problems(session: Session, case: Case, net, chain) -> list[str]:
    """A credit without transactions: only on a shared-wallet network, and only while the deposit's
    transaction is still on chain, successful and confirmed."""
    if net.deposit_model != "shared_memo":
        return [f"its plan moves nothing, and {net.key} is no shared-wallet network"]
    problems = []
    for f in session.exec(select(DepositFact).where(DepositFact.case_id == case.id)):
        obs = chain.tx_status(f.txid)
        if not (obs.found and obs.success and obs.confirmations >= net.confirmations):
            problems.append(f"its deposit {f.txid} is not a confirmed successful transaction on {net.key}")
    if not problems:
        problem = deposit_problem(session, case, chain)
        if problem:
            problems.append(problem)
    return problems


CREDIT_COLUMNS = ["case_id", "account", "network", "asset", "amount", "decimals", "txids", "completed_at"]


def export_credits(session: Session, out: Path, *, actor: str) -> int:
    """Write the credits not yet exported to a new CSV, once each.

    The file is written and flushed to a temporary name first; the credits are then marked exported
    in the caller's transaction and the file renamed into place after the commit (by the API).
    """
    if out.exists():
        raise InvalidInput(f"{out} exists: refusing to overwrite an export", code="file_exists")
    if not out.parent.is_dir():
        raise InvalidInput(f"cannot write {out}: the folder {out.parent} does not exist", code="bad_file")
    # Claim the batch first: on PostgreSQL the rows are locked (a concurrent export skips them and
    # gets the others, or none); SQLite's BEGIN IMMEDIATE already serialises whole transactions.
    rows = list(session.exec(select(Credit).where(Credit.exported_at.is_(None)).order_by(Credit.id)
                             .with_for_update(skip_locked=True)))
    _check_credits(session, rows)
    pause_point("credits_claimed")
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
        done = session.execute(sa.update(Credit).where(Credit.id == c.id, Credit.exported_at.is_(None))
                               .values(exported_at=now, export_batch=batch))
        if done.rowcount != 1:  # cannot happen under the lock; never write a credit twice if it does
            Path(tmp).unlink(missing_ok=True)
            raise ConcurrentUpdate(f"credit of case {c.case_id} was exported by another process meanwhile: "
                                   "run the export again", code="concurrent_export")
    append_event(session, actor=actor, action="credits_exported",
                 details={"batch": batch, "count": len(rows), "file": out.name})
    return len(rows), tmp
