"""Shared-wallet (memo) deposits: address kinds, the memo -> account table, memo claims (issue 24)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00

``deposit_addresses.kind`` tells a user's own deposit address (``deposit``, every address registered
before) from the exchange's shared deposit wallet of a memo network (``shared``); ``memo_accounts``
holds the admin-signed memo -> account map; a case names the transfer it claims (``msg_index``) and
the memo a refund must carry (``return_memo``).
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table copy: other tables' foreign keys name ``cases``)
    op.add_column('deposit_addresses', sa.Column('kind', sa.String(length=16), nullable=False,
                                                 server_default='deposit'))
    op.add_column('cases', sa.Column('msg_index', sa.Integer(), nullable=True))
    op.add_column('cases', sa.Column('return_memo', sa.String(length=128), nullable=True))
    op.create_table(
        'memo_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('network', sa.String(length=64), nullable=False),
        sa.Column('memo', sa.String(length=128), nullable=False),
        sa.Column('account', sa.String(length=128), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('statement', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('network', 'memo', name='uq_memo_accounts_memo'),
    )


def downgrade() -> None:
    op.drop_table('memo_accounts')
    op.drop_column('cases', 'return_memo')  # SQLite 3.35+ drops a column in place
    op.drop_column('cases', 'msg_index')
    op.drop_column('deposit_addresses', 'kind')
