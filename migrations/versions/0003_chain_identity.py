"""deposits identified by their chain, not the network file's key; case flags

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:20:00

Two network files for one chain (``eip155:31337`` under two keys) must not let one deposit be
claimed twice: cases and deposit facts carry the chain, and the uniqueness of a claim and of a
deposit is by chain.  Existing rows get the chain of their network as configured now (a network no
longer configured keeps ``network:<key>``, which can only clash with itself).
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _chains() -> dict[str, str]:
    try:
        from chains.config import load_networks

        return {k: n.chain for k, n in load_networks().items()}
    except Exception:  # a broken config folder must not block the upgrade: keep the keys
        return {}


def upgrade() -> None:
    chains = _chains()
    conn = op.get_bind()
    for table in ("cases", "deposit_facts"):
        # NOT NULL with a default from the start: SQLite cannot add the constraint later without
        # rebuilding the table (and "cases" is referenced by foreign keys); the backfill follows.
        op.add_column(table, sa.Column("chain", sa.String(length=96), nullable=False, server_default=""))
        t = sa.table(table, sa.column("network", sa.String), sa.column("chain", sa.String))
        for (network,) in conn.execute(sa.select(t.c.network).distinct()).all():
            conn.execute(sa.update(t).where(t.c.network == network)
                         .values(chain=chains.get(network, f"network:{network}")))
        if conn.dialect.name != "sqlite":  # the application always writes it: no default
            op.alter_column(table, "chain", existing_type=sa.String(length=96), server_default=None)
    op.add_column("cases", sa.Column("flags", sa.JSON(), nullable=True))
    # The chain-wide uniqueness; the old per-key constraints stay (they are implied by these).
    op.create_index("uq_cases_chain_claim", "cases", ["chain", "txid", "claim_scope"], unique=True)
    op.create_index("uq_deposit_facts_chain_deposit", "deposit_facts", ["chain", "txid", "deposit_index"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_deposit_facts_chain_deposit", "deposit_facts")
    op.drop_index("uq_cases_chain_claim", "cases")
    with op.batch_alter_table("deposit_facts", schema=None) as batch_op:
        batch_op.drop_column("chain")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("flags")
        batch_op.drop_column("chain")
