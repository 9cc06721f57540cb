"""every action a signed statement: rows name their statement; approvals by enrolled operators

Approvals made before this revision were checked against names in the ``approvers`` table, which
anyone able to write to the database could add to.  They are kept, renamed ``legacy_approvals`` and
``legacy_approvers``, for the record, and never count: a case awaiting approval or approved before
the upgrade needs its approvals again, by enrolled operators.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import recover.storage.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_HASH = sqlmodel.sql.sqltypes.AutoString(length=64)
_COLUMNS = (("cases", "claim_statement"), ("quotes", "statement"), ("sweep_plans", "statement"),
            ("deposit_addresses", "statement"), ("prices", "statement"), ("case_conditions", "statement"))


def upgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_case_id')  # the name goes to the new table
    op.rename_table('approvals', 'legacy_approvals')
    op.rename_table('approvers', 'legacy_approvers')
    op.create_table('approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('plan_hash', _HASH, nullable=False),
    sa.Column('operator', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('person', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('statement', _HASH, nullable=False),
    sa.Column('created_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id', name='pk_approvals'),
    sa.UniqueConstraint('case_id', 'plan_hash', 'person', name='uq_approvals_person')
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_case_id', ['case_id'], unique=False)
    for table, column in _COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, _HASH, nullable=True))
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.alter_column('subject', type_=sqlmodel.sql.sqltypes.AutoString(length=256),
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=128), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.alter_column('subject', type_=sqlmodel.sql.sqltypes.AutoString(length=128),
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=256), existing_nullable=False)
    for table, column in reversed(_COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_case_id')
    op.drop_table('approvals')
    op.rename_table('legacy_approvers', 'approvers')
    op.rename_table('legacy_approvals', 'approvals')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_case_id', ['case_id'], unique=False)
