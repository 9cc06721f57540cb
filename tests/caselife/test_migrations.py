"""Existing databases upgrade in place: rows written before a migration keep their meaning."""

from __future__ import annotations

import sqlalchemy as sa


def test_0003_gives_existing_cases_and_facts_their_chain(empty_db_url):
    from alembic import command

    from recover.storage.db import alembic_config, get_engine, upgrade_to_head

    cfg = alembic_config(empty_db_url)
    engine = get_engine(empty_db_url, create=True)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO cases (network, txid, claim_scope, status, opened_by, version, created_at, updated_at) "
            "VALUES ('anvil', '0x01', '*|*', 'verified', 'old', 1, '2026-11-01 00:00:00', '2026-11-01 00:00:00'), "
            "('retired-net', '0x02', '*|*', 'open', 'old', 1, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"))
        conn.execute(sa.text(
            "INSERT INTO deposit_facts (case_id, network, txid, deposit_index, receiving_address, asset, decimals, "
            "amount, confirmations, success, classification, details, verified_at) VALUES "
            "(1, 'anvil', '0x01', 0, '0xab', 'native', 18, '5', 3, true, 'retired_address', '{}', "
            "'2026-11-01 00:00:00')"))
    upgrade_to_head(empty_db_url)
    with engine.connect() as conn:
        cases = dict(conn.execute(sa.text("SELECT txid, chain FROM cases")).all())
        facts = conn.execute(sa.text("SELECT chain FROM deposit_facts")).scalars().all()
    assert cases == {"0x01": "eip155:31337", "0x02": "network:retired-net"}
    assert facts == ["eip155:31337"]


def test_0005_keeps_old_approvals_as_legacy_rows_that_never_count(empty_db_url):
    """Approvals from before signed statements were checked against an ``approvers`` table anyone with
    database access could write to: the upgrade keeps them (legacy_approvers / legacy_approvals) for
    the record, starts an empty ``approvals`` table, and a case awaiting approval counts 0 of them."""
    import json

    from alembic import command

    from clihelp import run
    from recover.storage.db import alembic_config, get_engine, upgrade_to_head
    from team import enroll, team

    cfg = alembic_config(empty_db_url)
    engine = get_engine(empty_db_url, create=True)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    plan_hash = "ab" * 32
    plan = {"network": "anvil", "family": "evm", "case_id": 1, "asset": "native", "gross": "10", "net": "9",
            "fee_total": "1", "native_cost": "0", "destination": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "fee_collector": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "steps": []}
    payload = json.dumps({"case": 1, "plan_hash": plan_hash, "decision": "approve", "approver": "olga"})
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO cases (network, chain, txid, claim_scope, status, opened_by, prepared_by, version, created_at, "
            "updated_at) VALUES ('anvil', 'eip155:31337', '0x01', '*|*', 'awaiting_approval', 'old', 'old', 5, "
            "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"))
        conn.execute(sa.text(
            "INSERT INTO sweep_plans (case_id, plan_json, plan_hash, created_by, created_at) VALUES "
            "(1, :j, :h, 'old', '2026-11-01 00:00:00')"), {"j": json.dumps(plan), "h": plan_hash})
        conn.execute(sa.text(
            "INSERT INTO approvers (name, public_key, role, added_by, created_at) VALUES "
            "('olga', :k, 'senior', 'whoever', '2026-11-01 00:00:00')"), {"k": "11" * 32})
        conn.execute(sa.text(
            "INSERT INTO approvals (case_id, plan_hash, approver_id, decision, reason, signed_payload, signature, "
            "created_at) VALUES (1, :h, 1, 'approve', 'ok', :p, :s, '2026-11-01 00:00:01')"),
            {"h": plan_hash, "p": payload, "s": "22" * 64})
    upgrade_to_head(empty_db_url)
    with engine.connect() as conn:
        approvers = conn.execute(sa.text("SELECT name, public_key, role, added_by FROM legacy_approvers")).all()
        old = conn.execute(sa.text("SELECT case_id, plan_hash, approver_id, decision, reason, signed_payload, "
                                   "signature FROM legacy_approvals")).all()
        new = conn.execute(sa.text("SELECT * FROM approvals")).all()
        tables = set(sa.inspect(conn).get_table_names())
    assert [tuple(r) for r in approvers] == [("olga", "11" * 32, "senior", "whoever")]
    assert [tuple(r) for r in old] == [(1, plan_hash, 1, "approve", "ok", payload, "22" * 64)]
    assert new == [] and "approvers" not in tables
    # the case still awaits approval, with none of the old approvals counted
    doc = run("case", "show", "1", "--json", db=empty_db_url)
    assert doc.code == 0, doc.err
    a = doc.json["approvals"]
    assert doc.json["status"] == "awaiting_approval" and a["plan_hash"] == plan_hash
    assert a["so_far"] == [] and a["counted"] == [] and a["satisfied"] is False and a["needed"] == 3
    queued = run("queue", "list", "--json", db=empty_db_url)
    assert queued.code == 0, queued.err
    assert [(q["id"], q["status"], q["approvals"]["counted"], q["approvals"]["satisfied"]) for q in queued.json] == \
        [(1, "awaiting_approval", [], False)]
    # and an enrolled approver cannot approve it either: its plan was never signed (a reopen re-attests it)
    enroll(empty_db_url)
    again = run("queue", "approve", "1", "--key", team().key("bob"), "--json", db=empty_db_url)
    assert again.code == 7 and again.error["code"] == "no_signed_plan"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM approvals")).scalar() == 0
        assert conn.execute(sa.text("SELECT status FROM cases WHERE id = 1")).scalar() == "awaiting_approval"


def test_0010_reserves_the_station_nonces_of_live_plans(empty_db_url):
    """Plans live at the upgrade keep their top-up's gas-station nonce: the first plan holding a nonce
    gets its reservation (two plans made before reservations existed may share one: the later one
    meets the nonce conflict at signing, as before); superseded plans and ended cases get none."""
    import json

    from alembic import command

    from recover.storage.db import alembic_config, get_engine, upgrade_to_head

    cfg = alembic_config(empty_db_url)
    engine = get_engine(empty_db_url, create=True)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
    station, deposit = "0x8C8d35429F74ec245F8Ef2f4Fd1e551cFF97d650", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

    def plan(case_id: int, nonce: int | None) -> str:
        steps = [{"seq": 1, "role": "sweep_net", "signer_address": deposit, "signer_path": "m/44'/60'/0'/0/20",
                  "tx": {"nonce": "0", "value": "0"}, "after": [0]}]
        if nonce is not None:
            steps.insert(0, {"seq": 0, "role": "gas_topup", "signer_address": station,
                             "signer_path": "m/44'/60'/1'/0/0", "tx": {"nonce": str(nonce), "value": "5"}, "after": []})
        return json.dumps({"network": "anvil", "family": "evm", "case_id": case_id, "asset": "native", "gross": "10",
                           "net": "9", "fee_total": "1", "native_cost": "0", "destination": deposit,
                           "fee_collector": deposit, "steps": steps})

    cases = [(1, "approved", 7, None), (2, "signed", 7, None), (3, "awaiting_approval", 9, None),
             (4, "completed", 5, None), (5, "quoted", 6, "2026-11-02 00:00:00"), (6, "broadcast", None, None)]
    with engine.begin() as conn:
        for cid, status, nonce, superseded in cases:
            conn.execute(sa.text(
                "INSERT INTO cases (network, chain, txid, claim_scope, status, opened_by, version, created_at, "
                "updated_at) VALUES ('anvil', 'eip155:31337', :t, '*|*', :s, 'old', 1, '2026-11-01 00:00:00', "
                "'2026-11-01 00:00:00')"), {"t": f"0x{cid:02x}", "s": status})
            conn.execute(sa.text(
                "INSERT INTO sweep_plans (case_id, plan_json, plan_hash, created_by, created_at, superseded_at) "
                "VALUES (:c, :j, :h, 'old', '2026-11-01 00:00:00', :x)"),
                {"c": cid, "j": plan(cid, nonce), "h": f"{cid:064x}", "x": superseded})
    upgrade_to_head(empty_db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT case_id, chain, station, nonce, deposit, own_native, released_at "
                                    "FROM gas_reservations ORDER BY case_id")).all()
        leftovers = conn.execute(sa.text("SELECT count(*) FROM gas_leftovers")).scalar()
    assert [tuple(r) for r in rows] == [
        (1, "eip155:31337", station.lower(), 7, deposit.lower(), "0", None),
        (3, "eip155:31337", station.lower(), 9, deposit.lower(), "0", None)]
    assert leftovers == 0
