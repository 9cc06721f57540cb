"""The JSON-safe documents reads print, built from rows with the columns as attributes (plain rows
here, ORM rows in ``recover.casework.views``): one definition of each document.

Amounts are strings of base units next to their ``decimals``; times are ISO-8601 UTC text.
"""

from __future__ import annotations

from datetime import datetime


def t(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def case_summary(case) -> dict:
    return {
        "id": case.id,
        "status": case.status,
        "network": case.network,
        "txid": case.txid,
        "asset": case.asset,
        "deposit_address": case.deposit_address,
        "destination": ({"return_address": case.return_address,
                         **({"return_memo": case.return_memo} if getattr(case, "return_memo", None) else {})}
                        if case.return_address else {"credit_account": case.credit_account}),
        "msg_index": getattr(case, "msg_index", None),  # shared-wallet networks: the transfer claimed
        "classification": case.classification,
        "flags": list(case.flags or []),
        "opened_by": case.opened_by,
        "external_ref": case.external_ref,
        "created_at": t(case.created_at),
        "updated_at": t(case.updated_at),
    }


def fact_view(f) -> dict:
    return {
        "deposit_index": f.deposit_index, "sender": f.sender, "receiving_address": f.receiving_address,
        "asset": f.asset, "asset_symbol": f.asset_symbol, "amount": str(f.amount), "decimals": f.decimals,
        "block_number": f.block_number, "block_hash": f.block_hash, "block_time": t(f.block_time),
        "confirmations": f.confirmations, "success": f.success, "classification": f.classification,
        "details": f.details, "verified_at": t(f.verified_at),
    }


def quote_view(q, native_symbol: str | None = None, symbol: str | None = None) -> dict:
    return {
        "symbol": symbol, "native_symbol": native_symbol,
        "native_decimals": (q.details or {}).get("native_decimals"),
        "gross": str(q.gross), "fee": str(q.fee), "network_cost_native": str(q.network_cost_native),
        "network_cost_in_asset": str(q.network_cost_in_asset), "net": str(q.net), "decimals": q.decimals,
        "value_usd": q.value_usd, "economical": q.economical, "refusal": q.refusal_code,
        "details": q.details, "created_by": q.created_by, "created_at": t(q.created_at),
    }


def approvals_part(state) -> dict:
    """What ``case show`` adds to its approval rows from the derived state (``ApprovalState``)."""
    return {"needed": state.tier.approvers, "counted": state.counted, "roles_missing": state.roles_missing,
            "ignored": state.to_dict()["ignored"], "conditions_unmet": state.conditions_unmet,
            "satisfied": state.satisfied, "tier": state.tier.describe(), "tier_reason": state.tier_reason,
            "still_needed": state.to_dict()["still_needed"]}
