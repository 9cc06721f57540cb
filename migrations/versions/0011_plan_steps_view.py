"""sweep_plans.steps_view: the plan's rows people read, stored when the plan is made (issue 22, item 4)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:30:00

``case show``, ``queue list`` and the web queue read a plan's steps as its chain adapter describes
them; storing those rows with the plan (a plan is immutable and hashed; the rows are derived from it
and kept out of its hash) lets a read show them without loading the chain adapter or its SDK.

Plans made before this revision get their rows here, once, from their adapter's ``describe_plan``
(current plans only: a superseded plan is never shown).  A plan whose network is not configured on
the host that runs the upgrade, or that its adapter cannot describe, keeps none: ``case show`` then
shows ``"steps": null`` for it, as it did on a host that could not describe it.
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sweep_plans', sa.Column('steps_view', sa.JSON(none_as_null=True), nullable=True))
    _describe_current_plans()


def _describe_current_plans() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT p.id, p.plan_json, c.network FROM sweep_plans p JOIN cases c ON c.id = p.case_id "
        "WHERE p.superseded_at IS NULL ORDER BY p.id")).all()
    for plan_id, plan_json, network in rows:
        steps = _steps(network, plan_json)
        if steps is not None:
            conn.execute(sa.text("UPDATE sweep_plans SET steps_view = :v WHERE id = :i"),
                         {"v": json.dumps(steps), "i": plan_id})


def _steps(network: str, plan_json: str):
    """The plan's rows by its network's adapter, or None when this host cannot describe it."""
    try:
        from recover.networks.chainio import plan_rows
        from recover.networks.registry import networks

        net = networks().get(network)
        return plan_rows(net, json.loads(plan_json)) if net is not None else None
    except Exception:
        return None


def downgrade() -> None:
    with op.batch_alter_table('sweep_plans', schema=None) as batch_op:
        batch_op.drop_column('steps_view')
