"""the statement log: every statement at a numbered, hash-linked place, bound to a deployment

Statements made before this revision name no deployment and no head of the log: a copy of them counts
in any database, and deleting one left no trace.  They are kept, with the operator rows that rest on
them, as ``legacy_statements`` and ``legacy_operators`` for the record, and count for nothing; the new
``statements`` table starts the log at its genesis.  After the upgrade the admins enroll the operators
again (with a format-2 trust root) and open cases still in progress are reopened or closed by them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import recover.storage.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def _drop_indexes(table: str, names: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_index(name)


def upgrade() -> None:
    _drop_indexes('statements', ['ix_statements_kind', 'ix_statements_subject'])
    op.rename_table('statements', 'legacy_statements')
    _drop_indexes('operators', ['ix_operators_person'])
    op.rename_table('operators', 'legacy_operators')
    op.create_table('statements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', _S(length=64), nullable=False),
    sa.Column('kind', _S(length=64), nullable=False),
    sa.Column('subject', _S(length=256), nullable=False),
    sa.Column('head', _S(length=64), nullable=False),
    sa.Column('admin_seq', sa.BigInteger(), nullable=True),
    sa.Column('entry', _S(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('signatures', sa.JSON(), nullable=False),
    sa.Column('created_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name='pk_statement_log'),
    sa.UniqueConstraint('seq', name='uq_statements_seq'),
    sa.UniqueConstraint('hash', name='uq_statements_hash'),
    sa.UniqueConstraint('admin_seq', name='uq_statements_admin_seq'),
    sa.UniqueConstraint('entry', name='uq_statements_entry'),
    )
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.create_index('ix_statements_kind', ['kind'], unique=False)
        batch_op.create_index('ix_statements_subject', ['subject'], unique=False)
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', _S(length=128), nullable=False),
    sa.Column('public_key', _S(length=64), nullable=False),
    sa.Column('roles', _S(length=256), nullable=False),
    sa.Column('person', _S(length=128), nullable=False),
    sa.Column('enrolled_by', _S(length=64), nullable=False),
    sa.Column('revoked_by', _S(length=64), nullable=True),
    sa.Column('created_at', recover.storage.models.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', recover.storage.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name='pk_operator_keys'),
    sa.UniqueConstraint('name', name='uq_operators_name'),
    sa.UniqueConstraint('public_key', name='uq_operators_public_key'),
    )
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.create_index('ix_operators_person', ['person'], unique=False)


def downgrade() -> None:
    _drop_indexes('operators', ['ix_operators_person'])
    op.drop_table('operators')
    _drop_indexes('statements', ['ix_statements_kind', 'ix_statements_subject'])
    op.drop_table('statements')
    op.rename_table('legacy_operators', 'operators')
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.create_index('ix_operators_person', ['person'], unique=False)
    op.rename_table('legacy_statements', 'statements')
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.create_index('ix_statements_kind', ['kind'], unique=False)
        batch_op.create_index('ix_statements_subject', ['subject'], unique=False)
