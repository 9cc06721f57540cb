"""The Python API: the same operations as the CLI (which is a thin client of this module).

Every function opens one unit of work: it commits when it returns and leaves the database exactly
as it was when it raises.  ``db`` is a database URL (default: ``RECOVER_DB_URL`` or
``sqlite:///recover.db``); ``actor`` defaults to ``RECOVER_ACTOR`` or the OS user.
"""

from __future__ import annotations

from pathlib import Path

from recover.actors import resolve_actor
from recover.db import require_schema, session_scope, upgrade_to_head


def init(db: str | None = None) -> str:
    """Create or upgrade the case database to the newest schema; returns the revision."""
    return upgrade_to_head(db)


def list_networks(recovery_class: str | None = None, *, include_devnets: bool = True):
    from recover.errors import InvalidInput
    from recover.registry import networks

    if recovery_class not in (None, "direct", "conditional"):
        raise InvalidInput(f"--class must be direct or conditional, not {recovery_class!r}")
    nets = sorted(networks().values(), key=lambda n: (n.devnet, n.recovery_class, n.key))
    return [n for n in nets if (recovery_class is None or n.recovery_class == recovery_class)
            and (include_devnets or not n.devnet)]


def import_addresses(path: str | Path, *, db: str | None = None, actor: str | None = None):
    from recover.addresses import import_addresses as _import

    who = resolve_actor(actor)
    with session_scope(db) as s:
        require_schema(s)
        return _import(s, Path(path), actor=who)


def open_case(network: str, tx: str, *, return_address: str | None = None, credit_account: str | None = None,
              asset: str | None = None, deposit_address: str | None = None, claimant: str | None = None,
              db: str | None = None, actor: str | None = None):
    """Record a claim; returns the new ``Case`` (status ``open``)."""
    from recover.cases import Claim, open_case as _open

    who = resolve_actor(actor)
    claim = Claim(network=network, tx=tx, return_address=return_address, credit_account=credit_account,
                  asset=asset, deposit_address=deposit_address, claimant=claimant)
    with session_scope(db) as s:
        require_schema(s)
        return _open(s, claim, actor=who)


def show_case(case_id: int, *, db: str | None = None) -> dict:
    """The whole story of a case as one JSON-safe document."""
    from recover.cases import get_case
    from recover.views import case_view

    with session_scope(db) as s:
        require_schema(s)
        return case_view(s, get_case(s, case_id))


def list_cases(status: str | None = None, *, network: str | None = None, db: str | None = None):
    from recover.cases import list_cases as _list

    with session_scope(db) as s:
        require_schema(s)
        return _list(s, status, network)


def verify_audit(*, db: str | None = None):
    from recover.audit import verify_chain

    with session_scope(db) as s:
        require_schema(s)
        return verify_chain(s)
