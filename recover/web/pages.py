"""The pages: queue, case, audit, reports (and the sign-in and passkey-creation pages).  Reading
needs a passkey sign-in, of any enrolled role (a ``viewer`` passkey reads and decides nothing); each
page is one call into ``recover.web.views`` or ``reports``."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from recover.life.operations import APPROVING
from recover.web import reports as rep
from recover.web import views
from recover.web.guards import render, signed_in

router = APIRouter()


@router.get("/")
async def home():
    return RedirectResponse("/queue", status_code=303)


@router.get("/favicon.ico")
async def favicon():
    """The icon browsers ask for at this address whatever the page links (not a 404 in every log)."""
    return FileResponse(str(resources.files("recover.web") / "static" / "favicon.ico"), media_type="image/x-icon")


@router.get("/signin")
async def signin_page(request: Request, expired: int = 0):
    return render(request, "signin.html", {"expired": bool(expired)})


@router.get("/passkeys/new")
async def passkey_page(request: Request):
    return render(request, "enroll.html", {})


@router.get("/queue")
async def queue(request: Request, network: str = "", tier: str = "", age: str = ""):
    signed_in(request)
    doc = views.queue_rows(request.app.state.db, network=network, tier=tier, age=age, now=request.app.state.now())
    return render(request, "queue.html", {**doc, "f": {"network": network, "tier": tier, "age": age},
                                          "ages": list(views.AGES)})


@router.get("/queue/rows")
async def queue_rows(request: Request, network: str = "", tier: str = "", age: str = ""):
    """The queue's table alone (the filters swap it in with HTMX)."""
    signed_in(request)
    doc = views.queue_rows(request.app.state.db, network=network, tier=tier, age=age, now=request.app.state.now())
    return render(request, "_queue_rows.html", doc)


@router.get("/cases/{case_id}")
async def case(case_id: int, request: Request):
    op, _ = signed_in(request)
    doc = views.case_page(request.app.state.db, case_id)
    # a viewer reads the case; the decision form is for those whose roles decide (the runner refuses
    # anyone else's decision all the same)
    return render(request, "case.html", {"c": doc, "me": op, "may_decide": bool(APPROVING & set(op.roles.split(",")))})


@router.get("/cases/{case_id}/approvals")
async def case_approvals(case_id: int, request: Request):
    """The approvals part of the case page (refreshed with HTMX after a decision)."""
    op, _ = signed_in(request)
    return render(request, "_approvals.html", {"c": views.case_page(request.app.state.db, case_id), "me": op})


@router.get("/audit")
async def audit(request: Request):
    signed_in(request)
    return render(request, "audit.html", views.audit_page(request.app.state.db))


@router.get("/reports")
async def reports(request: Request):
    signed_in(request)
    doc = rep.report(request.app.state.db)
    return render(request, "reports.html", {"r": doc, "charts": rep.charts(doc)})


@router.get("/reports.csv")
async def reports_csv(request: Request):
    signed_in(request)
    return Response(rep.to_csv(rep.report(request.app.state.db)), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="recover-report.csv"'})
