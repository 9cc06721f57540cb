"""What the pages show, read through the same query layer as the CLI (``recover.queries``) and
checked by the same functions as the signer (``recover.authority.signed_case``, ``recover.authority.approval_state``):
the web adds no rule of its own.

Amounts stay base units (int) with their decimals; units and USD are ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from recover.authority.approval_state import still_needs  # noqa: F401 - what a queue row still needs, in words
from recover.text import asset_name
from recover.text import units_decimal as units  # base units as exact units

# Imports inside functions: webauthn, the write side and the read path load with the routes that use them, not
# when the app is built.

AGES = {"": None, "1h": 3600, "1d": 86400, "7d": 7 * 86400}


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def queue_rows(db, *, network: str = "", tier: str = "", age: str = "", now: datetime | None = None) -> dict:
    """The approval queue (``recover.queries``, as ``queue list``) filtered by network, tier and minimum age."""
    from recover.errors import InvalidInput
    from recover.queries.lists import queue

    if age not in AGES:
        raise InvalidInput(f"age must be one of {', '.join(a for a in AGES if a)}", code="invalid_filter")
    now = now or datetime.now(timezone.utc)
    rows = queue(db=db)
    networks = sorted({r["network"] for r in rows})
    tiers = sorted({(r["approvals"] or {}).get("tier") or "" for r in rows} - {""})
    out = []
    for r in rows:
        a = r["approvals"] or {}
        opened = _parse_time(r.get("opened_at"))
        if network and r["network"] != network or tier and a.get("tier") != tier:
            continue
        if AGES[age] and (opened is None or (now - opened).total_seconds() < AGES[age]):
            continue
        out.append({**r, "needs": still_needs(a), "units": units(r.get("net"), r.get("decimals")),
                    "unit": asset_name(r.get("symbol"), r.get("asset")),
                    "contract": r.get("asset") if r.get("asset") not in (None, "native") else None,
                    "age": _age_text(now - opened) if opened else ""})
    return {"rows": out, "networks": networks, "tiers": tiers, "total": len(rows)}


def _age_text(delta) -> str:
    s = int(delta.total_seconds())
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def case_page(db, case_id: int) -> dict:
    """Everything the case page shows: ``case show``'s document plus what the signed statements say
    (the claim's destination against the plan's, the prices and who signed them, flags, problems)."""
    from recover.authority.signed_case import load_signed_case
    from recover.queries.cases import CaseReader, get_case
    from recover.queries.db import reading

    with reading(db) as d:
        reader = CaseReader(d)
        case = get_case(d, case_id)
        doc = reader.show(case_id)
        verifier = reader.checker
        plan = doc.get("plan")
        sc = load_signed_case(verifier, case.id, plan["plan_hash"] if plan else None)
        doc["signed"] = {"claim": sc.claim_fields, "claim_by": sc.claim.operator.name if sc.claim and sc.claim.operator
                         else ("+".join(sc.claim.admins) if sc.claim else None),
                         "plan_by": sc.plan.operator.name if sc.plan and sc.plan.operator else None,
                         "problems": sc.problems, "flags": sc.flags,
                         "asset_key": sc.quote_fields.get("asset_key")}
        doc["destination_check"] = _destination_check(case, plan, sc)
        doc["prices"] = _prices(verifier, sc)
        doc["money"] = _money(doc, doc["prices"])
        return doc


def _destination_check(case, plan, sc) -> dict:
    from chains.registry import family
    from recover.networks.registry import get_network

    claim = sc.claim_fields
    net = get_network(case.network)
    key = family(net.family).address_key
    signed_dest = claim.get("return_address")
    if not signed_dest and claim.get("credit_account"):
        try:
            from recover.networks.chainio import resolved

            signed_dest = resolved(net, wallets=("hot_wallet",)).hot_wallet
        except Exception:  # the hot wallet's setting is not here: say so rather than guess
            signed_dest = None
    planned = (plan or {}).get("plan", {}).get("destination")
    same = bool(planned and signed_dest) and key(planned) == key(signed_dest)
    return {"plan": planned, "signed": signed_dest, "credit_account": claim.get("credit_account"),
            "row": case.return_address, "matches": same, "signed_claim": sc.claim is not None}


def _prices(verifier, sc) -> list[dict]:
    out = []
    for h in (sc.quote.body.get("prices") or []) if sc.quote else []:
        signed, why = verifier.signed_by_hash(h)
        if signed is None:
            out.append({"statement": h, "valid": False, "why": why})
            continue
        out.append({"statement": h, "valid": True, "asset": signed.body.get("asset"), "usd": signed.body.get("usd"),
                    "at": signed.body.get("at") or signed.body.get("time"),
                    "by": signed.operator.name if signed.operator else None})
    return out


def _money(doc, prices) -> list[dict]:
    """The quote's lines in base units, units and USD (at the case asset's signed price, when any)."""
    q = doc.get("quote")
    if not q:
        return []
    from chains.base import HOT_WALLET, RETURN_ADDRESS, net_label

    asset_key = (doc.get("signed") or {}).get("asset_key")
    role = HOT_WALLET if (doc.get("destination") or {}).get("credit_account") else RETURN_ADDRESS
    price = next((Decimal(str(p["usd"])) for p in prices
                  if p.get("valid") and p.get("asset") == asset_key and p.get("usd") is not None), None)
    rows = []
    for label, field in (("gross", "gross"), ("fee", "fee"), ("network cost paid in the asset", "network_cost_in_asset"),
                         (net_label(role), "net")):
        u = units(q[field], q["decimals"])
        rows.append({"label": label, "base": q[field], "units": u, "usd": (u * price) if price is not None else None})
    return rows


def audit_page(db, *, limit: int = 50) -> dict:
    """``audit verify`` and the newest events."""
    from recover.api import verify_audit
    from recover.queries.lists import audit_events

    report = verify_audit(db=db)
    return {"report": report.to_dict(), "events": audit_events(limit=limit, db=db)}
