"""Cases as reads show them: ``case list``, ``case show`` (the whole story of one case) and the
approval queue, from plain rows.

The approval state of a case is derived from its signed statements by the functions the signer
runs (:func:`recover.authority.signed_case.load_signed_case`, :func:`recover.authority.approval_state.state_of`), over a
:class:`recover.authority.statement_checks.StatementChecker` on these rows.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from recover.queries.db import Db, decode_bool, decode_json, decode_time, decode_units
from recover.queries.docs import approvals_part, case_summary, fact_view, quote_view, t

# Imports inside functions: the read path loads statement checks, PyNaCl and the network files only for the
# documents that show them: `case list` starts without them.

_CASE = ("SELECT id, network, chain, txid, claim_scope, asset, deposit_address, return_address, credit_account, "
         "claimant, external_ref, status, classification, refusal_code, refusal_reason, flags, opened_by, prepared_by, "
         "claim_statement, version, created_at, updated_at, msg_index, return_memo FROM cases")


def _case(row: dict) -> SimpleNamespace:
    row["flags"] = decode_json(row["flags"])
    row["created_at"], row["updated_at"] = decode_time(row["created_at"]), decode_time(row["updated_at"])
    return SimpleNamespace(**row)


def list_cases(db: Db, status: str | None = None, network: str | None = None) -> list[SimpleNamespace]:
    """Cases oldest first, optionally of one status (``invalid_status``, exit 4, for an unknown one)
    and network."""
    from recover.life.states import CaseStatus

    where, params = [], []
    if status:
        try:
            CaseStatus(status)
        except ValueError:
            from recover.errors import InvalidInput

            raise InvalidInput(f"unknown status {status!r}; one of: "
                               + ", ".join(s.value for s in CaseStatus), code="invalid_status") from None
        where.append("status = ?")
        params.append(status)
    if network:
        where.append("network = ?")
        params.append(network)
    sql = _CASE + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    return [_case(r) for r in db.rows(sql, params)]


def get_case(db: Db, case_id: int) -> SimpleNamespace:
    """The case ``case_id`` (``case_not_found``, exit 3, as ``recover.casework.cases.get_case``)."""
    from recover.errors import NotFound
    from recover.life.shared_rules import check_case_id

    row = db.one(_CASE + " WHERE id = ?", (check_case_id(case_id),))
    if row is None:
        raise NotFound(f"no case {case_id}", code="case_not_found")
    return _case(row)


def _facts(db: Db, case_id: int) -> list[SimpleNamespace]:
    rows = db.rows("SELECT deposit_index, sender, receiving_address, asset, asset_symbol, amount, decimals, "
                   "block_number, block_hash, block_time, confirmations, success, classification, details, verified_at "
                   "FROM deposit_facts WHERE case_id = ? ORDER BY deposit_index", (case_id,))
    for r in rows:
        r.update(amount=decode_units(r["amount"]), success=decode_bool(r["success"]), details=decode_json(r["details"]),
                 block_time=decode_time(r["block_time"]), verified_at=decode_time(r["verified_at"]))
    return [SimpleNamespace(**r) for r in rows]


def current_quote(db: Db, case_id: int) -> SimpleNamespace | None:
    """The newest quote of the case (as ``recover.casework.planning.current_quote``)."""
    r = db.one("SELECT id, gross, fee, network_cost_native, network_cost_in_asset, net, decimals, value_usd, economical, "
               "refusal_code, details, created_by, statement, created_at FROM quotes WHERE case_id = ? "
               "ORDER BY id DESC LIMIT 1", (case_id,))
    if r is None:
        return None
    for k in ("gross", "fee", "network_cost_native", "network_cost_in_asset", "net"):
        r[k] = decode_units(r[k])
    r.update(economical=decode_bool(r["economical"]), details=decode_json(r["details"]),
             created_at=decode_time(r["created_at"]))
    return SimpleNamespace(**r)


def current_plan(db: Db, case_id: int) -> SimpleNamespace | None:
    """The case's plan that no newer one superseded (as ``recover.casework.planning.current_plan``)."""
    r = db.one("SELECT id, plan_json, plan_hash, created_by, statement, steps_view, created_at FROM sweep_plans "
               "WHERE case_id = ? AND superseded_at IS NULL ORDER BY id DESC LIMIT 1", (case_id,))
    if r is None:
        return None
    r.update(steps_view=decode_json(r["steps_view"]), created_at=decode_time(r["created_at"]))
    return SimpleNamespace(**r)


class CaseReader:
    """Reads cases from one database; the trust root, the policy in force and the statement checks
    are loaded once and shared by every case it reads (a queue of many cases checks each operator
    once)."""

    def __init__(self, db: Db):
        self.db = db
        self._checker = None
        self._policy = None
        self._signed: dict = {}

    @property
    def checker(self):
        if self._checker is None:
            from recover.queries.store import checker

            self._checker = checker(self.db)
        return self._checker

    @property
    def policy(self):
        if self._policy is None:
            from recover.authority.policy import policy_in_force

            self._policy = policy_in_force(self.checker)
        return self._policy

    def signed_case(self, case, plan):
        """What the case's signed statements say about ``plan`` (read once per case and plan)."""
        from recover.authority.signed_case import load_signed_case

        key = (case.id, plan.plan_hash)
        if key not in self._signed:
            self._signed[key] = load_signed_case(self.checker, case.id, plan.plan_hash)
        return self._signed[key]

    def approval_state(self, case, plan):
        """The approval state of ``plan`` from the case's signed statements only (``state_of``)."""
        from recover.authority.approval_state import state_of
        from recover.queries.networks import get_network_view

        checker, policy = self.checker, self.policy
        return state_of(checker, self.signed_case(case, plan), policy, get_network_view(case.network), plan.plan_hash)

    def plan_rows(self, case, plan) -> tuple[list | None, str | None]:
        """``(rows, problem)``: the plan's rows people read, only when they are the rows its preparer
        signed; a plan from before rows were signed has them made again by its adapter (the one read
        that loads one)."""
        from recover.authority.signed_case import LEGACY_VIEW, plan_rows_problem

        try:
            problem = plan_rows_problem(self.signed_case(case, plan), plan.plan_json, plan.plan_hash, plan.steps_view)
        except Exception as exc:  # no trust root here, say: the rows cannot be checked, so they are not shown
            return None, f"the plan's rows cannot be checked: {exc}"
        if problem == LEGACY_VIEW:
            from recover.networks.chainio import plan_rows
            from recover.networks.registry import get_network

            rows = plan_rows(get_network(case.network), json.loads(plan.plan_json))
            return rows, None if rows is not None else "the plan's rows cannot be made here (its network)"
        return (None, problem) if problem else (plan.steps_view, None)

    def show(self, case_id: int) -> dict:
        """Everything about a case, each part present once it exists (``None`` before): what
        ``case show --json`` prints."""
        from recover.life.shared_rules import ownership_message
        from recover.queries.networks import network_views

        db = self.db
        case = get_case(db, case_id)
        doc = case_summary(case)
        doc["claimant"] = case.claimant
        doc["prepared_by"] = case.prepared_by
        doc["refusal"] = ({"code": case.refusal_code, "reason": case.refusal_reason}
                          if case.refusal_code or case.refusal_reason else None)
        facts = _facts(db, case.id)
        doc["facts"] = [fact_view(f) for f in facts] or None
        quote = current_quote(db, case.id)
        net = network_views().get(case.network)
        doc["quote"] = quote_view(quote, net.native_symbol if net else None,
                                  facts[0].asset_symbol if facts else None) if quote else None
        plan = current_plan(db, case.id)
        if plan:
            steps, steps_problem = self.plan_rows(case, plan) if net else (None, None)
            doc["plan"] = {"plan_hash": plan.plan_hash, "created_by": plan.created_by, "created_at": t(plan.created_at),
                           "plan": json.loads(plan.plan_json), "steps": steps, "steps_problem": steps_problem}
            rows = db.rows("SELECT operator, person, decision, reason, statement, created_at FROM approvals "
                           "WHERE case_id = ? AND plan_hash = ? ORDER BY id", (case.id, plan.plan_hash))
            doc["approvals"] = {
                "plan_hash": plan.plan_hash,
                "so_far": [{"approver": a["operator"], "person": a["person"], "decision": a["decision"],
                            "reason": a["reason"], "statement": a["statement"], "at": t(decode_time(a["created_at"]))}
                           for a in rows],
            }
            try:
                doc["approvals"].update(approvals_part(self.approval_state(case, plan)))
            except Exception as exc:  # no trust root here, say: the case is still shown
                doc["approvals"]["error"] = str(exc)
        else:
            doc["plan"] = None
            doc["approvals"] = None
        if net is not None and net.conditions:
            recorded = db.rows("SELECT condition, satisfied_by, reason, created_at FROM case_conditions "
                               "WHERE case_id = ? ORDER BY id", (case.id,))
            required = list(net.conditions)
            if net.deposit_model == "shared_memo":  # what this case waits for: a credit's proof, a review...
                from types import SimpleNamespace as _Signed

                from recover.authority.approval_state import required_conditions

                required = required_conditions(net, _Signed(
                    claim_fields={"credit_account": case.credit_account},
                    conditions={c["condition"]: True for c in recorded}, flags=set(case.flags or [])))
            doc["conditions"] = {
                "required": required, "reason": net.reason,
                "recorded": [{"condition": c["condition"], "by": c["satisfied_by"], "reason": c["reason"],
                              "at": t(decode_time(c["created_at"]))} for c in recorded],
                "ownership_message": ownership_message(case) if "ownership_proof" in net.conditions else None,
            }
        else:
            doc["conditions"] = None
        txs = db.rows("SELECT seq, role, txid, status, confirmations, error FROM signed_txs WHERE case_id = ? "
                      "ORDER BY seq", (case.id,))
        doc["transactions"] = [dict(x) for x in txs] or None
        events = db.rows("SELECT seq, created_at, actor, action, from_status, to_status, details FROM audit_events "
                         "WHERE case_id = ? ORDER BY seq", (case.id,))
        doc["audit"] = [{"seq": e["seq"], "at": e["created_at"], "actor": e["actor"], "action": e["action"],
                         "from": e["from_status"], "to": e["to_status"], "details": decode_json(e["details"])}
                        for e in events]
        return doc

    def queue(self) -> list[dict]:
        """Cases awaiting approval (or approved), with value and approvals so far and needed: what
        ``queue list --json`` prints."""
        checker, policy = self.checker, self.policy  # noqa: F841 - refused (no trust root, bad policy) even when empty
        out = []
        for case in self.db.rows("SELECT id, status, network, classification, flags, prepared_by, created_at "
                                 "FROM cases WHERE status IN ('awaiting_approval', 'approved') ORDER BY id"):
            c = SimpleNamespace(**case)
            plan = current_plan(self.db, c.id)
            state = self.approval_state(c, plan) if plan is not None else None
            quote = current_quote(self.db, c.id)
            fact = self.db.one("SELECT asset, asset_symbol FROM deposit_facts WHERE case_id = ? "
                               "ORDER BY deposit_index LIMIT 1", (c.id,)) or {}
            out.append({"id": c.id, "status": c.status, "network": c.network,
                        "classification": c.classification, "value_usd": quote.value_usd if quote else None,
                        "net": str(quote.net) if quote else None, "decimals": quote.decimals if quote else None,
                        "asset": fact.get("asset"), "symbol": fact.get("asset_symbol"),
                        "flags": list(decode_json(c.flags) or []),
                        "prepared_by": c.prepared_by, "approvals": state.to_dict() if state else None,
                        "opened_at": decode_time(c.created_at).strftime("%Y-%m-%dT%H:%M:%SZ")})
        return out
