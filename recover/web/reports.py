"""Reports of the case database: recovered value and fees by network and classification, cases by
status, time from open to completed, refusals by reason; charts as SVG built here (no chart
library, no external service) and the same figures as CSV.

USD figures come from each completed case's quote (``value_usd`` of its gross, split pro rata into
net and fee); base units are summed per asset only where one asset is meant.  All ``Decimal``.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal

from markupsafe import Markup, escape

# Imports inside functions: webauthn, the write side and the read path load with the routes that use them, not
# when the app is built.


def report(db) -> dict:
    from recover.queries.lists import report_rows

    cases, quotes, done_at = report_rows(db=db)
    done_at = {cid: _when(at) for cid, at in done_at.items()}
    by_status = Counter(c.status for c in cases)
    value = defaultdict(lambda: {"cases": 0, "recovered_usd": Decimal(0), "fees_usd": Decimal(0), "unpriced": 0})
    hours = []
    for c in cases:
        if c.status != "completed":
            continue
        q = quotes.get(c.id)
        for key in (("network", c.network), ("classification", c.classification or "unclassified")):
            row = value[key]
            row["cases"] += 1
            if q is None or q.value_usd is None or not q.gross:
                row["unpriced"] += 1
                continue
            gross_usd = Decimal(str(q.value_usd))
            row["recovered_usd"] += gross_usd * Decimal(q.net) / Decimal(q.gross)
            row["fees_usd"] += gross_usd * Decimal(q.fee) / Decimal(q.gross)
        if c.id in done_at:
            hours.append((c.id, c.network, Decimal(int((done_at[c.id] - _created(c)).total_seconds())) / 3600))
    refusals = Counter(c.refusal_code for c in cases if c.refusal_code)
    return {"by_network": _rows(value, "network"), "by_class": _rows(value, "classification"),
            "by_status": sorted(by_status.items()), "refusals": refusals.most_common(),
            "durations": hours, "cases": len(cases)}


def _when(text: str) -> datetime:
    """An audit event's time (ISO-8601 UTC text, as hashed) as an aware datetime."""
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def _created(case) -> datetime:
    t = case.created_at
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _rows(value, kind) -> list[dict]:
    return [{"key": k, **{f: (v.quantize(Decimal("0.01")) if isinstance(v, Decimal) else v) for f, v in row.items()}}
            for (kk, k), row in sorted(value.items()) if kk == kind]


def duration_buckets(durations) -> list[tuple[str, int]]:
    edges = ((Decimal(1), "< 1 h"), (Decimal(24), "1-24 h"), (Decimal(24 * 7), "1-7 d"), (None, "> 7 d"))
    counts = Counter()
    for _, _, h in durations:
        counts[next(label for edge, label in edges if edge is None or h < edge)] += 1
    return [(label, counts[label]) for _, label in edges]


def bar_chart(title: str, rows: list[tuple[str, Decimal | int]], *, unit: str = "") -> Markup:
    """A horizontal bar chart as inline SVG (presentation attributes only: the page's CSP forbids
    inline styles)."""
    width, bar_h, gap, label_w = 560, 22, 8, 170
    height = 34 + max(len(rows), 1) * (bar_h + gap)
    top = max([Decimal(v) for _, v in rows] + [Decimal(0)])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold" fill="#222">{escape(title)}</text>']
    if not rows:
        parts.append('<text x="0" y="44" font-size="12" fill="#666">nothing yet</text>')
    for i, (label, v) in enumerate(rows):
        y = 28 + i * (bar_h + gap)
        w = 0 if top == 0 else int((Decimal(v) / top) * (width - label_w - 90))
        parts.append(f'<text x="0" y="{y + 15}" font-size="12" fill="#222">{escape(str(label))[:28]}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="#3b6ea5"/>'
                     f'<text x="{label_w + max(w, 1) + 6}" y="{y + 15}" font-size="12" fill="#222">'
                     f'{escape(str(v))}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def charts(doc: dict) -> list[Markup]:
    return [bar_chart("Recovered USD by network", [(r["key"], r["recovered_usd"]) for r in doc["by_network"]]),
            bar_chart("Fees USD by network", [(r["key"], r["fees_usd"]) for r in doc["by_network"]]),
            bar_chart("Recovered USD by classification", [(r["key"], r["recovered_usd"]) for r in doc["by_class"]]),
            bar_chart("Cases by status", doc["by_status"]),
            bar_chart("Time from open to completed", duration_buckets(doc["durations"])),
            bar_chart("Refusals by reason", doc["refusals"])]


def to_csv(doc: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "key", "cases", "recovered_usd", "fees_usd", "unpriced", "hours"])
    for section, rows in (("network", doc["by_network"]), ("classification", doc["by_class"])):
        for r in rows:
            w.writerow([section, r["key"], r["cases"], r["recovered_usd"], r["fees_usd"], r["unpriced"], ""])
    for status, n in doc["by_status"]:
        w.writerow(["status", status, n, "", "", "", ""])
    for code, n in doc["refusals"]:
        w.writerow(["refusal", code, n, "", "", "", ""])
    for cid, network, h in doc["durations"]:
        w.writerow(["hours_open_to_completed", f"case {cid} ({network})", 1, "", "", "", str(h.quantize(Decimal("0.01")))])
    return out.getvalue()
