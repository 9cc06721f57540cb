"""Issue 12, item 1: the trust root and enrolled operators, through the installed CLI.

Enrolling and revoking are statements signed by a quorum of the trust root's admins; an operator
row edited or inserted in the database directly does not count (re-checked against the root).
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from clihelp import cli_json, run, snapshot
from team import team


@pytest.fixture
def trust(empty_db_url, tmp_path):
    """A deployment of its own: a new trust root, and a database initialised under it (so it holds
    none of the test team's statements, which belong to the team's deployment)."""
    db_url = empty_db_url
    out = tmp_path / "trust"
    out.mkdir()
    r = run("trust", "init", "--admins", "3", "--quorum", "2", "--out-dir", str(out), "--json", db=db_url)
    assert r.code == 0, r.err
    root = out / "trust-root.json"
    assert run("init", db=db_url, env={"RECOVER_TRUST_ROOT": str(root)}).code == 0
    doc = json.loads(root.read_text())
    assert doc["quorum"] == 2 and len(doc["admins"]) == 3
    for i in (1, 2, 3):
        key = json.loads((out / f"admin-{i}.key").read_text())
        assert key["kdf"] == "argon2id" and "private_key" not in key
    env = {"RECOVER_TRUST_ROOT": str(root)}
    return type("T", (), {"db": db_url, "dir": out, "env": env, "tmp": tmp_path})()


def cli(t, *args, expect=0):
    return cli_json(*args, db=t.db, env=t.env, expect=expect)


def admins(t, *numbers):
    return [a for n in numbers for a in ("--admin-key", str(t.dir / f"admin-{n}.key"))]


def keygen(t, name):
    path = t.tmp / f"{name}.key"
    return cli(t, "operators", "keygen", name, "--out", str(path))["public_key"], path


def test_trust_init_refuses_to_overwrite_and_checks_the_quorum(trust):
    t = trust
    assert cli(t, "trust", "init", "--admins", "3", "--quorum", "2", "--out-dir", str(t.dir), expect=4)["code"] == \
        "file_exists"
    other = t.tmp / "other"
    other.mkdir()
    assert cli(t, "trust", "init", "--admins", "2", "--quorum", "3", "--out-dir", str(other), expect=4)["code"] == \
        "bad_quorum"
    assert list(other.iterdir()) == []


def test_enroll_needs_an_admin_quorum_and_one_approving_key_per_person(trust):
    t = trust
    pub, _ = keygen(t, "ana")
    before = snapshot(t.db)
    one = cli(t, "operators", "enroll", "ana", "--public-key", pub, "--roles", "approver", "--person", "p-ana",
              *admins(t, 1), expect=7)
    assert one["code"] == "admin_quorum_missing"
    twice = cli(t, "operators", "enroll", "ana", "--public-key", pub, "--roles", "approver", "--person", "p-ana",
                *admins(t, 1, 1), expect=7)  # the same admin twice is still one admin
    assert twice["code"] == "admin_quorum_missing"
    stranger = t.tmp / "stranger.key"
    cli(t, "operators", "keygen", "stranger", "--out", str(stranger))
    outsider = cli(t, "operators", "enroll", "ana", "--public-key", pub, "--roles", "approver", "--person", "p-ana",
                   *admins(t, 1), "--admin-key", str(stranger), expect=7)
    assert outsider["code"] == "not_an_admin"
    assert cli(t, "operators", "enroll", "ana", "--public-key", pub, "--roles", "wizard", "--person", "p-ana",
               *admins(t, 1, 2), expect=4)["code"] == "invalid_role"
    assert snapshot(t.db) == before
    ok = cli(t, "operators", "enroll", "ana", "--public-key", pub, "--roles", "approver", "--person", "p-ana",
             *admins(t, 1, 2))
    assert ok["name"] == "ana" and ok["roles"] == ["approver"] and ok["person"] == "p-ana"
    alias, _ = keygen(t, "ana2")
    again = cli(t, "operators", "enroll", "ana2", "--public-key", alias, "--roles", "senior", "--person", "p-ana",
                *admins(t, 2, 3), expect=7)
    assert again["code"] == "person_has_approving_key"
    assert cli(t, "operators", "enroll", "ana2", "--public-key", alias, "--roles", "specialist", "--person", "p-ana",
               *admins(t, 2, 3))["roles"] == ["specialist"]  # a non-approving role for the same person is fine
    listed = cli(t, "operators", "list")
    assert [(o["name"], o["active"]) for o in listed] == [("ana", True), ("ana2", True)]
    # the test team's keys belong to another deployment: here they do nothing
    before = snapshot(t.db)
    other_root = cli(t, "queue", "approve", "1", "--key", team().key("bob"), expect=7)
    assert other_root["code"] == "unknown_operator"
    assert snapshot(t.db) == before


def test_a_viewer_key_beside_an_approving_key_reads_and_does_nothing(trust):
    """Issue 23: a person who approves with one key may also hold a ``viewer`` key (the web queue's
    read-only passkey, or an Ed25519 key as here): it is no approving key, so the one-approving-key rule
    lets it be enrolled and still refuses a second approving one; and it does nothing, not even what
    any operator may do (broadcast, track): exit 7 ``role_missing``, nothing stored."""
    t = trust
    pub, _ = keygen(t, "vic")
    cli(t, "operators", "enroll", "vic", "--public-key", pub, "--roles", "approver", "--person", "p-vic",
        *admins(t, 1, 2))
    view_pub, view_key = keygen(t, "vic-view")
    viewer = cli(t, "operators", "enroll", "vic-view", "--public-key", view_pub, "--roles", "viewer", "--person",
                 "P-Vic", *admins(t, 1, 2))
    assert viewer["roles"] == ["viewer"] and viewer["person"] == "p-vic" and viewer["active"]
    before = snapshot(t.db)
    for args in (("queue", "approve", "1"), ("queue", "reject", "1", "--reason", "no"), ("case", "broadcast", "1"),
                 ("case", "track", "1"), ("case", "open", "--network", "anvil", "--tx", "0x" + "ab" * 32,
                                          "--return-address", "0x" + "11" * 20)):
        err = cli(t, *args, "--key", str(view_key), expect=7)
        assert err["code"] == "role_missing" and "vic-view" in err["message"], (args, err)
    assert snapshot(t.db) == before
    alias, _ = keygen(t, "vic2")
    for roles in ("approver", "senior,viewer"):
        again = cli(t, "operators", "enroll", "vic2", "--public-key", alias, "--roles", roles, "--person", "p-vic",
                    *admins(t, 2, 3), expect=7)
        assert again["code"] == "person_has_approving_key"
    assert snapshot(t.db) == before


def test_revoke_and_a_row_edited_in_the_database_does_not_count(trust):
    t = trust
    from recover.authority.operators import check_operator
    from recover.authority.trust import load_trust_root
    from recover.storage.db import session_scope

    pub, _ = keygen(t, "bo")
    cli(t, "operators", "enroll", "bo", "--public-key", pub, "--roles", "approver", "--person", "p-bo",
        *admins(t, 1, 3))
    root = load_trust_root(t.env["RECOVER_TRUST_ROOT"])
    with session_scope(t.db) as s:
        assert check_operator(s, root, pub).name == "bo"
    with session_scope(t.db) as s:  # an attacker with database access promotes bo
        s.execute(sa.text("UPDATE operators SET roles = 'approver,senior' WHERE name = 'bo'"))
    from recover.errors import PolicyRefused

    with session_scope(t.db) as s, pytest.raises(PolicyRefused) as info:
        check_operator(s, root, pub)
    assert info.value.code == "operator_tampered"
    with session_scope(t.db) as s:
        s.execute(sa.text("UPDATE operators SET roles = 'approver' WHERE name = 'bo'"))
    assert cli(t, "operators", "revoke", "bo", *admins(t, 2), expect=7)["code"] == "admin_quorum_missing"
    assert cli(t, "operators", "revoke", "bo", *admins(t, 2, 3))["active"] is False
    with session_scope(t.db) as s:  # "un-revoking" the row does not bring the key back
        s.execute(sa.text("UPDATE operators SET revoked_at = NULL, revoked_by = NULL WHERE name = 'bo'"))
    with session_scope(t.db) as s, pytest.raises(PolicyRefused) as info:
        check_operator(s, root, pub)
    assert info.value.code == "operator_revoked"


def test_without_a_trust_root_nothing_is_enrolled(db_url, tmp_path):
    r = run("operators", "enroll", "x", "--public-key", "11" * 32, "--roles", "approver", "--person", "p",
            "--admin-key", str(tmp_path / "nope.key"), "--json", db=db_url, env={"RECOVER_TRUST_ROOT": ""})
    assert r.code == 4 and r.error["code"] == "no_trust_root"


def test_person_ids_are_one_spelling_per_person(trust):
    """Issue 21: "Ana", " ana " and "ANA" are one person: a second approving key under another spelling
    is refused, and the enrollment signs the normalised id."""
    t = trust
    pub, _ = keygen(t, "ana")
    ok = cli(t, "operators", "enroll", "ana", "--public-key", pub, "--roles", "approver", "--person", "Ana.Lee",
             *admins(t, 1, 2))
    assert ok["person"] == "ana.lee"
    before = snapshot(t.db)
    for i, spelling in enumerate(("ANA.LEE", "ana.lee", " Ana.Lee ")):
        alias, _ = keygen(t, f"alias-{i}")
        err = cli(t, "operators", "enroll", f"alias-{i}", "--public-key", alias, "--roles",
                  "senior", "--person", spelling, *admins(t, 2, 3), expect=7)
        assert err["code"] == "person_has_approving_key", err
    assert snapshot(t.db) == before
