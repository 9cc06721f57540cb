"""Passkey ceremonies: create a credential (for the admins to enroll with the CLI), sign in, and sign
each decision with a fresh assertion over its own statement.

The web never enrolls: the enrolment page only produces the credential's public key and id.  A
decision is two requests: ``options`` runs the operation (``approve`` or ``reject``, through
``recover.casework.runner.run`` like the CLI: role, history, the case's status) up to the point where it would
sign (every rule checked, nothing stored) and returns the statement and its challenge; ``decision``
runs it again with the browser's assertion, which must be over that very statement.
"""

from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from recover.errors import IllegalTransition, InvalidInput, PolicyRefused
from recover.web.guards import require_csrf, signed_in

# Imports inside functions: webauthn, the write side and the read path load with the routes that use them, not
# when the app is built.

router = APIRouter()


def _options_json(options) -> dict:
    from webauthn import options_to_json

    return json.loads(options_to_json(options))


async def _json(request: Request) -> dict:
    try:
        doc = await request.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise InvalidInput("the request body is not a JSON object", code="bad_request")
    return doc


# -- enrolment (produce a credential; the admins enroll it) ----------------------------------------
@router.post("/api/passkeys/options", dependencies=[Depends(require_csrf)])
async def registration_options(request: Request):
    from webauthn import generate_registration_options
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    from recover.authority.operators import valid_name
    from recover.authority.passkeys import relying_party

    name = str((await _json(request)).get("name") or "")
    if not valid_name(name):
        raise InvalidInput(f"operator name {name!r} is not valid (letters, digits, . _ @ -)", code="invalid_name")
    rp_id, _ = relying_party()
    options = generate_registration_options(
        rp_id=rp_id, rp_name="recover web queue", user_name=name, user_id=secrets.token_bytes(16),
        authenticator_selection=AuthenticatorSelectionCriteria(resident_key=ResidentKeyRequirement.REQUIRED,
                                                               user_verification=UserVerificationRequirement.REQUIRED))
    request.app.state.sessions.set_challenge(request.state.session, "register", bytes_to_base64url(options.challenge),
                                             name=name)
    return _options_json(options)


@router.post("/api/passkeys", dependencies=[Depends(require_csrf)])
async def register(request: Request):
    from webauthn import verify_registration_response
    from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

    from recover.authority.passkeys import Passkey, relying_party

    pending = request.app.state.sessions.take_challenge(request.state.session, "register")
    if pending is None:
        raise InvalidInput("no passkey creation is pending (or it is older than 5 minutes): start again",
                           code="no_challenge")
    rp_id, origin = relying_party()
    try:
        done = verify_registration_response(credential=await _json(request),
                                            expected_challenge=base64url_to_bytes(pending["value"]),
                                            expected_rp_id=rp_id, expected_origin=origin, require_user_verification=True)
    except Exception as exc:  # InvalidRegistrationResponse, or a body the parser refuses
        raise InvalidInput(f"the new passkey does not verify: {exc}", code="invalid_passkey") from None
    passkey = Passkey(bytes_to_base64url(done.credential_id), done.credential_public_key.hex(), rp_id, origin)
    return {"passkey": {"name": pending.get("name"), **passkey.to_dict()}}


# -- sign in -------------------------------------------------------------------------------------
@router.post("/api/signin/options", dependencies=[Depends(require_csrf)])
async def signin_options(request: Request):
    from webauthn import generate_authentication_options
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.structs import UserVerificationRequirement

    from recover.authority.passkeys import relying_party

    options = generate_authentication_options(rp_id=relying_party()[0],
                                              user_verification=UserVerificationRequirement.REQUIRED)
    request.app.state.sessions.set_challenge(request.state.session, "signin", bytes_to_base64url(options.challenge))
    return _options_json(options)


@router.post("/api/signin", dependencies=[Depends(require_csrf)])
async def signin(request: Request):
    from webauthn.helpers import base64url_to_bytes

    from recover.authority.passkeys import verify
    from recover.authority.trust import load_trust_root
    from recover.storage.db import require_schema, session_scope

    credential = await _json(request)
    pending = request.app.state.sessions.take_challenge(request.state.session, "signin")
    if pending is None:
        raise InvalidInput("no sign-in is pending (or it is older than 5 minutes): start again", code="no_challenge")
    with session_scope(request.app.state.db) as db:
        require_schema(db)
        op, passkey = _operator_of_credential(db, load_trust_root(), str(credential.get("id") or ""))
        try:
            verify(passkey, base64url_to_bytes(pending["value"]), credential)
        except Exception:
            raise PolicyRefused("the passkey's assertion does not verify", code="passkey_invalid") from None
    request.app.state.sessions.sign_in(request.state.session, op.public_key)
    return {"operator": op.name, "person": op.person, "roles": op.roles.split(",")}


def _operator_of_credential(db, root, credential_id: str):
    from sqlmodel import select

    from recover.authority.operators import check_operator, enrolled_passkey_of
    from recover.storage.models import Operator

    for row in db.exec(select(Operator).where(Operator.revoked_at.is_(None))):
        passkey = enrolled_passkey_of(db, row)
        if passkey is not None and passkey.credential_id == credential_id:
            return check_operator(db, root, row.public_key), passkey
    raise PolicyRefused("this passkey is not enrolled: the admins enroll it with `recover operators enroll "
                        "--passkey FILE`", code="unknown_operator")


@router.post("/signout", dependencies=[Depends(require_csrf)])
async def signout(request: Request):
    from fastapi.responses import RedirectResponse

    s = request.state.session
    s.operator, s.expires = None, 0.0
    return RedirectResponse("/signin", status_code=303)


# -- decisions -----------------------------------------------------------------------------------
def _decide(request: Request, case_id: int, doc: dict, *, statement=None, credential=None):
    """The decision as the signed-in passkey operator, on the plan the page showed: the same runner as
    ``queue approve`` / ``queue reject`` (role, history, the case locked and its status checked)."""
    from recover.authority.passkeys import PasskeyActing
    from recover.casework.approvals import submit
    from recover.casework.planning import current_plan
    from recover.casework.runner import run

    op, passkey = signed_in(request)
    decision, reason, shown = str(doc.get("decision") or ""), doc.get("reason"), str(doc.get("plan_hash") or "")
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject")

    def body(ctx):
        plan = current_plan(ctx.session, ctx.case)
        if plan is None or plan.plan_hash != shown:
            raise IllegalTransition(f"case {case_id}'s plan changed since the page was loaded (it showed "
                                    f"{shown[:16] or 'none'}…): reload the page and review the new plan",
                                    code="stale_plan")
        state = submit(ctx.session, ctx.case, actor=ctx.actor, decision=decision,
                       reason=reason if isinstance(reason, str) else None)
        return state, ctx.case.status

    actor = PasskeyActing(op, passkey, statement=statement, credential=credential, now=request.app.state.now)
    return run(decision, db=request.app.state.db, actor=actor, case_id=case_id, body=body)


@router.post("/api/cases/{case_id}/decision/options", dependencies=[Depends(require_csrf)])
async def decision_options(case_id: int, request: Request):
    from webauthn import generate_authentication_options
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

    from recover.authority.passkeys import NeedsAssertion

    doc = await _json(request)
    try:
        _decide(request, case_id, doc)
    except NeedsAssertion as need:  # every rule passed; nothing was stored
        st = need.statement
        _, passkey = signed_in(request)
        options = generate_authentication_options(
            rp_id=passkey.rp_id, challenge=bytes.fromhex(st.hash), user_verification=UserVerificationRequirement.REQUIRED,
            allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id))])
        return {"statement": {"kind": st.kind, "body": st.body, "hash": st.hash}, "options": _options_json(options)}
    raise PolicyRefused("this decision was not asked to be signed", code="passkey_invalid")  # submit always signs


@router.post("/api/cases/{case_id}/decision", dependencies=[Depends(require_csrf)])
async def decision(case_id: int, request: Request):
    from recover.authority.statements import Statement

    doc = await _json(request)
    st = doc.get("statement") or {}
    if not isinstance(st, dict) or not isinstance(st.get("body"), dict) or not isinstance(doc.get("credential"), dict):
        raise InvalidInput("a decision needs the statement it signs and the passkey's assertion", code="bad_request")
    statement = Statement(str(st.get("kind")), st["body"])
    body = statement.body
    state, status = _decide(request, case_id, {"decision": body.get("decision"), "reason": body.get("reason"),
                                               "plan_hash": doc.get("plan_hash")},
                            statement=statement, credential=doc["credential"])
    return JSONResponse({"case": case_id, "status": status, "statement": statement.hash,
                         "approvals": state.to_dict(), "missing": state.missing_text()})
