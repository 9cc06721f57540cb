"""Issue 22, item 4: reads never import the write side, and derive approvals as the signer does.

- Every read command, run as a real ``recover`` process on a database holding a case with a plan,
  approvals and audit rows, loads no chain SDK, no chain adapter, no ORM and no pydantic
  (``RECOVER_DUMP_MODULES``, the test hook of ``cli.main``, lists what it loaded).
- The approval state a read shows (``recover.queries``, plain rows) equals the signer's
  (``recover.casework.approvals.case_state``, the ORM session) on the same cases: approvals by an Ed25519 key
  and by a passkey, a revoked approver, a tampered statement.  It is the same function over two
  stores, so both entry points are tested.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from clihelp import RECOVER, run
from evmflow import key, prepared_token_case, world, world_both  # noqa: F401 (fixtures)
from paths import REPO
from team import env as team_env
from team import team

READS = [("case", "list"), ("case", "show", "{cid}"), ("queue", "list"), ("addresses", "list"), ("prices", "list"),
         ("networks",), ("policy", "show")]
FORBIDDEN = ("web3", "eth_", "bitcoinlib", "embit", "solders", "solana", "spl", "sqlalchemy", "sqlmodel", "pydantic",
             "alembic", "webauthn", "chains.evm", "chains.utxo", "chains.solana", "chains.base", "chains.config",
             "recover.storage.models", "recover.storage.db", "recover.api", "recover.networks.chainio", "recover.casework.planning", "recover.networks.registry")


def _loaded(w, args, tmp_path, env=None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``recover ARGS`` as a real process; what it printed and the modules it loaded."""
    dump = tmp_path / "modules.txt"
    full = {**os.environ, **team_env(), "RECOVER_DB_URL": w.db, "RECOVER_DUMP_MODULES": str(dump), **(env or {})}
    proc = subprocess.run([RECOVER, *args], capture_output=True, text=True, env=full, timeout=120)
    return proc, dump.read_text().split()


def _case_with_plan_approvals_and_audit(w) -> int:
    cid, *_ = prepared_token_case(w)
    assert run("queue", "approve", str(cid), "--key", key("bob"), db=w.db).code == 0
    return cid


def test_every_read_command_loads_no_chain_sdk_adapter_orm_or_pydantic(world_both, tmp_path):
    w = world_both
    cid = _case_with_plan_approvals_and_audit(w)
    for command in READS:
        args = [a.format(cid=cid) for a in command]
        for extra in ([], ["--json"]):
            _loaded(w, [*args, *extra], tmp_path)  # the first read after the network files changed checks them
            proc, modules = _loaded(w, [*args, *extra], tmp_path)
            assert proc.returncode == 0, (args, proc.stderr)
            heavy = [m for m in modules if any(m == f or m.startswith(f if f.endswith("_") else f + ".")
                                               for f in FORBIDDEN)]
            assert heavy == [], (args, heavy)
    shown = json.loads(_loaded(w, ["case", "show", str(cid), "--json"], tmp_path)[0].stdout)
    assert shown["plan"]["steps"] and shown["approvals"]["counted"] == ["bob"] and shown["audit"]
    assert json.loads(_loaded(w, ["queue", "list", "--json"], tmp_path)[0].stdout)[0]["approvals"]["counted"] == ["bob"]


def _both_ways(db: str, cid: int) -> tuple[dict, dict, tuple, tuple]:
    """The approval state and the statements of a case, by the signer (ORM) and by the read path."""
    from recover.authority.acting import Verifier, case_subject
    from recover.casework.approvals import case_state
    from recover.casework.cases import get_case
    from recover.queries.cases import CaseReader, current_plan
    from recover.queries.db import reading
    from recover.storage.db import session_scope

    with session_scope(db) as s:
        case = get_case(s, cid)
        signer = case_state(s, case).to_dict()
        good, bad = Verifier(s).statements(case_subject(cid))
        signer_statements = ([(g.hash, g.kind, g.revoked, g.operator.name if g.operator else None) for g in good], bad)
        s.rollback()
    with reading(db) as d:
        reader = CaseReader(d)
        from recover.queries.cases import get_case as read_case

        read = reader.approval_state(read_case(d, cid), current_plan(d, cid)).to_dict()
        good, bad = reader.checker.statements(f"case:{cid}")
        read_statements = ([(g.hash, g.kind, g.revoked, g.operator.name if g.operator else None) for g in good], bad)
    return signer, read, signer_statements, read_statements


def _passkey_approval(w, cid: int, auth) -> None:
    """dana's passkey approves the case's plan (the web queue's two steps, at the library level)."""
    from recover.authority.operators import check_operator, enrolled_passkey_of
    from recover.authority.passkeys import NeedsAssertion, PasskeyActing
    from recover.authority.trust import load_trust_root
    from recover.casework.approvals import submit
    from recover.casework.cases import get_case
    from recover.storage.db import session_scope

    fingerprint = __import__("hashlib").sha256(bytes.fromhex(auth.passkey_doc()["cose_key"])).hexdigest()
    with session_scope(w.db) as s:
        op = check_operator(s, load_trust_root(), fingerprint)
        passkey = enrolled_passkey_of(s, op)
        with pytest.raises(NeedsAssertion) as need:
            submit(s, get_case(s, cid), actor=PasskeyActing(op, passkey), decision="approve", reason=None)
        s.rollback()
    statement = need.value.statement
    with session_scope(w.db) as s:
        op = check_operator(s, load_trust_root(), fingerprint)
        actor = PasskeyActing(op, passkey, statement=statement, credential=auth.sign(bytes.fromhex(statement.hash)))
        submit(s, get_case(s, cid), actor=actor, decision="approve", reason=None)


def test_the_read_path_derives_approvals_as_the_signer_does(world_both):
    import sqlalchemy as sa

    from recover.queries.lists import show_case
    from recover.storage.db import get_engine
    from webhelp import SoftAuthenticator, enroll_passkey

    w = world_both
    dana = SoftAuthenticator()
    enroll_passkey(w.db, "dana-pk", "approver", "dana", dana.passkey_doc(), w.tmp)
    cid, *_ = prepared_token_case(w)

    def same() -> dict:
        signer, read, signer_statements, read_statements = _both_ways(w.db, cid)
        assert read == signer
        assert read_statements == signer_statements
        shown = show_case(cid, db=w.db)["approvals"]
        assert (shown["counted"], shown["needed"], shown["tier"]) == (signer["counted"], signer["needed"], signer["tier"])
        return signer

    assert same()["counted"] == []
    assert run("queue", "approve", str(cid), "--key", key("bob"), db=w.db).code == 0
    _passkey_approval(w, cid, dana)
    state = same()
    assert state["counted"] == ["bob", "dana-pk"] and state["satisfied"]

    assert run("operators", "revoke", "bob", *team().admin_args, db=w.db).code == 0
    state = same()
    assert state["counted"] == ["dana-pk"] and {"approver": "bob", "why": "the admins revoked this approver since"} \
        in state["ignored"]

    engine = get_engine(w.db)
    with engine.begin() as conn:  # someone with database access edits the passkey approval's reason
        row = conn.execute(sa.text("SELECT id, payload FROM statements WHERE kind = 'decision' ORDER BY seq DESC")).first()
        doc = json.loads(row.payload)
        doc["body"]["reason"] = "edited"
        conn.execute(sa.text("UPDATE statements SET payload = :p WHERE id = :i"), {"p": json.dumps(doc), "i": row.id})
    signer, read, signer_statements, read_statements = _both_ways(w.db, cid)
    assert read == signer and read_statements == signer_statements
    assert signer["counted"] == [] and any("does not match its hash" in p for p in read_statements[1])


def test_a_case_shown_over_the_session_is_the_read_path_document(world_both):
    """``recover.casework.views.case_view`` (a service's session) and ``case show`` build one document."""
    from recover.casework.cases import get_case
    from recover.casework.views import case_view
    from recover.queries.lists import show_case
    from recover.storage.db import session_scope

    w = world_both
    cid = _case_with_plan_approvals_and_audit(w)
    with session_scope(w.db) as s:
        over_session = case_view(s, get_case(s, cid))
    assert over_session == show_case(cid, db=w.db) == run("case", "show", str(cid), "--json", db=w.db).json


def test_rules_shared_with_the_write_side_have_one_home():
    """The write side uses the very rules the read path does (no copy to drift)."""
    from recover.casework import cases, conditions, quoting
    from recover.errors import NotFound
    from recover.life import shared_rules

    assert quoting.price_key is shared_rules.price_key
    assert conditions.ownership_message is shared_rules.ownership_message
    assert cases.check_case_id is shared_rules.check_case_id
    for bad in (0, -1, 2**63, True, "1"):
        with pytest.raises(NotFound) as info:
            shared_rules.check_case_id(bad)
        assert info.value.code == "case_not_found"
    assert shared_rules.check_case_id(5) == 5


def test_urls_are_shown_as_sqlalchemy_shows_them():
    import sqlalchemy as sa

    from recover.storage.db_url import shown_url

    for url in ("sqlite:////tmp/x.db", "sqlite:///rel.db", "postgresql+psycopg://postgres@127.0.0.1:5432/test",
                "postgresql+psycopg://u:secret@h:5/d", "postgresql+psycopg://u:p%40ss@h/db?sslmode=require"):
        assert shown_url(url) == sa.engine.make_url(url).render_as_string(hide_password=True)


def test_networks_for_reads_are_the_checked_files_cached_or_not(tmp_path, monkeypatch):
    """A read's networks are what the one validator loads, whether the cache is cold or warm; a file
    that changes is checked again (a bad one refused as before, even with a cache of the good one)."""
    from recover.errors import ConfigError
    from recover.networks.registry import clear_cache, networks
    from recover.queries.networks import FIELDS, network_views

    monkeypatch.setenv("RECOVER_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "conf"
    folder.mkdir()
    text = next(p for p in (REPO / "chain_configs").glob("anvil.toml"))
    (folder / "anvil.toml").write_text(text.read_text().replace("confirmations = 1", "confirmations = 3"))
    monkeypatch.setenv("RECOVER_CONFIG_DIR", str(folder))
    cold = network_views()
    assert list((tmp_path / "cache").glob("networks-*.json"))
    warm = network_views()
    full = networks()
    assert cold == warm and list(cold) == list(full) and cold["anvil"].confirmations == 3
    for k, net in full.items():
        assert all(getattr(cold[k], f) == (tuple(getattr(net, f)) if f == "conditions" else getattr(net, f))
                   for f in FIELDS)
    (folder / "anvil.toml").write_text(text.read_text() + "\nbogus = 1\n")
    clear_cache()
    with pytest.raises(ConfigError) as info:
        network_views()
    assert "bogus" in str(info.value)


@pytest.mark.parametrize("args", [["case", "show", "x1", "--json"], ["case", "list", "--bogus"], ["case", "list", "--help"],
                                  ["case", "show", "1", "2"], ["--version"], ["networks", "check", "anvil"],
                                  ["case", "list", "--status"], ["case", "list", "--json=1"],
                                  ["case", "list", "--status", "--json"], ["case", "show", "-1"]])
def test_a_command_line_that_is_not_a_plain_read_goes_to_typer(args):
    """The fast path only takes what it reads exactly as typer would; typer says the rest."""
    import cli

    assert cli._fast_read(args) is None


def test_plans_made_before_0011_get_their_rows_at_the_upgrade(world_both):
    """Migration 0011 describes every current plan once, by its adapter: the rows prepare stores now."""
    import sqlalchemy as sa
    from alembic import command

    from recover.storage.db import alembic_config, get_engine, upgrade_to_head

    w = world_both
    cid, *_ = prepared_token_case(w)
    stored = run("case", "show", str(cid), "--json", db=w.db).json["plan"]["steps"]
    assert stored and all({"seq", "role", "summary", "after"} <= set(s) for s in stored)
    cfg = alembic_config(w.db)
    engine = get_engine(w.db)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    with engine.connect() as conn:
        assert "steps_view" not in {c["name"] for c in sa.inspect(conn).get_columns("sweep_plans")}
    upgrade_to_head(w.db)
    assert run("case", "show", str(cid), "--json", db=w.db).json["plan"]["steps"] == stored
