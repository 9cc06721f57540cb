"""scan_state: the last block `recover scan` looked at, per network (scans resume after it)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import recover.storage.models


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scan_state',
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('last_block', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('network')
    )


def downgrade() -> None:
    op.drop_table('scan_state')
