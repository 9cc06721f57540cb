"""A partial index of retired deposit addresses per network (issue 27)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:00:00

A scan matches each chunk's recipients against the registry through its unique index and reads native
payments only when the network has a retired address: this index answers that question without
reading millions of active rows.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_deposit_addresses_retired', 'deposit_addresses', ['network'],
                    postgresql_where=sa.text("status = 'retired'"), sqlite_where=sa.text("status = 'retired'"))


def downgrade() -> None:
    op.drop_index('ix_deposit_addresses_retired', table_name='deposit_addresses')
