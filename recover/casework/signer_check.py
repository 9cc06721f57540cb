"""What the signer checks before it signs: everything that decides where money goes, re-derived from
signed statements and the signer's own configuration, never from a row anyone could edit.

- the destination: the signed claim's return address, or for a credit the signer's own hot wallet;
- the fee collector and the gas station: the signer's own network configuration;
- the amounts: the signed quote (and the facts of the signed verification), and what the plan's
  transactions really move (read from the transactions, not from the plan's summary fields);
- the keys: each one the plan needs is the gas station's path, or a deposit address registered by
  an admin-quorum statement at a path inside the network's ``deposit_path_prefix``, or a shared
  wallet registered at an HSM key name that the signer's own network file lists with its address;
- the approvals: distinct enrolled persons, none the preparer, under the admin-signed policy, at the
  tier of a price a pricer other than the preparer signed.

Anything that does not check out is refused with exit 7 and a code naming the reason.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.base import HOT_WALLET, NATIVE, RETURN_ADDRESS
from chains.config import hsm_label
from chains.registry import family
from recover.authority.acting import Verifier, address_subject
from recover.authority.policy import policy_in_force
from recover.authority.signed_case import facts_body, load_signed_case
from recover.casework.approvals import state_of
from recover.casework.cases import check_return_memo
from recover.casework.memo_classify import memo_classification
from recover.casework.memo_plans import CREDIT_IN_PLACE, refund_problem
from recover.networks.memos import signed_memos_of
from recover.errors import ConcurrentUpdate, PolicyRefused, VerificationRefused
from recover.networks.chainio import resolved
from recover.networks.hsm_wallets import hsm_wallet_problem
from recover.networks.registry import family_networks
from recover.networks.registry import networks as all_networks
from recover.storage.models import AuditEvent, Case, DepositFact

NETWORK_FEE_SINKS = ("miners", "validators")  # a move's ``to`` for the network fee, by family
ROW_FIELDS = ("network", "txid", "asset", "deposit_address", "return_address", "credit_account", "msg_index",
              "return_memo")


def audited_status(session: Session, case_id: int) -> str | None:
    """The status the hash-chained audit log last moved the case to."""
    return session.exec(select(AuditEvent.to_status).where(AuditEvent.case_id == case_id,
                                                           AuditEvent.to_status.is_not(None))
                        .order_by(AuditEvent.seq.desc()).limit(1)).first()


def row_problems(session: Session, case: Case, sc) -> list[str]:
    """Where the case row disagrees with its signed claim or with the audit log's status."""
    out = []
    claim = sc.claim_fields
    if sc.claim is not None:
        out += [f"{k} is {getattr(case, k)!r} but the signed claim says {claim.get(k)!r}" for k in ROW_FIELDS
                if getattr(case, k) != claim.get(k)]
    if sc.verification is not None:
        rows = facts_body(list(session.exec(select(DepositFact).where(DepositFact.case_id == case.id)
                                            .order_by(DepositFact.deposit_index))))
        if rows != sc.facts:
            out.append("its deposit facts differ from the signed verification")
    status = audited_status(session, case.id)
    if status != case.status:
        now = session.execute(sa.select(Case.status).where(Case.id == case.id)).scalar()
        if now != case.status and now == status:  # another process moved it (and logged it) since we read it
            raise ConcurrentUpdate(f"case {case.id} was moved to {now!r} by another process meanwhile; "
                                   "reload it and try again", details={"case_id": case.id, "actual": now})
        out.append(f"status is {case.status!r} but the audit log last moved it to {status!r}")
    return out


def check_row(session: Session, case: Case, verifier: Verifier | None = None, *, doing: str):
    """Refuse (exit 7, ``row_tampered``) a case whose row says other than its statements and audit log."""
    verifier = verifier or Verifier(session)
    sc = load_signed_case(verifier, case.id)
    problems = sc.problems + row_problems(session, case, sc)
    if sc.claim is None:
        problems.insert(0, "it has no valid signed claim")
    if problems:
        raise PolicyRefused(f"case {case.id}: {'; '.join(problems)}; refusing {doing}", code="row_tampered",
                            details={"problems": problems})
    return sc


def _refuse(case_id: int, code: str, message: str):
    return PolicyRefused(f"case {case_id}: {message}; nothing was signed", code=code)


def check_before_signing(session: Session, case: Case, plan_row, plan, net, chain, *, gas_station: str | None,
                         policy=None):
    """The approval state of a plan that checks out in every respect above (else ``PolicyRefused``)."""
    verifier = Verifier(session)
    policy = policy or policy_in_force(verifier)
    sc = load_signed_case(verifier, case.id, plan_row.plan_hash)
    cid = case.id
    if sc.problems:  # a statement about the case that does not check out is never skipped
        raise _refuse(cid, "row_tampered", "; ".join(sc.problems))
    if sc.stale:
        raise _refuse(cid, "operator_revoked", "; ".join(sc.stale) + ": prepare (or quote, or verify) the case again, "
                      "or have the admins reopen it")
    if sc.claim is None:
        raise _refuse(cid, "no_signed_claim", "it has no valid signed claim")
    if sc.closed is not None:
        raise _refuse(cid, "case_closed", f"it was closed as {sc.closed.body.get('as')} "
                      f"({sc.closed.body.get('reason')!r})")
    problems = row_problems(session, case, sc)
    if problems:
        raise _refuse(cid, "row_tampered", "; ".join(problems))
    for what, got in (("verification", sc.verification), ("plan", sc.plan), ("quote", sc.quote)):
        if got is None:
            raise _refuse(cid, f"no_signed_{what}", f"its current plan has no valid signed {what} behind it")
    claim, q = sc.claim_fields, sc.quote_fields
    # this signer's fee collector always; its hot wallet when the signed claim is a credit (paid there)
    net = resolved(net, wallets=("fee_collector",) if claim.get("return_address") else ("fee_collector", "hot_wallet"))
    key = family(net.family).address_key
    destination = claim.get("return_address") or net.hot_wallet
    if claim.get("credit_account") and claim.get("return_address"):
        raise _refuse(cid, "destination_mismatch", "the signed claim names two destinations")
    if key(plan.destination) != key(destination):
        raise _refuse(cid, "destination_mismatch", f"the plan pays {plan.destination}, but the signed claim's "
                      f"destination is {destination}")
    role = plan.meta.get("destination_role")
    if role is not None and role != (RETURN_ADDRESS if claim.get("return_address") else HOT_WALLET):
        raise _refuse(cid, "destination_mismatch", f"the plan's rows say its net goes to the {role.replace('_', ' ')}, "
                      "which is not the signed claim's destination")
    # a shared-wallet refund keeps its fee where it is: in the shared wallet that received the deposit
    fee_collector = (sc.facts[0]["receiving_address"] if net.deposit_model == "shared_memo" and plan.steps
                     and sc.facts else net.fee_collector)
    if key(plan.fee_collector) != key(fee_collector):
        raise _refuse(cid, "fee_collector_mismatch", f"the plan's fee collector {plan.fee_collector} is not this "
                      f"signer's fee collector {fee_collector}")
    if not q.get("economical"):
        raise _refuse(cid, "no_signed_quote", "its signed quote is not an economical one")
    gross = sum(int(f["amount"]) for f in sc.facts)
    fee_total = int(q["fee"]) + (int(q["network_cost_in_asset"]) if plan.asset != NATIVE else 0)
    for name, planned, signed in (("gross", plan.gross, int(q["gross"])), ("proven gross", plan.gross, gross),
                                  ("net", plan.net, int(q["net"])), ("fee", plan.fee_total, fee_total)):
        if planned != signed:
            raise _refuse(cid, "amount_mismatch", f"the plan's {name} is {planned}, the signed statements say {signed}")
    memo_model = net.deposit_model == "shared_memo"
    if memo_model:
        _check_memo_deposit(verifier, cid, net, chain, sc.facts, claim)
        _check_memo_plan(cid, claim, sc.facts, plan, net, chain, key)
    if memo_model and not plan.steps:  # a credit in place: no key signs, nothing moves (checked above)
        pass
    else:
        keys = chain.signing_keys(plan)
        _check_keys(verifier, cid, net, keys, plan)
        _check_moves(cid, chain.describe_plan(plan), plan, key, destination=destination,
                     fee_collector=fee_collector,
                     ours={key(a) for a in keys.values()} | ({key(gas_station)} if gas_station else set()),
                     station=key(gas_station) if gas_station else None, folded=bool(q.get("fee_folded")),
                     reimburse=int(q["network_cost_in_asset"]) if plan.asset == NATIVE else 0,
                     fee_stays=memo_model)
    state = state_of(verifier, sc, policy, net, plan_row.plan_hash)
    if not state.satisfied:
        raise _refuse(cid, "approvals_missing", f"its approvals do not suffice: {state.missing_text()}")
    return state


def _check_memo_deposit(verifier: Verifier, cid: int, net, chain, facts: list[dict], claim: dict) -> None:
    """A shared-wallet deposit, as the ledger and the exchange's signed registries say it now, not as the
    verification's signer said it: it reached a shared address an admin quorum registered on this
    network, the ledger still records that very transfer (recipient, asset, amount, memo), and its memo
    still classifies as signed (a memo naming another account is reviewed, whoever verified it)."""
    if len(facts) != 1:
        raise _refuse(cid, "row_tampered", f"a shared-wallet case recovers one transfer, its verification signs "
                      f"{len(facts)}")
    fact = facts[0]
    fam = family(net.family)
    good, _ = verifier.statements(address_subject(net.family, fam.address_key(fact["receiving_address"])), ("address",))
    regs = [s for s in good if s.body.get("network") == net.key and s.body.get("kind") == "shared"]
    if not regs:
        raise _refuse(cid, "deposit_not_registered", f"the deposit went to {fact['receiving_address']}, which no "
                      "admin-quorum statement registered as a shared deposit address of this network")
    obs = chain.observe([fact["txid"]]).get(fact["txid"])
    ledger = next((t for t in (obs.transfers if obs is not None and obs.found and obs.success else ())
                   if t.index == fact["index"]), None)
    if ledger is None or fam.address_key(ledger.recipient) != fam.address_key(fact["receiving_address"]) \
            or ledger.asset != fact["asset"] or str(ledger.amount) != fact["amount"] \
            or (ledger.memo or None) != (fact.get("memo") or None) or ledger.sender != fact.get("sender"):
        raise VerificationRefused(f"case {cid}: the ledger no longer records transfer {fact['index']} of "
                                  f"{fact['txid']} as the signed verification says (recipient, asset, amount, sender, "
                                  "memo); nothing was signed", code="deposit_gone")
    entries = signed_memos_of(verifier, net.key, [ledger.memo] if ledger.memo else [])
    classification, _why = memo_classification(net, ledger, ledger.amount, entries.get(ledger.memo or ""),
                                               claim.get("credit_account"))
    if classification != fact.get("classification"):
        raise _refuse(cid, "classification_changed", f"the deposit classifies as {classification} now (memo "
                      f"{ledger.memo!r} against the signed memo registry), not {fact.get('classification')} as "
                      "verified: verify the case again (reopen it)")


def _check_memo_plan(cid: int, claim: dict, facts: list[dict], plan, net, chain, key) -> None:
    """A shared-wallet plan is one of the two resolutions its signed claim asks for: a credit moves
    nothing and names the claim's account; a refund goes back to the deposit's signed sender with the
    claim's memo, and never without one to an address that credits only with a memo."""
    if claim.get("credit_account"):
        if plan.steps or plan.meta.get("resolution") != CREDIT_IN_PLACE:
            raise _refuse(cid, "plan_pays_stranger", "the signed claim asks for a credit, which moves nothing on "
                          "chain, but the plan sends transactions")
        if plan.meta.get("account") != claim["credit_account"]:
            raise _refuse(cid, "destination_mismatch", f"the plan credits account {plan.meta.get('account')!r}, the "
                          f"signed claim names {claim['credit_account']!r}")
        return
    if not plan.steps:
        raise _refuse(cid, "destination_mismatch", "the signed claim asks for a refund, but the plan sends nothing")
    problem = refund_problem(plan.destination, facts[0].get("sender") if facts else None, key)
    if problem:
        raise _refuse(cid, "refund_not_to_sender", problem)
    if plan.meta.get("memo") != claim.get("return_memo"):
        raise _refuse(cid, "destination_mismatch", f"the plan's memo is {plan.meta.get('memo')!r}, the signed claim's "
                      f"return memo is {claim.get('return_memo')!r}")
    for view in chain.describe_plan(plan):
        if "memo" in view.detail and (view.detail["memo"] or None) != (claim.get("return_memo") or None):
            raise _refuse(cid, "destination_mismatch", f"step {view.seq} carries memo {view.detail['memo']!r}, the "
                          f"signed claim's return memo is {claim.get('return_memo')!r}")
    try:
        check_return_memo(net, plan.destination, claim.get("return_memo"), chain=chain)
    except PolicyRefused as exc:
        raise _refuse(cid, exc.code, str(exc)) from None


def _check_keys(verifier: Verifier, cid: int, net, keys: dict[str, str], plan) -> None:
    """Every key the plan needs: this signer's gas station path (for gas top-ups and fees only,
    never to sweep from), or a deposit address an admin quorum registered at that very path, inside
    the deposit subtree, or a shared wallet an admin quorum registered at an HSM key name
    (``hsm:<label>``) that this signer's own network file lists with that address."""
    fam = family(net.family)
    nets = all_networks()
    siblings = family_networks(net.family)  # wrong_network: registered on a sibling network, same key
    sweepers = {s.signer_path for s in plan.steps if s.role != "gas_topup"}
    for step in plan.steps:
        if step.role == "gas_topup" and step.signer_path != net.gas_station_path:
            raise _refuse(cid, "gas_station_mismatch", f"step {step.seq} tops up gas from {step.signer_path}, not "
                          f"from this signer's gas station path {net.gas_station_path}")
    for path, address in keys.items():
        if path == net.gas_station_path and path not in sweepers:
            continue
        good, _ = verifier.statements(address_subject(net.family, fam.address_key(address)), ("address",))
        regs = [s for s in good if s.body.get("derivation_path") == path and s.body.get("network") in siblings]
        on_token = hsm_label(path) is not None  # an HSM holds wallets of ours, never a user's address
        if net.deposit_model == "shared_memo" or on_token:  # refunds are paid by a shared wallet
            regs = [s for s in regs if s.body.get("kind") == "shared"]
        if not regs:
            raise _refuse(cid, "deposit_not_registered", f"the plan signs with {address} at {path}, which no "
                          "admin-quorum statement registered as a " + ("shared wallet" if on_token else
                                                                       "deposit address") + " at that path")
        if on_token:
            problem = hsm_wallet_problem(net, path, address)
            if problem:
                raise _refuse(cid, "signer_mismatch", f"the plan signs {address} with {path}: {problem}")
            continue
        reg_net = nets[regs[-1].body["network"]]
        if not reg_net.deposit_path_allowed(path) or not net.deposit_path_allowed(path):
            raise _refuse(cid, "deposit_path_outside_prefix", f"{address} is registered at {path}, outside the "
                          f"deposit subtree ({', '.join(net.deposit_prefixes) or 'none configured'}) or at the "
                          "gas station's path")


def _check_moves(cid: int, views, plan, key, *, destination: str, fee_collector: str, ours: set[str],
                 station: str | None, folded: bool, reimburse: int = 0, fee_stays: bool = False) -> None:
    """What the transactions move: the net to the destination, the fee (and any network cost in the
    asset) to the fee collector or back to the gas station, gas to our own addresses, nothing else.
    A native sweep may pay the gas station back at most ``reimburse`` (the signed network cost the
    deposit bears, e.g. a Solana fee payer's lamports): that is not part of the fee."""
    dest, fc = key(destination), key(fee_collector)
    to_dest = to_fees = to_station = 0
    for view in views:
        for move in view.moves:
            to = move.get("to")
            amount = int(move.get("amount") or 0)
            same_asset = str(move.get("asset")).lower() == str(plan.asset).lower()
            if to in NETWORK_FEE_SINKS:
                continue
            k = key(to)
            if view.role == "gas_topup":  # gas from our gas station to our own deposit address, any asset
                if k in ours and k != station:
                    continue
                raise _refuse(cid, "plan_pays_stranger", f"step {view.seq} tops up gas at {to}, which is not one "
                              "of our deposit addresses")
            if k == dest and same_asset:
                to_dest += amount
            elif k == fc and same_asset:
                to_fees += amount
            elif k == station and same_asset and plan.asset == NATIVE:
                to_station += amount
            elif k == station and same_asset:
                to_fees += amount
            elif k in ours and not same_asset:
                continue  # e.g. a nested account's rent passed on: not a leg of the sweep
            else:
                raise _refuse(cid, "plan_pays_stranger", f"step {view.seq} moves {amount} to {to}, which is "
                              "neither the destination, the fee collector nor one of our own addresses")
    if to_dest != plan.net:
        raise _refuse(cid, "amount_mismatch", f"the transactions pay {to_dest} to the destination, the plan "
                      f"says {plan.net}")
    if to_station > reimburse:
        raise _refuse(cid, "amount_mismatch", f"the transactions pay {to_station} back to the gas station, the "
                      f"signed network cost is {reimburse}")
    if fee_stays:  # a refund from our shared wallet: the fee is what it keeps, never paid out
        if to_fees:
            raise _refuse(cid, "amount_mismatch", f"the transactions pay {to_fees} in fees out of our shared wallet, "
                          "where the fee stays")
        return
    if to_fees != plan.fee_total and not (folded and to_fees == 0):
        raise _refuse(cid, "amount_mismatch", f"the transactions pay {to_fees} in fees, the plan says "
                      f"{plan.fee_total}")
