"""Which of a chunk's recipients are our registered addresses: one indexed query per chunk.

A large exchange registers tens of millions of deposit addresses; a scan sees a few thousand
recipients per chunk of blocks.  So a scan never loads the registry: it hands each chunk's recipients
(address keys) to :func:`registered_among`, which looks them up through the ``(network, address_key)``
unique index in one statement: ``address_key = ANY(:keys)`` with the keys bound as one array on
PostgreSQL; on SQLite (no arrays, and a bound-variable limit) the keys go into a temporary table,
joined against the registry.  Memory and time follow the chunk, not the registry.
"""

from __future__ import annotations

from typing import Collection

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from recover.storage.models import DepositAddress

_TABLE = DepositAddress.__table__
_COLUMNS = (_TABLE.c.address_key, _TABLE.c.status, _TABLE.c.account)
_PG_QUERY = (sa.select(*_COLUMNS)
             .where(_TABLE.c.network == sa.bindparam("network"),
                    _TABLE.c.address_key == sa.any_(sa.bindparam("keys", type_=postgresql.ARRAY(sa.String)))))
_SQLITE_KEYS = "scan_candidates"  # a TEMP table: private to the connection, never in the database file


def registered_among(session, network: str, keys: Collection[str]) -> dict[str, tuple[str, str]]:
    """{address key: (status, account)} of those ``keys`` that are registered on ``network``."""
    if not keys:
        return {}
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_PG_QUERY, {"network": network, "keys": list(keys)})
    else:
        rows = _sqlite_join(conn, network, keys)
    return {k: (status, account) for k, status, account in rows}


def _sqlite_join(conn, network: str, keys: Collection[str]):
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {_SQLITE_KEYS} (address_key TEXT PRIMARY KEY)")
    conn.exec_driver_sql(f"DELETE FROM {_SQLITE_KEYS}")
    conn.exec_driver_sql(f"INSERT OR IGNORE INTO {_SQLITE_KEYS} (address_key) VALUES (?)", [(k,) for k in keys])
    try:
        return conn.exec_driver_sql(
            f"SELECT d.address_key, d.status, d.account FROM {_SQLITE_KEYS} c "
            "JOIN deposit_addresses d ON d.network = ? AND d.address_key = c.address_key", (network,)).all()
    finally:
        conn.exec_driver_sql(f"DELETE FROM {_SQLITE_KEYS}")


def has_retired(session, network: str) -> bool:
    """Whether ``network`` has a retired address: only then is native value a finding, and a scan
    reads the chain's native payments at all."""
    return session.connection().execute(
        sa.select(sa.literal(1)).where(_TABLE.c.network == network, _TABLE.c.status == "retired").limit(1)
    ).first() is not None
