"""jobs: background work on cases for `recover worker` (enqueued with the state change that needs it)

Existing open, signed and broadcast cases get their job, so a worker started after the upgrade
drives them too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import recover.storage.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('due_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('leased_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('lease_until', recover.storage.models.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.Column('done_at', recover.storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_jobs_due', ['done_at', 'due_at'], unique=False)
    op.execute("INSERT INTO jobs (case_id, kind, due_at, attempts, created_at) "
               "SELECT id, CASE status WHEN 'open' THEN 'verify' WHEN 'signed' THEN 'broadcast' ELSE 'track' END, "
               "updated_at, 0, updated_at FROM cases WHERE status IN ('open', 'signed', 'broadcast')")


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_due')
        batch_op.drop_index(batch_op.f('ix_jobs_case_id'))
    op.drop_table('jobs')
