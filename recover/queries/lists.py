"""The other lists reads print: deposit addresses, prices, networks, the policy in force, and what
the web pages add (audit events, report figures).  Each opens one read transaction."""

from __future__ import annotations

from types import SimpleNamespace

from recover.queries.db import decode_time, reading

# Imports inside functions: the read path loads statement checks, PyNaCl and the network files only for the
# documents that show them: `case list` starts without them.


def cases(status: str | None = None, *, network: str | None = None, db: str | None = None) -> list:
    from recover.queries.cases import list_cases

    with reading(db) as d:
        return list_cases(d, status, network)


def show_case(case_id: int, *, db: str | None = None) -> dict:
    from recover.queries.cases import CaseReader

    with reading(db) as d:
        return CaseReader(d).show(case_id)


def queue(*, db: str | None = None) -> list[dict]:
    from recover.queries.cases import CaseReader

    with reading(db) as d:
        return CaseReader(d).queue()


def addresses(network: str | None = None, *, db: str | None = None) -> list[SimpleNamespace]:
    """The registered deposit addresses (of one network when asked: ``unknown_network`` otherwise),
    by network and address."""
    sql, params = ("SELECT id, network, address, address_key, derivation_path, account, status, statement, created_at "
                   "FROM deposit_addresses"), ()
    if network:
        from recover.queries.networks import get_network_view

        sql, params = sql + " WHERE network = ?", (get_network_view(network).key,)
    with reading(db) as d:
        rows = d.rows(sql + " ORDER BY network, address_key", params)
    return [SimpleNamespace(**{**r, "created_at": decode_time(r["created_at"])}) for r in rows]


def prices(*, db: str | None = None) -> list[SimpleNamespace]:
    """The price observations, newest first per asset."""
    with reading(db) as d:
        rows = d.rows("SELECT id, asset, usd, at, created_by, statement, created_at FROM prices "
                      "ORDER BY asset, at DESC, id DESC")
    return [SimpleNamespace(**{**r, "at": decode_time(r["at"]), "created_at": decode_time(r["created_at"])})
            for r in rows]


def networks(recovery_class: str | None = None, *, include_devnets: bool | None = None) -> list:
    """The networks in listing order (``--class`` direct or conditional); the devnets only when
    ``include_devnets`` (None: as ``RECOVER_DEVNETS`` says, off by default)."""
    from recover.errors import InvalidInput
    from recover.queries.networks import devnets_wanted, listing, network_views

    if recovery_class not in (None, "direct", "conditional"):
        raise InvalidInput(f"--class must be direct or conditional, not {recovery_class!r}")
    return listing(network_views().values(), recovery_class, include_devnets=devnets_wanted(include_devnets))


def show_policy(*, db: str | None = None) -> dict:
    """The approval policy in force: the newest admin-signed one, else the bundled one."""
    from recover.authority.policy import policy_shown
    from recover.queries.store import checker

    with reading(db) as d:
        return policy_shown(checker(d))


def audit_events(*, limit: int = 50, db: str | None = None) -> list[dict]:
    """The newest audit events (the web queue's audit page)."""
    with reading(db) as d:
        rows = d.rows("SELECT seq, created_at, actor, action, case_id, to_status FROM audit_events "
                      "ORDER BY seq DESC LIMIT ?", (int(limit),))
    return [{"seq": e["seq"], "at": e["created_at"], "actor": e["actor"], "action": e["action"], "case": e["case_id"],
             "to": e["to_status"]} for e in rows]


def report_rows(*, db: str | None = None) -> tuple[list, dict, dict]:
    """What the web queue's reports are computed from: every case (oldest first), the newest quote of
    each case, and when each completed case completed (the audit event's time, as stored)."""
    with reading(db) as d:
        cases = d.rows("SELECT id, status, network, classification, refusal_code, created_at FROM cases ORDER BY id")
        quotes = {}
        for q in d.rows("SELECT case_id, value_usd, gross, fee, net FROM quotes ORDER BY id"):
            quotes[q["case_id"]] = SimpleNamespace(**{**q, "gross": int(q["gross"]), "fee": int(q["fee"]),
                                                      "net": int(q["net"])})  # the newest per case
        done_at = {e["case_id"]: e["created_at"] for e in d.rows(
            "SELECT case_id, created_at FROM audit_events WHERE to_status = 'completed' ORDER BY seq")}
    return [SimpleNamespace(**{**c, "created_at": decode_time(c["created_at"])}) for c in cases], quotes, done_at
