"""The web queue through FastAPI's TestClient: pages, filters, sessions, CSRF, and the rules of a
passkey-signed decision (the same as the CLI's), on real anvil cases and a real software passkey.

One module-wide world (anvil, a SQLite case database, three prepared cases): the pages and the
refusals only read it, and each test that decides uses its own case.
"""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from clihelp import run, snapshot
from evmflow import _world, key, prepared_token_case
from team import team
from webhelp import SoftAuthenticator, enroll_passkey


class Clock:
    """Real time plus an offset the tests move (sessions expire without waiting)."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def web(anvil_a, anvil_b, tmp_path_factory):
    import team as team_mod
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC
    from recover.networks.chainio import use_adapter_factory
    from recover.storage.db import dispose_engines

    tmp = tmp_path_factory.mktemp("web")
    db = f"sqlite:///{tmp / 'cases.db'}"
    snaps = (anvil_a.snapshot(), anvil_b.snapshot())
    station = derive_evm_account(ANVIL_MNEMONIC, "m/44'/60'/1'/0/0").address
    for node in (anvil_a, anvil_b):
        node.set_balance(station, 100 * 10**18)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**team_mod.env(), "ANVIL_URL": anvil_a.url, "ANVIL_B_URL": anvil_b.url,
                            "RECOVER_SEED": ANVIL_MNEMONIC}.items():
            mp.setenv(name, value)
        mp.delenv("RECOVER_CONFIG_DIR", raising=False)
        use_adapter_factory(None)
        w = _world((anvil_a, anvil_b), db, tmp)
        # dana: a specialist (Ed25519 key) whose one approving key is a passkey
        dana_key = tmp / "dana.key"
        public = run("operators", "keygen", "dana", "--out", str(dana_key), "--json").json["public_key"]
        assert run("operators", "enroll", "dana", "--public-key", public, "--roles", "specialist", "--person", "dana",
                   *team().admin_args, "--json", db=db).code == 0
        w.dana = SoftAuthenticator()
        enroll_passkey(db, "dana-pk", "approver", "dana", w.dana.passkey_doc(), tmp)
        w.by_alice, *_ = prepared_token_case(w, deposit_index=20)
        w.by_dana, *_ = prepared_token_case(w, deposit_index=21, preparer=dana_key)
        w.small, *_ = prepared_token_case(w, deposit_index=22, amount=500 * 10**6)  # below 1,000 USD: one approval
        yield w
    use_adapter_factory(None)
    anvil_a.revert(snaps[0])
    anvil_b.revert(snaps[1])
    dispose_engines()


@pytest.fixture
def client(web):
    from recover.web import create_app

    clock = Clock()
    app = create_app(web.db, secret="test-secret", clock=clock)
    with TestClient(app, base_url="http://localhost:8080", follow_redirects=False) as c:
        c.clock = clock
        yield c


def csrf_of(client, path="/signin") -> str:
    r = client.get(path)
    return re.search(r'name="csrf-token" content="([^"]+)"', r.text).group(1)


def sign_in(client, auth) -> str:
    """Sign in with the passkey; the page's new CSRF token."""
    csrf = csrf_of(client)
    options = client.post("/api/signin/options", headers={"X-CSRF-Token": csrf}).json()
    r = client.post("/api/signin", json=auth.get(options), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    return csrf_of(client, "/queue")


def plan_hash(w, cid) -> str:
    return run("case", "show", str(cid), "--json", db=w.db).json["plan"]["plan_hash"]


def ask(client, csrf, cid, decision, *, plan, reason=None):
    return client.post(f"/api/cases/{cid}/decision/options", headers={"X-CSRF-Token": csrf},
                       json={"decision": decision, "reason": reason, "plan_hash": plan})


def decide(client, csrf, auth, cid, decision, *, plan, reason=None):
    r = ask(client, csrf, cid, decision, plan=plan, reason=reason)
    if r.status_code != 200:
        return r
    doc = r.json()
    return client.post(f"/api/cases/{cid}/decision", headers={"X-CSRF-Token": csrf},
                       json={"statement": doc["statement"], "credential": auth.get(doc["options"]), "plan_hash": plan})


def test_pages_show_the_claim_next_to_the_plan(web, client):
    sign_in(client, web.dana)
    q = client.get("/queue")
    assert q.status_code == 200 and "dana-pk" in q.text
    assert "3 of 3 cases awaiting approval" in q.text and "2 more approvals" in q.text and "1 more approval" in q.text
    assert re.search(r'<td class="num" title="0x[0-9a-fA-F]{40}">[\d.]+ UNL</td>', q.text)  # the net has its unit
    page = client.get(f"/cases/{web.by_alice}")
    assert page.status_code == 200
    text = page.text
    assert plan_hash(web, web.by_alice) in text
    assert "The plan pays the destination of the signed claim." in text and web.ret in text
    assert "net to the user&#39;s return address" in text and "UNL</td>" in text
    assert "set by <b>pete</b>" in text and "2,500.00 USD" in text  # 2,500 units at 1 USD, priced by pete
    for part in ("gas_topup", "sweep_net", "sweep_fee", "case_opened", "prepared", "Approve with passkey"):
        assert part in text
    facts = run("case", "show", str(web.by_alice), "--json", db=web.db).json["facts"]
    assert facts[0]["receiving_address"] in text and str(facts[0]["block_number"]) in text
    assert "Content-Security-Policy" in page.headers and "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    audit = client.get("/audit")
    assert audit.status_code == 200 and "audit verify: OK" in audit.text
    reports = client.get("/reports")
    assert reports.status_code == 200 and reports.text.count("<svg") == 6 and "Cases by status" in reports.text
    csv = client.get("/reports.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "section,key,cases,recovered_usd,fees_usd,unpriced,hours"
    assert "status,awaiting_approval,3" in csv.text
    assert client.get("/cases/999").status_code == 404
    assert client.get("/static/htmx.min.js").status_code == 200


def test_the_favicon_is_served_and_linked(tmp_path):
    """Issue 23: ``/favicon.ico`` was a 404 in every browser's log (no world needed: no page reads cases)."""
    from recover.web import create_app

    with TestClient(create_app(f"sqlite:///{tmp_path / 'none.db'}", secret="s"), base_url="http://localhost:8080") as c:
        icon = c.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
        assert '<link rel="icon" href="/favicon.ico"' in c.get("/signin").text


def test_queue_filters_by_network_tier_and_age(web, client):
    sign_in(client, web.dana)
    rows = lambda **f: re.findall(r'<tr data-case="(\d+)"', client.get("/queue/rows", params=f).text)  # noqa: E731
    assert rows() == [str(web.by_alice), str(web.by_dana), str(web.small)]
    assert rows(network="anvil") == rows() and rows(network="ethereum") == []
    tiers = {r["id"]: r["approvals"]["tier"] for r in run("queue", "list", "--json", db=web.db).json}
    assert rows(tier=tiers[web.small]) == [str(web.small)]
    assert rows(age="1d") == []  # opened minutes ago
    client.clock.offset = 2 * 86400
    sign_in(client, web.dana)  # two days on: the session of before has expired
    assert rows(age="1d") == rows()
    bad = client.get("/queue/rows", params={"age": "forever"})
    assert bad.status_code == 400 and "age must be one of" in bad.text


def test_pages_need_a_session_that_expires(web, client):
    r = client.get("/queue")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    csrf = sign_in(client, web.dana)
    r = client.get("/queue")
    assert r.status_code == 200
    set_cookie = r.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "secure" not in set_cookie  # http here
    client.clock.offset = 31 * 60  # a sign-in lasts 30 minutes
    r = client.get("/queue")
    assert r.status_code == 303 and r.headers["location"] == "/signin?expired=1"
    assert "Your session has expired" in client.get("/signin?expired=1").text
    csrf = sign_in(client, web.dana)
    client.clock.offset += 31 * 60
    api = client.post(f"/api/cases/{web.by_alice}/decision/options", headers={"X-CSRF-Token": csrf},
                      json={"decision": "approve", "plan_hash": plan_hash(web, web.by_alice)})
    assert api.status_code == 401 and api.json()["error"]["code"] == "session_expired"


def test_every_post_needs_the_csrf_token(web, client):
    csrf = sign_in(client, web.dana)
    before = snapshot(web.db)
    body = {"decision": "approve", "plan_hash": plan_hash(web, web.by_alice)}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        r = client.post(f"/api/cases/{web.by_alice}/decision/options", json=body, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    assert client.post("/api/signin/options").status_code == 403
    assert client.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert client.post("/signout", data={"csrf": csrf}).status_code == 303
    assert snapshot(web.db) == before


def test_the_preparer_cannot_approve_in_the_page(web, client):
    csrf = sign_in(client, web.dana)
    before = snapshot(web.db)
    r = ask(client, csrf, web.by_dana, "approve", plan=plan_hash(web, web.by_dana))
    assert r.status_code == 403 and r.json()["error"]["code"] == "self_approval"
    assert snapshot(web.db) == before


def test_a_stale_plan_or_an_altered_statement_is_refused(web, client):
    csrf = sign_in(client, web.dana)
    before = snapshot(web.db)
    plan = plan_hash(web, web.by_alice)
    r = ask(client, csrf, web.by_alice, "approve", plan="00" * 32)  # the page showed another plan
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale_plan"
    doc = ask(client, csrf, web.by_alice, "approve", plan=plan).json()
    assert doc["statement"]["body"]["plan_hash"] == plan and doc["statement"]["body"]["by"] == "dana-pk"
    cred = web.dana.get(doc["options"])
    altered = {**doc["statement"], "body": {**doc["statement"]["body"], "plan_hash": "11" * 32}}
    r = client.post(f"/api/cases/{web.by_alice}/decision", headers={"X-CSRF-Token": csrf},
                    json={"statement": altered, "credential": cred, "plan_hash": plan})
    assert r.status_code == 403 and r.json()["error"]["code"] == "stale_statement"
    other = web.dana.sign(b"\x00" * 32)  # an assertion over another challenge: a session alone never approves
    r = client.post(f"/api/cases/{web.by_alice}/decision", headers={"X-CSRF-Token": csrf},
                    json={"statement": doc["statement"], "credential": other, "plan_hash": plan})
    assert r.status_code == 403 and r.json()["error"]["code"] == "passkey_invalid"
    assert snapshot(web.db) == before


def test_a_rejection_needs_a_reason(web, client):
    csrf = sign_in(client, web.dana)
    before = snapshot(web.db)
    r = ask(client, csrf, web.by_alice, "reject", plan=plan_hash(web, web.by_alice), reason="  ")
    assert r.status_code == 400 and r.json()["error"]["code"] == "reason_required"
    assert snapshot(web.db) == before


def test_a_decision_in_the_page_rests_on_the_whole_statement_log(web, client):
    """Issue 22: the page decides through the same runner as ``queue approve``, so it accepts the
    statement log first: a log shorter than the one this host accepted (statements withheld) is refused
    before anything is asked of the passkey, and nothing is written."""
    import json

    from recover.authority.history import PIN_FORMAT, pin_path
    from recover.authority.statement_log import log_head
    from recover.authority.trust import load_trust_root
    from recover.storage.db import session_scope

    csrf = sign_in(client, web.dana)
    root = load_trust_root()
    with session_scope(web.db) as s:
        path, head = pin_path(root, s), log_head(s, lock=False)
        s.rollback()
    kept = path.read_text() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": PIN_FORMAT, "deployment": root.deployment, "database": web.db,
                                "seq": head.seq + 3, "entry": "ab" * 32, "at": "2026-01-01T00:00:00Z"}))
    try:
        before = snapshot(web.db)
        r = ask(client, csrf, web.small, "approve", plan=plan_hash(web, web.small))
        assert r.status_code == 403 and r.json()["error"]["code"] == "history_broken", r.text
        assert "withheld" in r.json()["error"]["message"]
        assert snapshot(web.db) == before
    finally:
        if kept is None:
            path.unlink()
        else:
            path.write_text(kept)


def test_a_passkey_approval_is_a_statement_every_reader_verifies(web, client):
    import json

    from sqlmodel import select

    from recover.authority.acting import Verifier
    from recover.storage.db import session_scope
    from recover.storage.models import StatementRecord

    csrf = sign_in(client, web.dana)
    plan = plan_hash(web, web.by_alice)
    first = ask(client, csrf, web.by_alice, "approve", plan=plan).json()
    cred = web.dana.get(first["options"])
    r = client.post(f"/api/cases/{web.by_alice}/decision", headers={"X-CSRF-Token": csrf},
                    json={"statement": first["statement"], "credential": cred, "plan_hash": plan})
    assert r.status_code == 200, r.text
    assert r.json()["approvals"]["counted"] == ["dana-pk"] and r.json()["status"] == "awaiting_approval"
    again = client.post(f"/api/cases/{web.by_alice}/decision", headers={"X-CSRF-Token": csrf},
                        json={"statement": first["statement"], "credential": cred, "plan_hash": plan})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_approval"  # no replay
    show = run("case", "show", str(web.by_alice), "--json", db=web.db).json
    assert [(a["approver"], a["person"]) for a in show["approvals"]["so_far"]] == [("dana-pk", "dana")]
    with session_scope(web.db) as s:
        record = s.exec(select(StatementRecord).where(StatementRecord.hash == r.json()["statement"])).one()
        assert record.signatures[0]["scheme"] == "webauthn"
        verifier = Verifier(s)
        assert verifier.check(record)[0] is not None
        sig = dict(record.signatures[0])
        place = {"seq": record.seq, "head": record.head, "admin_seq": record.admin_seq}
        bad_sig = StatementRecord(hash=record.hash, kind=record.kind, subject=record.subject, payload=record.payload,
                                  signatures=[{**sig, "signature": sig["signature"][:-2] + ("00" if sig["signature"][-2:] != "00" else "01")}],
                                  **place)
        assert verifier.check(bad_sig) == (None, "the signature does not verify")
        doc = json.loads(record.payload)
        doc["body"]["reason"] = "edited"
        from recover.authority.statements import Statement

        edited = Statement(doc["kind"], doc["body"])
        bad_body = StatementRecord(hash=edited.hash, kind=record.kind, subject=record.subject, payload=edited.payload,
                                   signatures=record.signatures, **place)
        assert verifier.check(bad_body) == (None, "the signature does not verify")
        s.rollback()


def test_a_passkey_is_checked_at_its_enrolled_origin_on_every_host(web, tmp_path, monkeypatch):
    """Issue 21: an approval made on a queue served at another origin counted 0 of 1 in a shell without
    that origin's variable.  The relying party is part of the admin-signed enrollment now."""
    from recover.web import create_app
    from recover.web.app import relying_party_mismatches

    far = SoftAuthenticator(rp_id="queue.test", origin="http://queue.test:9000")
    enroll_passkey(web.db, "erin-pk", "approver", "erin",
                   {**far.passkey_doc(), "rp_id": "queue.test", "origin": "http://queue.test:9000"}, tmp_path)
    cid, *_ = prepared_token_case(web, deposit_index=23, amount=500 * 10**6)  # below 1,000 USD: one approval
    plan = plan_hash(web, cid)
    assert any("erin-pk" in m and "http://queue.test:9000" in m for m in relying_party_mismatches(web.db))
    monkeypatch.setenv("RECOVER_WEB_RP_ID", "queue.test")
    monkeypatch.setenv("RECOVER_WEB_ORIGIN", "http://queue.test:9000")
    assert not any("erin-pk" in m for m in relying_party_mismatches(web.db))  # serve there: no warning
    with TestClient(create_app(web.db, secret="s"), base_url="http://queue.test:9000", follow_redirects=False) as c:
        csrf = sign_in(c, far)
        r = decide(c, csrf, far, cid, "approve", plan=plan)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"
    monkeypatch.delenv("RECOVER_WEB_RP_ID")
    monkeypatch.delenv("RECOVER_WEB_ORIGIN")
    plain = {"RECOVER_WEB_RP_ID": "", "RECOVER_WEB_ORIGIN": ""}  # a shell that never heard of that origin
    show = run("case", "show", str(cid), "--json", db=web.db, env=plain).json
    assert show["approvals"]["counted"] == ["erin-pk"] and show["approvals"]["satisfied"]
    queued = next(q for q in run("queue", "list", "--json", db=web.db, env=plain).json if q["id"] == cid)
    assert queued["approvals"]["counted"] == ["erin-pk"]
    audit = run("audit", "verify", "--json", db=web.db, env=plain)
    assert audit.code == 0, audit.out
    # a passkey file naming an origin off its relying party is refused at enrollment
    bad = tmp_path / "bad.passkey.json"
    bad.write_text(__import__("json").dumps({**SoftAuthenticator().passkey_doc(), "rp_id": "queue.test",
                                             "origin": "https://evil.example"}))
    r = run("operators", "enroll", "mal-pk", "--passkey", str(bad), "--roles", "approver", "--person", "mal",
            *team().admin_args, "--json", db=web.db)
    assert r.code == 4 and r.error["code"] == "invalid_passkey"


def test_a_second_credential_of_a_person_does_not_count_twice(web, client, tmp_path):
    bob_pk = SoftAuthenticator()
    path = tmp_path / "bob.passkey.json"
    path.write_text(__import__("json").dumps(bob_pk.passkey_doc()))
    r = run("operators", "enroll", "bob-pk", "--passkey", str(path), "--roles", "approver", "--person", "bob",
            *team().admin_args, "--json", db=web.db)
    assert r.code == 7 and r.error["code"] == "person_has_approving_key"
    plan = plan_hash(web, web.small)
    assert run("queue", "approve", str(web.small), "--key", key("carol"), "--json", db=web.db).json["status"] == "approved"
    assert run("operators", "revoke", "carol", *team().admin_args, "--json", db=web.db).code == 0
    carol_pk = SoftAuthenticator()
    enroll_passkey(web.db, "carol-pk", "approver", "carol", carol_pk.passkey_doc(), tmp_path)
    csrf = sign_in(client, carol_pk)
    before = snapshot(web.db)
    r = decide(client, csrf, carol_pk, web.small, "approve", plan=plan)
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_approval"
    assert snapshot(web.db) == before


def test_a_viewer_passkey_reads_every_page_and_decides_nothing(web, client, tmp_path):
    """Issue 23: bob approves with his CLI key; the admins also enroll him a ``viewer`` passkey so he can
    read the queue in the page.  It signs in and reads every page, is offered no decision, and a decision
    it asks for anyway is refused (403, exit 7 ``role_missing``) with nothing stored.  A second approving
    key for bob is still refused."""
    import json

    viewer = SoftAuthenticator()
    enrolled = enroll_passkey(web.db, "bob-view", "viewer", "bob", viewer.passkey_doc(), tmp_path)
    assert enrolled["roles"] == ["viewer"] and enrolled["person"] == "bob" and enrolled["active"]
    csrf = sign_in(client, viewer)
    queue = client.get("/queue")
    assert queue.status_code == 200 and '<b id="operator">bob-view</b> (viewer)' in queue.text
    assert f'data-case="{web.by_alice}"' in queue.text
    for path in (f"/cases/{web.by_alice}", f"/cases/{web.by_alice}/approvals", "/queue/rows", "/audit", "/reports",
                 "/reports.csv"):
        assert client.get(path).status_code == 200, path
    plan = plan_hash(web, web.by_alice)
    page = client.get(f"/cases/{web.by_alice}").text
    assert plan in page and 'id="read-only"' in page and 'id="approve"' not in page
    before = snapshot(web.db)
    for decision, reason in (("approve", None), ("reject", "not ours")):
        r = ask(client, csrf, web.by_alice, decision, plan=plan, reason=reason)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "role_missing" and r.json()["error"]["exit_code"] == 7
    # the second step with a statement and an assertion of the viewer's own making: refused the same way
    made = {"kind": "decision", "body": {"decision": "approve", "plan_hash": plan, "by": "bob-view"}}
    r = client.post(f"/api/cases/{web.by_alice}/decision", headers={"X-CSRF-Token": csrf},
                    json={"statement": made, "credential": viewer.sign(b"\x00" * 32), "plan_hash": plan})
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_missing"
    assert snapshot(web.db) == before
    path = tmp_path / "bob-pk2.passkey.json"
    path.write_text(json.dumps(SoftAuthenticator().passkey_doc()))
    r = run("operators", "enroll", "bob-pk2", "--passkey", str(path), "--roles", "approver", "--person", "bob",
            *team().admin_args, "--json", db=web.db)
    assert r.code == 7 and r.error["code"] == "person_has_approving_key"
    assert snapshot(web.db) == before


def test_the_enrolment_page_makes_a_passkey_the_admins_enroll(web, client, tmp_path):
    csrf = csrf_of(client, "/passkeys/new")
    pat = SoftAuthenticator()
    options = client.post("/api/passkeys/options", json={"name": "pat"}, headers={"X-CSRF-Token": csrf}).json()
    assert options["rp"]["id"] == "localhost" and options["authenticatorSelection"]["residentKey"] == "required"
    r = client.post("/api/passkeys", json=pat.create(options), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    doc = r.json()["passkey"]
    assert doc["credential_id"] == pat.id and doc["cose_key"] == pat.cose_key().hex()
    replay = client.post("/api/passkeys", json=pat.create(options), headers={"X-CSRF-Token": csrf})
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "no_challenge"
    assert client.post("/api/signin/options", headers={"X-CSRF-Token": csrf}).status_code == 200
    r = client.post("/api/signin", json=pat.sign(b"x" * 32), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error"]["code"] == "unknown_operator"  # not enrolled yet
    enrolled = enroll_passkey(web.db, "pat", "approver", "pat", doc, tmp_path)
    assert enrolled["public_key"] == doc["fingerprint"]
    sign_in(client, pat)
    assert "signed in as <b id=\"operator\">pat</b>" in client.get("/queue").text


def test_enrolling_a_passkey_checks_the_file(web, tmp_path):
    import json

    before = snapshot(web.db)
    good = SoftAuthenticator().passkey_doc()
    path = tmp_path / "x.passkey.json"
    cases = [({"credential_id": good["credential_id"], "cose_key": "a1" * 40}, "invalid_passkey"),  # not a COSE key
             ({"credential_id": "not base64url!", "cose_key": good["cose_key"]}, "invalid_passkey"),
             ("not json", "bad_file")]
    for doc, code in cases:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        r = run("operators", "enroll", "x", "--passkey", str(path), "--roles", "approver", "--person", "x",
                *team().admin_args, "--json", db=web.db)
        assert r.code == 4 and r.error["code"] == code, r.err
    path.write_text(json.dumps(good))
    both = run("operators", "enroll", "x", "--passkey", str(path), "--public-key", "00" * 32, "--roles", "approver",
               "--person", "x", *team().admin_args, "--json", db=web.db)
    neither = run("operators", "enroll", "x", "--roles", "approver", "--person", "x", *team().admin_args, "--json",
                  db=web.db)
    assert both.code == neither.code == 4 and both.error["code"] == neither.error["code"] == "key_required"
    assert snapshot(web.db) == before
