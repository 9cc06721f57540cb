"""What a case's signed statements say, read back without trusting any row.

The statements of a case form a chain by hash: the claim (a specialist's, or an admin quorum's
re-attestation at a reopen), the verification that names the claim, the quote that names both, the
plan that names the quote and the plan hash, the decisions and conditions that name the plan or
the claim, the wallet team's record of what it signed, and a close.  :func:`load_signed_case` keeps
only statements whose signatures check out against the trust root *and* that name the right
predecessor and this case, so a statement copied from another case, or one resting on an older
claim, does not count.

What is newest is decided by the statement log (``seq``), and the newest of a kind decides, never an
older one taken instead.  A statement about the case that does not check out at all is a problem
(``problems``: tampering; everyone who relies on the case refuses it).  The newest claim,
verification, quote or plan being by an operator the admins revoked since is named in ``stale``: the
signer refuses to sign on it (have it done again, or reopened), but a plan already signed is still
broadcast and tracked to its end.

The bodies are built here too (``claim_body`` and friends), so what is signed and what is checked
are defined in one place.  Light (no database layer): the read path (``recover.queries``) loads a
signed case with the same :func:`load_signed_case` over plain rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recover.authority.statement_checks import Signed, StatementChecker, case_subject
from recover.storage.canonical import sha256_hex

if TYPE_CHECKING:  # the ORM rows of claim_body and facts_body (the read path never builds bodies)
    from recover.storage.models import Case, DepositFact

# Imports inside functions: the ORM loads only where a session looks a statement up: the read path
# (plain rows) reads a case's signed statements without it.

CLAIM_FIELDS = ("network", "chain", "txid", "claim_scope", "asset", "deposit_address", "return_address",
                "credit_account", "claimant", "flags", "external_ref")
QUOTE_FIELDS = ("gross", "fee", "network_cost_native", "network_cost_in_asset", "net", "decimals", "value_usd",
                "economical")


MEMO_CLAIM_FIELDS = ("msg_index", "return_memo")  # shared-wallet claims: signed only when given


def claim_body(case: Case) -> dict:
    body = {k: getattr(case, k) for k in CLAIM_FIELDS}
    body["flags"] = list(case.flags or [])
    body.update({k: getattr(case, k) for k in MEMO_CLAIM_FIELDS if getattr(case, k, None) is not None})
    return {"case": case.id, "claim": body}


def facts_body(facts: list[DepositFact]) -> list[dict]:
    """The facts a verification signs.  A deposit to a shared (memo) wallet signs its sender, memo and the
    account the memo named too: a refund goes back to that sender, and who was credited decides the
    review (facts of other deposits keep exactly the fields they always had)."""
    return [{"txid": f.txid, "index": f.deposit_index, "receiving_address": f.receiving_address, "asset": f.asset,
             "decimals": f.decimals, "amount": str(f.amount), "block_hash": f.block_hash,
             "classification": f.classification, "wallet": (f.details or {}).get("wallet"),
             **({"sender": f.sender, "memo": f.details.get("memo"), "memo_account": f.details.get("memo_account")}
                if (f.details or {}).get("memo_model") else {})} for f in facts]


def quote_fields_of(row) -> dict:
    """The fields of a quote row that its statement signs (base units as text)."""
    return {k: (str(getattr(row, k)) if k not in ("decimals", "value_usd", "economical") else getattr(row, k))
            for k in QUOTE_FIELDS}


def quote_body(row, *, price_statements: list[str], asset_key: str) -> dict:
    q = quote_fields_of(row)
    details = row.details or {}
    q.update({"asset_key": asset_key, "cost_mode": details.get("network_cost_mode", "deduct"),
              "fee_folded": bool(details.get("fee_folded")), "refusal_code": row.refusal_code})
    return {"quote": q, "prices": price_statements}


def newest_statement(session, case_id: int, kinds: tuple[str, ...]) -> str | None:
    """The hash of the newest stored statement of ``kinds`` about the case (to name it in the next
    statement; whether it is valid is checked when the chain is read back)."""
    from sqlmodel import select

    from recover.storage.models import StatementRecord

    return session.exec(select(StatementRecord.hash).where(StatementRecord.subject == case_subject(case_id),
                                                           StatementRecord.kind.in_(kinds))
                        .order_by(StatementRecord.seq.desc())).first()


@dataclass
class SignedCase:
    case_id: int
    claim: Signed | None = None
    verification: Signed | None = None
    quote: Signed | None = None
    plan: Signed | None = None
    decisions: list[Signed] = field(default_factory=list)
    conditions: dict[str, Signed] = field(default_factory=dict)
    closed: Signed | None = None      # the newest close of the current claim (it keeps its effect)
    signed: Signed | None = None      # the wallet team's newest record of the plan's signed transactions
    problems: list[str] = field(default_factory=list)  # statements that do not check out: tampering
    stale: list[str] = field(default_factory=list)     # the newest of a kind is by an operator revoked since

    @property
    def claim_fields(self) -> dict:
        return (self.claim.body.get("claim") or {}) if self.claim else {}

    @property
    def quote_fields(self) -> dict:
        return (self.quote.body.get("quote") or {}) if self.quote else {}

    @property
    def facts(self) -> list[dict]:
        return list(self.verification.body.get("facts") or []) if self.verification else []

    @property
    def flags(self) -> list[str]:
        """Flags of the claim and of its verification (a look-alike of the sender is known only then)."""
        out = set(self.claim_fields.get("flags") or [])
        if self.verification:
            out |= set(self.verification.body.get("flags") or [])
        return sorted(out)

    @property
    def preparer_person(self) -> str | None:
        return self.plan.person if self.plan else None

    @property
    def signed_txids(self) -> list[str]:
        return [str(t) for t in (self.signed.body.get("txids") or [])] if self.signed else []


def _newest(out: SignedCase, found: list[Signed], what: str) -> Signed | None:
    """The newest of ``found`` (log order); named in ``out.stale`` when its operator was revoked since."""
    if not found:
        return None
    newest = found[-1]
    if newest.revoked:
        out.stale.append(f"the newest {what} ({newest.kind} statement {newest.hash[:16]}…) is by "
                         f"{newest.operator.name if newest.operator else '?'}, revoked since")
    return newest


def plan_rows_problem(sc: SignedCase, plan_json: str, plan_hash: str, rows) -> str | None:
    """Why the stored rows people read of a plan cannot be shown as the plan's (None: they can).
    They are shown only when the stored plan hashes to its plan hash and a valid plan statement of
    that hash signs the rows' hash (``view_hash``): a row edited in the database is never read out
    to an approver as the plan.  ``LEGACY_VIEW`` for a plan prepared before rows were signed."""
    try:
        if sha256_hex(json.loads(plan_json)) != plan_hash:
            return "the stored plan does not hash to its plan hash: it was altered"
    except (ValueError, TypeError):
        return "the stored plan is not readable"
    if sc.plan is None:
        return "no valid plan statement signs this plan"
    signed = sc.plan.body.get("view_hash")
    if signed is None:
        return LEGACY_VIEW
    if rows is None or sha256_hex(rows) != signed:
        return "the plan's rows differ from those its preparer signed: they were altered"
    return None


LEGACY_VIEW = "legacy"  # a plan statement from before rows were signed: the rows are made from the plan again


def load_signed_case(verifier: StatementChecker, case_id: int, plan_hash: str | None = None) -> SignedCase:
    """The newest valid claim, the verification and quote resting on it, the plan statement of
    ``plan_hash`` (and the quote it names), the decisions, the record of signing of that plan, and a
    close of the claim."""
    good, bad = verifier.statements(case_subject(case_id))
    out = SignedCase(case_id, problems=bad)
    mine = [s for s in good if s.body.get("case") == case_id]
    out.problems += [f"{s.kind} statement {s.hash[:16]}… names case {s.body.get('case')}" for s in good
                     if s.body.get("case") != case_id]
    claims = [s for s in mine if (s.kind == "claim" or s.kind == "reopen") and isinstance(s.body.get("claim"), dict)]
    out.claim = _newest(out, claims, "claim")
    if out.claim is None:
        return out
    claim = out.claim.hash
    checks = [s for s in mine if s.kind == "verification" and s.body.get("claim") == claim]
    if out.claim.kind == "reopen" and isinstance(out.claim.body.get("facts"), list) and not checks:
        checks = [out.claim]  # the admins re-attested the proven facts with the claim
    out.verification = _newest(out, checks, "verification")
    by_hash = {s.hash: s for s in mine}
    if plan_hash is not None:
        out.plan = _newest(out, [s for s in mine if s.kind == "plan" and s.body.get("plan_hash") == plan_hash],
                           "plan statement of this plan")
    if out.plan is not None:
        q = by_hash.get(out.plan.body.get("quote"))
        out.quote = q if q is not None and q.kind == "quote" else None
        if out.quote is not None and out.quote.revoked:
            out.stale.append(f"the plan's quote (statement {q.hash[:16]}…) is by {q.operator.name}, revoked since")
    elif plan_hash is None:
        out.quote = _newest(out, [s for s in mine if s.kind == "quote"], "quote")
    if out.quote is not None and (out.quote.body.get("claim") != claim or out.verification is None
                                  or out.quote.body.get("verification") != out.verification.hash):
        out.problems.append(f"quote statement {out.quote.hash[:16]}… rests on another claim or verification")
        out.quote = None
    if plan_hash is not None:
        # every decision on the case: ``approvals.evaluate`` counts only those on ``plan_hash`` and names
        # the others as ignored ("decided on another plan"), as ``case show`` reports them
        out.decisions = [s for s in mine if s.kind == "decision"]
        records = [s for s in mine if s.kind == "signed" and s.body.get("plan_hash") == plan_hash]
        out.signed = records[-1] if records else None  # a record of signing keeps its meaning if its signer is revoked
    for s in mine:
        if s.kind == "condition" and s.body.get("claim") == claim and s.body.get("condition") and not s.revoked:
            out.conditions.setdefault(s.body["condition"], s)
    closes = [s for s in mine if s.kind in ("close", "close_by_admins") and s.body.get("claim") == claim]
    out.closed = closes[-1] if closes else None  # a close, like a rejection, keeps its effect
    return out
