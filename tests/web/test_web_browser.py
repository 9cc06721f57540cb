"""The web queue in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) with
Chromium's virtual authenticator: create a passkey in the page, the admins enroll it with the CLI,
sign in, approve a real anvil case with the passkey, a second approver with the CLI, and the
signer at ``recover case sign`` accepts the passkey's statement; the case completes on chain.  A
self-approval is refused in the page, and a tampered assertion is refused by the signer.

One server and one browser per module; if Chromium cannot start, the tests fail.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from clihelp import snapshot
from evmflow import FEE_COLLECTOR, cli, key, prepared_token_case, world  # noqa: F401
from paths import TESTS
from team import team

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = TESTS / "artifacts"


@pytest.fixture(scope="module")
def server():
    """The web app under uvicorn on a free port, in this process (each test points it at its database)."""
    import uvicorn

    from recover.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(None, secret="browser-test-secret")
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "the web server did not start"
    srv.app_ = app
    srv.url = f"http://localhost:{port}"
    yield srv
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh context with a virtual platform authenticator (ctap2, internal, resident keys, UV)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    cdp = context.new_cdp_session(pg)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})
    yield pg
    context.close()


def shot(page, name, full_page=True):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def _tamper(db, statement_hash, how):
    """Edit a stored decision statement in the database as an attacker would; returns the original row."""
    import sqlalchemy as sa

    from recover.authority.statements import Statement
    from recover.storage.db import get_engine

    engine = get_engine(db)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT id, hash, payload, signatures FROM statements WHERE hash = :h"),
                           {"h": statement_hash}).one()
        sigs = json.loads(row.signatures) if isinstance(row.signatures, str) else row.signatures
        payload, new_hash = row.payload, row.hash
        if how == "signature":
            s = sigs[0]["signature"]
            sigs = [{**sigs[0], "signature": s[:20] + ("0" if s[20] != "0" else "1") + s[21:]}]
        else:  # the body: another reason, the hash recomputed so the row still "matches"
            doc = json.loads(payload)
            doc["body"]["reason"] = "edited in the database"
            edited = Statement(doc["kind"], doc["body"])
            payload, new_hash = edited.payload, edited.hash
        conn.execute(sa.text("UPDATE statements SET payload = :p, hash = :nh, signatures = :s WHERE id = :id"),
                     {"p": payload, "nh": new_hash, "s": json.dumps(sigs), "id": row.id})
        conn.execute(sa.text("UPDATE approvals SET statement = :nh WHERE statement = :h"),
                     {"nh": new_hash, "h": row.hash})
    return row


def _restore(db, original):
    import sqlalchemy as sa

    from recover.storage.db import get_engine

    sigs = original.signatures if isinstance(original.signatures, str) else json.dumps(original.signatures)
    with get_engine(db).begin() as conn:
        current = conn.execute(sa.text("SELECT hash FROM statements WHERE id = :id"), {"id": original.id}).scalar()
        conn.execute(sa.text("UPDATE statements SET payload = :p, hash = :h, signatures = :s WHERE id = :id"),
                     {"p": original.payload, "h": original.hash, "s": sigs, "id": original.id})
        conn.execute(sa.text("UPDATE approvals SET statement = :h WHERE statement = :c"),
                     {"h": original.hash, "c": current})


def _console_errors(page) -> list[str]:
    """Every console error and uncaught exception of ``page`` from now on (a list that fills)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen


def test_the_enrolment_page_checks_the_name_and_logs_no_error(server, page):
    """Issue 23: Chromium compiles ``pattern`` with the ``v`` flag, where an unescaped ``-`` in a class is
    a syntax error: it logged "Pattern attribute ... is not a valid regular expression" and skipped the
    name check.  The favicon was a 404 in the same log."""
    errors = _console_errors(page)
    page.goto(f"{server.url}/passkeys/new")
    page.wait_for_load_state("load")
    name = page.locator("#enroll-name")
    for good in ("dana-pk", "a.b_c@d-e", "x" * 128):
        name.fill(good)
        expect(page.locator("#enroll-name:valid")).to_have_count(1)
    for bad in ("-dana", "dana pk", "dana/pk", "däna", "x" * 129):
        name.fill(bad)
        expect(page.locator("#enroll-name:invalid")).to_have_count(1)
    page.click("#enroll button[type=submit]")  # the browser refuses the form: no passkey is made
    assert page.locator("#passkey-result").is_hidden() and page.text_content("#message") == ""
    icon = page.request.get(f"{server.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    page.goto(f"{server.url}/signin")
    page.wait_for_load_state("load")
    assert errors == []


def test_a_passkey_approval_in_the_page_is_accepted_by_the_signer(world, server, page, monkeypatch):  # noqa: F811
    w = world
    monkeypatch.setenv("RECOVER_WEB_ORIGIN", server.url)  # the server and the CLI signer alike
    server.app_.state.db = w.db
    # dana: a specialist with an Ed25519 key; her one approving key will be the passkey made in the page
    dana_key = w.tmp / "dana.key"
    public = cli(w, "operators", "keygen", "dana", "--out", str(dana_key))["public_key"]
    cli(w, "operators", "enroll", "dana", "--public-key", public, "--roles", "specialist", "--person", "dana",
        *team().admin_args)

    page.goto(f"{server.url}/passkeys/new")
    page.fill("#enroll-name", "dana-pk")
    page.click("#enroll button[type=submit]")
    page.wait_for_selector("#passkey-result:not([hidden])")
    made = json.loads(page.text_content("#passkey-json"))
    assert made["name"] == "dana-pk" and len(made["fingerprint"]) == 64
    path = w.tmp / "dana-pk.passkey.json"
    path.write_text(json.dumps(made))
    enrolled = cli(w, "operators", "enroll", "dana-pk", "--passkey", str(path), "--roles", "approver",
                   "--person", "dana", *team().admin_args)
    assert enrolled["public_key"] == made["fingerprint"] and enrolled["active"]

    cid, token, deposit, quote = prepared_token_case(w, deposit_index=20)  # by alice
    own, *_ = prepared_token_case(w, deposit_index=21, preparer=dana_key)  # by dana herself

    page.goto(f"{server.url}/queue")
    assert page.url.endswith("/signin")
    page.click("#signin")
    page.wait_for_url(f"{server.url}/queue")
    assert page.text_content("#operator") == "dana-pk"
    assert page.locator("tr[data-case]").count() == 2
    shot(page, "web-queue.png")

    page.goto(f"{server.url}/cases/{own}")
    page.click("#approve")
    page.wait_for_selector("#message.bad")
    assert "self_approval" in page.text_content("#message")

    page.goto(f"{server.url}/cases/{cid}")
    assert "The plan pays the destination of the signed claim." in page.text_content("#destination-check")
    shot(page, "web-case.png")
    shot(page, "web-case-top.png", full_page=False)  # the claim next to the plan (docs/img/web-case.png)
    page.click("#approve")
    page.wait_for_selector("#message.good")
    assert "approve recorded" in page.text_content("#message")
    # a locator, not wait_for_function: the page's CSP (no 'unsafe-eval') refuses Playwright's string polling
    expect(page.locator("#approvals-summary")).to_contain_text("1 of 2 counted", timeout=15_000)
    show = cli(w, "case", "show", str(cid))
    assert [(a["approver"], a["person"]) for a in show["approvals"]["so_far"]] == [("dana-pk", "dana")]
    statement = show["approvals"]["so_far"][0]["statement"]
    assert cli(w, "queue", "approve", str(cid), "--key", key("bob"))["status"] == "approved"

    for how in ("signature", "body"):  # a tampered assertion: the signer refuses, nothing is signed or sent
        original = _tamper(w.db, statement, how)
        before, block = snapshot(w.db), w.a.w3.eth.block_number
        err = cli(w, "case", "sign", str(cid), expect=7)
        # a signature edited in place: the statement no longer checks out; a body edited with its hash
        # recomputed: the statement log no longer chains.  Either way nothing is signed or sent.
        assert err["code"] == {"signature": "row_tampered", "body": "history_broken"}[how], err
        assert snapshot(w.db) == before and w.a.w3.eth.block_number == block
        _restore(w.db, original)

    signed = cli(w, "case", "sign", str(cid))
    assert [t["role"] for t in signed["transactions"]] == ["gas_topup", "sweep_net", "sweep_fee"]
    assert cli(w, "case", "broadcast", str(cid))["status"] == "broadcast"
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert token.functions.balanceOf(w.ret).call() == int(quote["net"])
    assert token.functions.balanceOf(FEE_COLLECTOR).call() == int(quote["fee"]) + int(quote["network_cost_in_asset"])
    assert cli(w, "audit", "verify")["ok"]

    page.goto(f"{server.url}/reports")
    assert page.locator("svg.chart").count() == 6
    recovered = Decimal(quote["value_usd"]) * int(quote["net"]) / int(quote["gross"])  # the net's share of the value
    by_network = page.text_content("#by-network")
    assert "anvil" in by_network and f"{recovered.quantize(Decimal('0.01')):,} USD" in by_network
    shot(page, "web-reports.png")
    page.goto(f"{server.url}/audit")
    assert "audit verify: OK" in page.text_content("#audit-result")
