"""gas_reservations, gas_leftovers: each deposit's money is its own (issue 21, item 5)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:30:00

``gas_reservations``: the gas-station nonce a live plan's top-up takes (and the exchange's own
leftover native at the deposit it counts on), so a batch of plans signs without nonce collisions.
``gas_leftovers``: the native the exchange itself put at a deposit address and did not burn, the
only native there a later plan may spend for gas.

Plans that are live when the upgrade runs (awaiting approval, approved, signed, broadcast) get the
reservation of their top-up's nonce, oldest plan first; a nonce two of them already share (made
before reservations existed) stays with the first, and the other meets the nonce conflict at
signing or broadcasting as before (it is re-planned).  No leftover is known yet: every token plan
made after the upgrade brings its own gas until its own top-ups leave some.
"""
import json
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import sqlmodel
import recover.storage.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

LIVE = ("awaiting_approval", "approved", "signed", "broadcast")


def upgrade() -> None:
    op.create_table('gas_reservations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('plan_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('nonce', sa.BigInteger(), nullable=True),
    sa.Column('deposit', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('own_native', recover.storage.models.BaseUnits(), nullable=False),
    sa.Column('created_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.Column('released_at', recover.storage.models.UTCDateTime(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('gas_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gas_reservations_case_id'), ['case_id'], unique=False)
        batch_op.create_index('uq_gas_reservations_live_nonce', ['chain', 'station', 'nonce'], unique=True,
                              sqlite_where=sa.text('released_at IS NULL AND nonce IS NOT NULL'),
                              postgresql_where=sa.text('released_at IS NULL AND nonce IS NOT NULL'))
    op.create_table('gas_leftovers',
    sa.Column('chain', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('address_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('amount', recover.storage.models.BaseUnits(), nullable=False),
    sa.Column('updated_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('chain', 'address_key')
    )
    _reserve_live_plans()


def _reserve_live_plans() -> None:
    """Reserve the station nonce of every live plan's top-up (oldest plan first, one per nonce)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT p.case_id, p.plan_hash, p.plan_json, c.chain FROM sweep_plans p JOIN cases c ON c.id = p.case_id "
        "WHERE p.superseded_at IS NULL AND c.status IN ('awaiting_approval', 'approved', 'signed', 'broadcast') "
        "ORDER BY p.id")).all()
    taken = set()
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # stored naive UTC, as recover.storage.models.UTCDateTime does
    for case_id, plan_hash, plan_json, chain in rows:
        held = _station_nonce(plan_json)
        if held is None or (chain, held[0], held[1]) in taken:
            continue
        taken.add((chain, held[0], held[1]))
        conn.execute(sa.text(
            "INSERT INTO gas_reservations (chain, case_id, plan_hash, station, nonce, deposit, own_native, created_at) "
            "VALUES (:chain, :case_id, :plan_hash, :station, :nonce, :deposit, '0', :now)"),
            {"chain": chain, "case_id": case_id, "plan_hash": plan_hash, "station": held[0], "nonce": held[1],
             "deposit": held[2], "now": now})


def _station_nonce(plan_json: str):
    """(station key, nonce, deposit key) of a stored plan's top-up, by its family's adapter; None when
    it has none or cannot be read (a plan of a family this version does not know keeps no reservation)."""
    try:
        from chains.base import SweepPlan
        from chains.registry import adapter_class, family

        plan = SweepPlan.from_dict(json.loads(plan_json))
        held = adapter_class(plan.family).station_nonce_of(plan)
        if held is None:
            return None
        key = family(plan.family).address_key
        deposit = next(s.signer_address for s in plan.steps if s.role != "gas_topup")
        return key(held[0]), held[1], key(deposit)
    except Exception:
        return None


def downgrade() -> None:
    op.drop_table('gas_leftovers')
    with op.batch_alter_table('gas_reservations', schema=None) as batch_op:
        batch_op.drop_index('uq_gas_reservations_live_nonce',
                            sqlite_where=sa.text('released_at IS NULL AND nonce IS NOT NULL'),
                            postgresql_where=sa.text('released_at IS NULL AND nonce IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_gas_reservations_case_id'))
    op.drop_table('gas_reservations')
