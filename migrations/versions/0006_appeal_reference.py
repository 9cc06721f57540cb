"""cases.external_ref: the appeal's reference in the exchange's ticket system (`recover case import`)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_ref', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.create_unique_constraint('uq_cases_external_ref', ['external_ref'])


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('uq_cases_external_ref', type_='unique')
        batch_op.drop_column('external_ref')
