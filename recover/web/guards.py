"""What every page and action of the web queue checks first: who is signed in (re-derived from
their enrollment on every request), the CSRF token of a POST, and how a page is rendered with both.
The app turns the two refusals into a sign-in redirect or a 401/403 answer."""

from __future__ import annotations

from fastapi import Request

from recover.storage.db import require_schema, session_scope
from recover.errors import PolicyRefused
from recover.authority.operators import check_operator, enrolled_passkey_of
from recover.authority.trust import load_trust_root
from recover.web.session import csrf_ok


class NotSignedIn(Exception):
    def __init__(self, expired: bool = False):
        self.expired = expired


class CsrfRefused(Exception):
    pass


def render(request: Request, name: str, context: dict, status_code: int = 200):
    s = request.state.session
    return request.app.state.templates.TemplateResponse(
        request, name, {"csrf": s.csrf, "signed_in": getattr(request.state, "operator", None), **context},
        status_code=status_code)


async def require_csrf(request: Request) -> None:
    """Every POST: the session's token in ``X-CSRF-Token`` (HTMX, fetch) or the form field ``csrf``."""
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                             "multipart/form-data")):
        given = (await request.form()).get("csrf")
    if not csrf_ok(request.state.session, given):
        raise CsrfRefused()


def signed_in(request: Request):
    """The operator signed in with a passkey, re-derived from its enrollment on every request (a
    revoked operator is signed out at once): ``(operator, passkey)``."""
    s = request.state.session
    if not s.operator:
        raise NotSignedIn(expired=s.expired)
    with session_scope(request.app.state.db) as db:
        require_schema(db)
        try:
            op = check_operator(db, load_trust_root(), s.operator)
        except PolicyRefused:
            s.operator = None
            raise NotSignedIn() from None
        passkey = enrolled_passkey_of(db, op)
    if passkey is None:
        s.operator = None
        raise NotSignedIn()
    request.state.operator = op
    return op, passkey
