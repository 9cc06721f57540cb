"""Existing databases upgrade in place: rows written before a migration keep their meaning."""

from __future__ import annotations

import sqlalchemy as sa


def test_0003_gives_existing_cases_and_facts_their_chain(empty_db_url):
    from alembic import command

    from recover.db import alembic_config, get_engine, upgrade_to_head

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
