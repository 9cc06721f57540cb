"""Verifying cases: gather from the chain (batched), decide purely, persist a chunk at once.

``verify_cases`` serves both ``case verify ID`` and ``case verify --all``: node reads of all cases
go out in batched JSON-RPC requests (observe, then prove), the decisions are pure
(``recover.casework.classify``), and a chunk's outcomes are written in one transaction by a few multi-row
statements (``_write``); if that fails, each case is written in its own savepoint by the same code
(``_write_cases``: one write path, whose state changes are ``recover.casework.transitions.move_many``), so one
bad case never stops the batch and a refused case records why.  The node reads run in a thread ahead of
planning and writing (:mod:`recover.casework.verify_reads`), started by the command before it loads
this module when it can.
"""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.base import NATIVE, Capability
from chains.errors import (
    EXIT_CHAIN_REFUSED,
    EXIT_NODE,
    EXIT_NOT_FOUND,
    EXIT_WAITING,
    ChainError,
    RetryableChainError,
    as_toolkit_error,
)
from recover.authority.acting import attest_many, case_subject
from recover.authority.signed_case import facts_body
from recover.authority.statement_log import forget_heads
from recover.casework.cases import MAX_CASE_ID
from recover.casework.classify import (Decision, Registration, candidate_transfers, check_transaction, decide,
                                       refuse, retry, symbol_lookalike)
from recover.casework.destinations import lookalike_flags_many
from recover.casework.memo_classify import WRONG_MEMO_FLAG, decide_memo, pick_transfers
from recover.casework.transitions import Move, move_many
from recover.casework.verify_reads import CHUNK, NodeReads, ReadAhead, claim_asset, observe_claims, proof_key
from recover.errors import DuplicateClaim, IllegalTransition, error_for_exit
from recover.life.operations import OPERATIONS
from recover.life.shared_rules import SYMBOL_LOOKALIKE_FLAG
from recover.life.states import CaseStatus, check_operation
from recover.networks.chainio import adapter
from recover.networks.memos import signed_memos
from recover.networks.registry import family_networks, get_network
from recover.storage.audit import append_events
from recover.storage.models import Case, DepositAddress, DepositFact, StatementRecord, utcnow


@dataclass
class CaseResult:
    case_id: int
    outcome: str          # verified | refused | retry | error
    code: str
    message: str
    classification: str | None = None
    exit_code: int = 0

    def to_dict(self) -> dict:
        return {"id": self.case_id, "outcome": self.outcome, "code": self.code, "message": self.message,
                "classification": self.classification}

    def raise_if_not_verified(self) -> None:
        """``case verify ID``: anything but verified is raised (after it was recorded), with its exit
        code (6 refused, 9 waiting, 8 node unreachable, or the error's own)."""
        if self.outcome != "verified":
            raise error_for_exit(self.exit_code or EXIT_CHAIN_REFUSED)(self.message, code=self.code)


@dataclass
class BatchSummary:
    results: list[CaseResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        refused = Counter(r.code for r in self.results if r.outcome == "refused")
        later = Counter(r.code for r in self.results if r.outcome in ("retry", "error"))
        return {"verified": sum(r.outcome == "verified" for r in self.results),
                "refused": dict(sorted(refused.items())), "retry_later": dict(sorted(later.items())),
                "cases": [r.to_dict() for r in self.results]}


WAITING_CODES = frozenset({"tx_not_found", "unconfirmed"})  # exit 9: nothing wrong, run again later

def _registrations(session: Session, key: Callable[[str], str], addresses: set[str]) -> dict[str, list[DepositAddress]]:
    keys = {key(a) for a in addresses}
    out: dict[str, list[DepositAddress]] = defaultdict(list)
    keys_list = sorted(keys)
    for i in range(0, len(keys_list), 500):
        for row in session.exec(select(DepositAddress).where(DepositAddress.address_key.in_(keys_list[i:i + 500]))):
            out[row.address_key].append(row)
    return out


def _plan_claim(case: Case, net, chain, obs, regs, nested: dict[str, dict] | None = None,
                nested_error: ChainError | None = None
                ) -> tuple[list, Registration | None, list[Registration]] | Decision:
    """Pick the transfers of the claim that reach one of our addresses (one recipient, one asset).

    Solana: a token transfer whose recipient is not registered but is a token account (``nested``:
    recipient -> ``{"wallet", ...}`` from the adapter's ``nested_parents``) of a registered wallet is
    ours, with the wallet's registration (a nested token account).  ``nested_error``: the lookup failed.
    """
    family = net.family
    key = chain.address_key
    asset = claim_asset(case, net)
    transfers = candidate_transfers(obs, case.deposit_address, asset, key)
    if not transfers and case.deposit_address and asset in (None, NATIVE) and chain.can(Capability.INTERNAL_TRANSFERS):
        try:
            internal = chain.internal_transfer(obs, case.deposit_address)
        except ChainError as exc:  # e.g. no_trace: the value cannot be tied to this transaction
            return retry(exc.code, str(exc))
        transfers = [internal] if internal is not None else []
    if not transfers:
        return refuse("no_matching_transfer", "the transaction moves nothing "
                      + (f"to {case.deposit_address}" if case.deposit_address else "")
                      + (f" in {case.asset}" if case.asset else ""))

    def regs_of(addr: str):
        rows = regs.get(key(addr), [])
        parent = (nested or {}).get(addr)
        if not rows and parent is not None:
            rows = regs.get(parent["wallet"], [])
        return rows

    same_family = family_networks(family)
    ours = [t for t in transfers if any(r.network in same_family for r in regs_of(t.recipient))]
    if not ours and nested_error is not None and any(t.asset != NATIVE for t in transfers):
        return retry(nested_error.code, f"cannot tell whether a recipient is a nested token account: {nested_error}")
    if not ours:  # not final: the address may simply not be imported yet
        return retry("not_ours", (f"{transfers[0].recipient} is not one of our deposit addresses"
                                  if len({t.recipient for t in transfers}) == 1 else
                                  "none of the transaction's recipients is one of our deposit addresses")
                     + " (the case stays open: import the address and verify it again)")
    groups = {(key(t.recipient), t.asset) for t in ours}
    if len(groups) > 1:
        return retry("ambiguous_claim", "the transaction pays several of our addresses or assets; open the case "
                                        "with --deposit-address and --asset to say which deposit it claims")
    rows = regs_of(ours[0].recipient)
    here = next((r for r in rows if r.network == net.key), None)
    elsewhere = [r for r in rows if r.network != net.key and r.network in same_family]
    to_reg = lambda r: Registration(r.network, r.status, r.derivation_path, r.account)  # noqa: E731
    return ours, (to_reg(here) if here else None), [to_reg(r) for r in elsewhere]


def verify_cases(session_factory: Callable, case_ids: list[int], *, actor: str,
                 progress: Callable[[int], None] | None = None, ahead: ReadAhead | None = None) -> BatchSummary:
    """Verify the given open cases; returns one result per case (never raises for one case).
    ``ahead``: node reads already under way (:func:`recover.casework.verify_reads.read_ahead`)."""
    # The objects alive before the batch (modules, configuration, ...) stay alive through it: frozen,
    # the full garbage collections that its allocations trigger do not walk them again each time (at
    # 1,000 cases one such walk was a tenth of the run).  Nothing else changes; unfrozen at the end.
    gc.freeze()
    try:
        return _verify_cases(session_factory, case_ids, actor=actor, progress=progress, ahead=ahead)
    finally:
        gc.unfreeze()


def _verify_cases(session_factory: Callable, case_ids: list[int], *, actor: str,
                  progress: Callable[[int], None] | None = None, ahead: ReadAhead | None = None) -> BatchSummary:
    summary = BatchSummary()
    for cid in [c for c in case_ids if not 1 <= c <= MAX_CASE_ID]:
        summary.results.append(CaseResult(cid, "error", "case_not_found", f"no case {cid}", exit_code=EXIT_NOT_FOUND))
    case_ids = [c for c in case_ids if 1 <= c <= MAX_CASE_ID]
    with session_factory() as s:
        cases = list(s.exec(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id))) if case_ids else []
    found = {c.id for c in cases}
    for cid in case_ids:
        if cid not in found:
            summary.results.append(CaseResult(cid, "error", "case_not_found", f"no case {cid}",
                                              exit_code=EXIT_NOT_FOUND))
    by_network: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        try:
            check_operation("verify", c.id, c.status)
        except IllegalTransition as exc:
            summary.results.append(CaseResult(c.id, "error", exc.code, str(exc), exit_code=exc.exit_code))
            continue
        by_network[c.network].append(c)
    for network, group in by_network.items():
        summary.results.extend(_verify_network(session_factory, get_network(network), group, actor=actor,
                                               progress=progress, reads=ahead.take(network) if ahead else None))
    summary.results.sort(key=lambda r: r.case_id)
    return summary


@dataclass
class _Chunk:
    """One chunk on its way: observed (``observations``), planned (``decisions`` so far, ``plans``,
    ``items`` to prove), then decided; ``failed``: the results of every case when its reads could
    not even start (the node unreachable, a configuration error)."""
    cases: list[Case]
    chain: object = None
    observations: dict = field(default_factory=dict)
    failed: list[CaseResult] | None = None
    decisions: dict[int, Decision] = field(default_factory=dict)
    plans: dict[int, tuple] = field(default_factory=dict)
    items: list = field(default_factory=list)
    memos: dict = field(default_factory=dict)  # shared-wallet networks: memo -> MemoEntry (signed registry)
    ahead: dict = field(default_factory=dict)  # the proofs read ahead (``verify_reads.proof_key`` -> proof)


def _verify_network(session_factory, net, group: list[Case], *, actor,
                    progress: Callable[[int], None] | None, reads: NodeReads | None = None) -> list[CaseResult]:
    """The chunks of one network, in order, each: observe, plan, prove, decide, write.

    The node reads come from ``reads`` (:class:`recover.casework.verify_reads.NodeReads`, started
    here unless the command started it earlier): a thread that observes the chunks and proves the
    transfers each claim names, ahead of this thread, which plans (reading the registry), takes the
    proofs it needs, asks the node for any it lacks, decides and writes.  Every outcome is what reading
    chunk by chunk gives (no read of a chunk depends on the writes of another: they are different
    cases, and registrations are not written here); what differs is only when the node is asked.
    Should a chunk fail (planning or writing raises), the chunks before it stay written and nothing
    after it is decided; the reads stop."""
    chunks = [group[i:i + CHUNK] for i in range(0, len(group), CHUNK)]
    if reads is None:
        reads = NodeReads(net, [(c.txid, c.deposit_address, claim_asset(c, net)) for c in group], chunk=CHUNK).start()
    results: list[CaseResult] = []
    try:
        for cases in chunks:
            chunk = _plan_chunk(session_factory, net, _observe_chunk(net, cases, reads))
            chunk = _decide_chunk(net, chunk, _prove_chunk(chunk))
            if chunk.failed is not None:
                results.extend(chunk.failed)
            else:
                results.extend(_write(session_factory, net, chunk.cases, chunk.observations, chunk.decisions,
                                      actor=actor))
            if progress:
                progress(len(chunk.cases))
    finally:
        reads.close()
    return results


def _observe_chunk(net, cases: list[Case], reads: NodeReads) -> _Chunk:
    """Node reads, part one: the claimed transactions, as ``reads`` has them (waiting for them), and
    any it does not (a case opened after it started) read here."""
    chunk = _Chunk(cases)
    got = reads.take([c.txid for c in cases])
    try:
        if got.error is not None:
            raise got.error
        chain = chunk.chain = reads.chain or adapter(net)  # none when the reads had nothing of this chunk
        missing = [c for c in cases if c.txid not in got.observations]
        if missing:
            got.observations.update(observe_claims(chain, [(c.txid, c.deposit_address, claim_asset(c, net))
                                                                for c in missing]))
        chunk.observations, chunk.ahead = got.observations, got.proofs
    except ChainError as exc:
        chunk.failed = [CaseResult(c.id, "error", exc.code, str(exc), exit_code=exc.exit_code) for c in cases]
    except Exception as exc:  # a config error (unset ${VAR}) and the like: every case of the network
        err = as_toolkit_error(exc)
        chunk.failed = [CaseResult(c.id, "error", err.code, str(exc), exit_code=err.exit_code) for c in cases]
    return chunk


def _plan_chunk(session_factory, net, chunk: _Chunk) -> _Chunk:
    """Registrations of the recipients, the early refusals, and the transfers each claim needs proved."""
    if chunk.failed is not None:
        return chunk
    chain, cases, observations = chunk.chain, chunk.cases, chunk.observations
    with session_factory() as s:
        recipients = {t.recipient for o in observations.values() for t in o.transfers}
        recipients |= {c.deposit_address for c in cases if c.deposit_address}
        regs = _registrations(s, chain.address_key, recipients)
    nested, nested_error = _nested_parents(session_factory, net, chain, observations, regs)
    memo_model = net.deposit_model == "shared_memo"
    for c in cases:
        obs = observations[c.txid]
        early = check_transaction(obs, net)
        if early:
            chunk.decisions[c.id] = early
            continue
        planned = (_plan_memo_claim(c, net, chain, obs, regs) if memo_model
                   else _plan_claim(c, net, chain, obs, regs, nested, nested_error))
        if isinstance(planned, Decision):
            chunk.decisions[c.id] = planned
        else:
            chunk.plans[c.id] = planned
    chunk.items = [(observations[c.txid], t) for c in cases if c.id in chunk.plans for t in chunk.plans[c.id][0]]
    if memo_model:  # what the exchange's signed memo registry says of the memos these deposits carry
        with session_factory() as s:
            chunk.memos = signed_memos(s, net.key, {t.memo for _, t in chunk.items if t.memo})
    return chunk


def _plan_memo_claim(case: Case, net, chain, obs, regs) -> tuple[list, Registration, list] | Decision:
    """A shared-wallet claim: the one transfer it names (``--msg-index`` where the transaction makes
    several) that reaches one of our shared deposit addresses on this network."""
    to_reg = lambda r: Registration(r.network, r.status, r.derivation_path, r.account)  # noqa: E731
    shared = {k: to_reg(r) for k, rows in regs.items() for r in rows if r.network == net.key and r.kind == "shared"}
    picked = pick_transfers(obs, msg_index=case.msg_index, asset=claim_asset(case, net),
                            deposit_address=case.deposit_address, shared=shared, address_key=chain.address_key)
    if isinstance(picked, Decision):
        return picked
    return picked, shared[chain.address_key(picked[0].recipient)], []


def _prove_chunk(chunk: _Chunk) -> list:
    """Node reads, part two: the balance proofs of the planned transfers, those read ahead taken, the
    rest asked for here in one batch."""
    if chunk.failed is not None or not chunk.items:
        return []
    proofs = [chunk.ahead.get(proof_key(obs, t)) for obs, t in chunk.items]
    rest = [item for item, p in zip(chunk.items, proofs) if p is None]
    if rest:
        try:
            asked = iter(chunk.chain.prove_each(rest))
        except ChainError as exc:  # the node went away: every case of the chunk waits for a retry
            return [exc] * len(chunk.items)
        proofs = [p if p is not None else next(asked) for p in proofs]
    return proofs


def _decide_chunk(net, chunk: _Chunk, proofs: list) -> _Chunk:
    """Each planned case's decision from its proofs (pure)."""
    if chunk.failed is not None:
        return chunk
    pos = 0
    for c in chunk.cases:
        if c.id not in chunk.plans:
            continue
        transfers, here, elsewhere = chunk.plans[c.id]
        mine = proofs[pos:pos + len(transfers)]
        pos += len(transfers)
        failed = next((p for p in mine if isinstance(p, ChainError)), None)
        if failed is not None:
            chunk.decisions[c.id] = (retry(failed.code, str(failed)) if isinstance(failed, RetryableChainError)
                                     else refuse(failed.code, str(failed)))
            continue
        if net.deposit_model == "shared_memo":
            chunk.decisions[c.id] = decide_memo(net, chunk.observations[c.txid], mine[0], here,
                                                chunk.memos.get(transfers[0].memo or ""),
                                                credit_account=c.credit_account)
            continue
        chunk.decisions[c.id] = decide(net, chunk.observations[c.txid], list(mine), here, elsewhere)
    return chunk


def _nested_parents(session_factory, net, chain, observations, regs) -> tuple[dict[str, dict], ChainError | None]:
    """``NESTED_ACCOUNTS`` (Solana): unregistered token recipients that are token accounts
    (``{recipient: {"wallet", ...}}``), with the wallets' registrations added to ``regs``.  Other
    families: nothing."""
    if not chain.can(Capability.NESTED_ACCOUNTS):
        return {}, None
    unknown = sorted({t.recipient for o in observations.values() if o.found and o.success
                      for t in o.transfers if t.asset != NATIVE and t.recipient not in regs})
    if not unknown:
        return {}, None
    try:
        nested = chain.nested_parents(unknown)
    except ChainError as exc:
        return {}, exc
    if nested:
        with session_factory() as s:
            regs.update(_registrations(s, chain.address_key, {p["wallet"] for p in nested.values()}))
    return nested, None


def _write(session_factory, net, cases: list[Case], observations, decisions: dict[int, Decision], *,
           actor: str) -> list[CaseResult]:
    """Write a chunk's outcomes in one transaction, by the one write path (:func:`_write_cases`).

    The cases that pass the checks of :func:`_bulk_cases` are written together (one multi-row
    statement per table, the audit chain computed in order over them) inside one savepoint: the
    per-case writes were most of ``verify --all``'s time.  Should that write fail, its savepoint is
    rolled back and each of its cases is written again on its own (the same code, a savepoint per
    case), so one bad case neither stops the others nor leaves anything half-written.  The cases the
    checks set aside (a deposit another case holds, a case moved meanwhile) are written on their own
    too, which says why."""
    results: dict[int, CaseResult] = {}
    with session_factory() as s:
        bulk, single = _bulk_cases(s, net, cases, decisions)
        if bulk:
            try:
                with s.begin_nested():
                    results.update(_write_cases(s, net, bulk, observations, decisions, actor=actor))
            except Exception:  # noqa: BLE001 - rolled back: every case of it is written on its own below
                forget_heads(s)
                results.clear()
                single = bulk + single
        for c in sorted(single, key=lambda c: c.id):
            results[c.id] = _write_one(s, net, c, observations, decisions, actor=actor)
    return [results[c.id] for c in cases]


def _bulk_cases(s: Session, net, cases: list[Case], decisions: dict[int, Decision]) -> tuple[list, list]:
    """Split a chunk into the cases a bulk write can take and those to write on their own: a case no
    longer in a status ``verify`` accepts (its row is locked here on PostgreSQL; SQLite's writer lock is
    already ours), or a deposit already stored or claimed twice in the chunk."""
    accepts = {st.value for st in OPERATIONS["verify"].accepts}
    ids = [c.id for c in cases]
    status = dict(s.execute(sa.select(Case.id, Case.status).where(Case.id.in_(ids)).with_for_update()).all())
    txids = sorted({c.txid for c in cases if decisions[c.id].outcome == "verified"})
    taken: set[tuple] = set()
    for i in range(0, len(txids), 500):
        for chain_id, network, txid, index in s.execute(
                sa.select(DepositFact.chain, DepositFact.network, DepositFact.txid, DepositFact.deposit_index)
                .where(DepositFact.txid.in_(txids[i:i + 500]))):
            taken |= {("c", chain_id, txid, index), ("n", network, txid, index)}
    bulk, single = [], []
    for c in cases:
        d = decisions[c.id]
        keys = {k for dep in (d.deposits if d.outcome == "verified" else ())
                for k in (("c", c.chain, c.txid, dep.index), ("n", net.key, c.txid, dep.index))}
        if status.get(c.id) not in accepts or keys & taken:
            single.append(c)
        else:
            taken |= keys
            bulk.append(c)
    return bulk, single


def _write_cases(s: Session, net, cases: list[Case], observations, decisions: dict[int, Decision], *,
                 actor) -> dict[int, CaseResult]:
    """The one write path of verification, for a chunk or for one case: facts, state changes (with
    their audit events and follow-up jobs: :func:`recover.casework.transitions.move_many`), signed statements and
    the audit events of cases that stay open, a few statements in all (the signing stays per case: each
    statement is the operator's own).  A deposit another case holds raises ``DuplicateClaim``."""
    now = utcnow()
    conn = s.connection()
    verified = [c for c in cases if decisions[c.id].outcome == "verified"]
    later = [c for c in cases if decisions[c.id].outcome not in ("verified", "refused")]

    flags = {c.id: set(c.flags or []) for c in verified}
    asked = [c for c in verified if c.return_address]  # now the sender is known: does the destination imitate it?
    for c, f in zip(asked, lookalike_flags_many(s, net, [(c.return_address, decisions[c.id].deposits[0].sender,
                                                          decisions[c.id].deposits[0].recipient) for c in asked])):
        flags[c.id] |= set(f)
    for c in verified:  # a token named like the native coin or a listed token: reads show its contract too
        if any(symbol_lookalike(net, dep.asset, dep.symbol) for dep in decisions[c.id].deposits):
            flags[c.id].add(SYMBOL_LOOKALIKE_FLAG)
        if decisions[c.id].classification == "wrong_memo":  # another account was credited: a reviewer looks
            flags[c.id].add(WRONG_MEMO_FLAG)

    facts: dict[int, list[dict]] = {}
    for c in verified:
        obs, d = observations[c.txid], decisions[c.id]
        facts[c.id] = sorted(({"case_id": c.id, "network": net.key, "chain": c.chain, "txid": c.txid,
                               "deposit_index": dep.index, "sender": dep.sender, "receiving_address": dep.recipient,
                               "asset": dep.asset, "asset_symbol": dep.symbol, "decimals": dep.decimals,
                               "amount": dep.amount, "block_number": obs.block_number, "block_hash": obs.block_hash,
                               "block_time": obs.block_time, "confirmations": obs.confirmations, "success": True,
                               "classification": d.classification, "details": dep.details or {}, "verified_at": now}
                              for dep in d.deposits), key=lambda r: r["deposit_index"])
    rows = [r for c in verified for r in facts[c.id]]
    if rows:
        try:
            conn.execute(sa.insert(DepositFact.__table__), rows)
        except sa.exc.IntegrityError:
            raise DuplicateClaim("this on-chain deposit already belongs to another case") from None

    moves = []
    for c in cases:
        d, obs = decisions[c.id], observations[c.txid]
        if d.outcome == "verified":
            moves.append(Move(c, CaseStatus.VERIFIED, "verified", _verified_details(d, obs),
                              {"classification": d.classification, "refusal_code": None, "refusal_reason": None,
                               "flags": sorted(flags[c.id]) or None}))
        elif d.outcome == "refused":
            moves.append(Move(c, CaseStatus.UNRECOVERABLE, "verify_refused", {"code": d.code, "reason": d.message},
                              {"refusal_code": d.code, "refusal_reason": d.message}))
    move_many(s, moves, op="verify", actor=actor)
    if later:  # they stay open: why is on the case, and in the audit log
        table = Case.__table__
        conn.execute(sa.update(table).where(table.c.id == sa.bindparam("_id"))
                     .values(updated_at=now, refusal_code=sa.bindparam("_code"), refusal_reason=sa.bindparam("_reason")),
                     [{"_id": c.id, "_code": decisions[c.id].code, "_reason": decisions[c.id].message} for c in later])
        append_events(s, [dict(actor=actor, action="verify_retry_later", case_id=c.id,
                               details={"code": decisions[c.id].code, "reason": decisions[c.id].message})
                          for c in later])

    if verified:
        subjects = {case_subject(c.id): c.id for c in verified}
        claim: dict[int, str] = {}
        for subject, digest in s.execute(sa.select(StatementRecord.subject, StatementRecord.hash)
                                         .where(StatementRecord.subject.in_(list(subjects)),
                                                StatementRecord.kind.in_(("claim", "reopen")))
                                         .order_by(StatementRecord.seq)):
            claim[subjects[subject]] = digest  # the newest wins
        attest_many(actor, s, [("verification", case_subject(c.id),
                                {"case": c.id, "claim": claim.get(c.id),
                                 "facts": facts_body([SimpleNamespace(**r) for r in facts[c.id]]),
                                 "flags": sorted(flags[c.id])}) for c in verified])
    return {c.id: _result(c, decisions[c.id]) for c in cases}


def _verified_details(d: Decision, obs) -> dict:
    return {"classification": d.classification, "block": obs.block_number, "confirmations": obs.confirmations,
            "deposits": [{"index": x.index, "asset": x.asset, "amount": str(x.amount), "to": x.recipient}
                         for x in d.deposits]}


def _result(case: Case, d: Decision) -> CaseResult:
    """What a written outcome reports, and its exit code."""
    if d.outcome == "verified":
        return CaseResult(case.id, "verified", "verified", d.message, d.classification)
    unreachable = d.outcome == "retry" and d.code == RetryableChainError.code
    # a transaction not found or not confirmed yet leaves the case open: "run again later" (9),
    # told apart from a refusal (6; not_ours too, though its case stays open for a later import)
    # and from a node that did not answer (8)
    waiting = d.outcome == "retry" and d.code in WAITING_CODES
    return CaseResult(case.id, d.outcome, d.code, d.message,
                      exit_code=EXIT_NODE if unreachable else EXIT_WAITING if waiting else EXIT_CHAIN_REFUSED)


def _write_one(s: Session, net, case: Case, observations, decisions: dict[int, Decision], *,
               actor) -> CaseResult:
    """One case by the same write path, in its own savepoint: a failure here leaves the other cases
    alone and becomes this case's error result."""
    try:
        with s.begin_nested():
            return _write_cases(s, net, [case], observations, decisions, actor=actor)[case.id]
    except DuplicateClaim as exc:
        forget_heads(s)  # the savepoint's audit events and statements are gone: re-read the heads next time
        other = s.exec(select(DepositFact.case_id).where(DepositFact.chain == case.chain,
                                                         DepositFact.txid == case.txid)).first()
        msg = f"{exc}" + (f" (case {other})" if other else "")
        return CaseResult(case.id, "error", exc.code, msg, exit_code=exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - one bad case never stops the batch
        forget_heads(s)
        err = as_toolkit_error(exc)
        return CaseResult(case.id, "error", err.code, f"{type(exc).__name__}: {exc}", exit_code=err.exit_code)
    except BaseException:
        forget_heads(s)
        raise
