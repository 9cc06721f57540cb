"""The FastAPI app of the web queue (``recover serve``): server-rendered pages, HTMX shipped in the
package, passkey sign-in and passkey-signed decisions.

It reads the same database and configuration as the CLI (``RECOVER_DB_URL``, ``RECOVER_TRUST_ROOT``,
network files) and decides nothing itself: pages read through ``recover.queries`` (as the CLI's
reads), decisions go through ``recover.casework.runner.run`` (as ``queue approve`` / ``reject`` do) with a
passkey as the signing key.  Every POST
carries the session's CSRF token; responses carry a strict Content-Security-Policy (no inline
script or style, nothing from another origin).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from datetime import datetime, timezone
from decimal import Decimal
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from recover.errors import (
    EXIT_CHAIN_REFUSED,
    EXIT_INVALID,
    EXIT_NODE,
    EXIT_NOT_FOUND,
    EXIT_POLICY,
    EXIT_STATE,
    EXIT_WAITING,
    ToolkitError,
)
from recover.web import pages, passkey_routes
from recover.web.guards import CsrfRefused, NotSignedIn, render
from recover.web.session import COOKIE, Sessions

# Imports inside functions: webauthn, the write side, the read path and prometheus_client load with the routes
# that use them, not when the app is built.

SECRET_ENV = "RECOVER_WEB_SECRET"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HTTP_OF_EXIT = {EXIT_NOT_FOUND: 404, EXIT_INVALID: 400, EXIT_STATE: 409, EXIT_CHAIN_REFUSED: 422, EXIT_POLICY: 403,
                EXIT_NODE: 503, EXIT_WAITING: 409}


def _usd(value) -> str:
    if value is None or value == "":
        return "unpriced"
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,} USD"


def _units(value) -> str:
    return "" if value is None else format(Decimal(value).normalize(), "f") if Decimal(value) != 0 else "0"


def create_app(db: str | None = None, *, secret: str | None = None, clock=time.time,
               session_seconds: int = 1800, metrics_public: bool = False) -> FastAPI:
    """The app over database ``db`` (default: ``RECOVER_DB_URL``).  ``clock`` (epoch seconds) is what
    sessions and decision freshness are measured by; ``session_seconds`` how long a sign-in lasts.
    ``/metrics`` (Prometheus, no sign-in) answers loopback clients only, unless ``metrics_public``."""
    app = FastAPI(title="recover web queue", docs_url=None, redoc_url=None, openapi_url=None)
    here = resources.files("recover.web")
    app.mount("/static", StaticFiles(directory=str(here / "static")), name="static")
    templates = Jinja2Templates(directory=str(here / "templates"))
    templates.env.filters.update(usd=_usd, units=_units)
    app.state.db = db
    from recover.services.metrics import registry

    app.state.metrics = registry(db)  # read from the database at each scrape; built once, no query here
    app.state.templates = templates
    app.state.clock = clock
    app.state.sessions = Sessions(secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32), clock=clock,
                                  lifetime=session_seconds)
    app.state.now = lambda: datetime.fromtimestamp(clock(), timezone.utc)

    @app.middleware("http")
    async def _session(request: Request, call_next):
        sessions: Sessions = request.app.state.sessions
        request.state.session = sessions.load(request.cookies.get(COOKIE))
        response = await call_next(request)
        response.set_cookie(COOKIE, sessions.dump(request.state.session), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/", max_age=session_seconds)
        response.headers.update({"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "same-origin", "Cache-Control": "no-store"})
        return response

    @app.exception_handler(ToolkitError)
    async def _toolkit_error(request: Request, exc: ToolkitError):
        """The one place the web app maps an error (the toolkit's root: domain, chain or fee) to HTTP."""
        status = HTTP_OF_EXIT.get(exc.exit_code, 500)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"code": exc.code, "message": str(exc), "exit_code": exc.exit_code}},
                                status_code=status)
        return render(request, "error.html", {"code": exc.code, "message": str(exc)}, status_code=status)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn):
        if request.url.path.startswith("/api/") or request.headers.get("HX-Request"):
            return JSONResponse({"error": {"code": "session_expired" if exc.expired else "not_signed_in",
                                           "message": "sign in with your passkey"}}, status_code=401)
        return RedirectResponse("/signin" + ("?expired=1" if exc.expired else ""), status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused):
        return JSONResponse({"error": {"code": "csrf", "message": "missing or wrong CSRF token: reload the page"}},
                            status_code=403)

    @app.get("/metrics", include_in_schema=False)
    def _metrics(request: Request):
        """Prometheus metrics (:mod:`recover.services.metrics`), read from the database at each scrape;
        without sign-in, so only to a loopback client unless the server was started with
        ``--metrics-public`` (a client elsewhere gets 404, as if there were no such page)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if not (metrics_public or _loopback(request)):
            return PlainTextResponse("not found\n", status_code=404)
        return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)

    app.include_router(pages.router)
    app.include_router(passkey_routes.router)
    return app


def _loopback(request: Request) -> bool:
    """Whether the client is this host (127.0.0.0/8, ::1).  Behind a proxy on this host, uvicorn puts
    the address of ``X-Forwarded-For`` here (it trusts that header from 127.0.0.1 only), so a remote
    client reached through the proxy is not loopback."""
    host = request.client.host if request.client else None
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address (a test client): not loopback
        return False


def relying_party_mismatches(db: str | None = None) -> list[str]:
    """The enrolled passkeys whose relying party (RP id, origin) is not this server's: their holders
    cannot sign in or approve here (each assertion is checked at the relying party its enrollment
    names, on every host), so ``serve`` says so when it starts."""
    from sqlmodel import select

    from recover.authority.operators import enrolled_passkey_of
    from recover.authority.passkeys import relying_party
    from recover.storage.db import require_schema, session_scope
    from recover.storage.models import Operator

    here = relying_party()
    out = []
    with session_scope(db) as s:
        require_schema(s)
        for row in s.exec(select(Operator).where(Operator.revoked_at.is_(None)).order_by(Operator.name)):
            passkey = enrolled_passkey_of(s, row)
            if passkey is not None and (passkey.rp_id, passkey.origin) != here:
                out.append(f"the passkey of {row.name} was enrolled for {passkey.origin} (RP id {passkey.rp_id}), "
                           f"this server is {here[1]} (RP id {here[0]}): it cannot be used here")
    return out


def serve(*, host: str = "127.0.0.1", port: int = 8080, db: str | None = None, warn=None,
          metrics_public: bool = False) -> None:
    """Run the web queue with uvicorn (``recover serve``); 127.0.0.1 unless told otherwise.  Warns
    (``warn``, default stderr) about enrolled passkeys made for another origin than this server's.
    ``/metrics`` answers loopback clients only unless ``metrics_public``."""
    import sys

    import uvicorn

    for line in relying_party_mismatches(db):
        (warn or (lambda m: print(f"warning: {m}", file=sys.stderr)))(line)
    uvicorn.run(create_app(db, metrics_public=metrics_public), host=host, port=port, log_level="info",
                access_log=False)
