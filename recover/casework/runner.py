"""One runner for every state-changing operation: who, in what unit of work, on which case, when.

:func:`run` does, for the operation named in :mod:`recover.life.operations`, in this order and in one
transaction: open the keys (an operator's key file, or the admins' key files, before any transaction:
the KDF takes a moment) -> open the unit of work -> refuse a database without schema -> prove the
operator and check the role the table gives -> for a deciding operation, accept the statement log
(:func:`recover.authority.history.accept_history`) -> load the case and lock its row (``SELECT ... FOR UPDATE``
on PostgreSQL) -> ``before`` (argument checks that must be named before the case's status is) ->
check that the table's ``accepts`` holds the case's status -> the operation itself, whose moves go
through :func:`recover.casework.transitions.move` (audit event, follow-up job) in the same transaction.  It
commits when the operation returns and leaves the database as it was when anything raises.

The CLI (through :mod:`recover.api`), the worker and the web app all come here; nobody else proves an
operator, accepts the history or checks an accepted status.

An operation that makes its own units of work (verifying a batch, broadcasting step by step, opening
the cases of a CSV) passes ``own_units=True``: the steps above run and commit first, then ``body``
runs with ``ctx.sessions`` (a factory of units of work) instead of ``ctx.session``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from recover.authority.acting import acting, load_operator_key, require_role
from recover.authority.history import accept_history
from recover.authority.trust import admin_keys_from_files, load_trust_root
from recover.casework.cases import get_case
from recover.life.operations import ACCEPT, ADMINS, OPERATIONS, OPERATOR, Operation
from recover.life.states import check_operation
from recover.storage.db import require_schema, session_scope


@dataclass
class Context:
    """What an operation runs with."""

    op: Operation
    sessions: Callable                   # () -> a unit of work (``recover.storage.db.session_scope`` of the database)
    session: Any = None                  # the runner's unit of work (None with ``own_units``)
    actor: Any = None                    # the proven operator (``recover.authority.acting.Acting``); None for admins
    root: Any = None                     # the trust root, for admin operations
    admin_keys: list | None = None       # the admins' signing keys, for admin operations
    case: Any = None                     # the locked case row, when the operation takes a case
    checked: Any = None                  # what ``before`` returned


def run(name: str, *, body: Callable[[Context], Any], db: str | None = None, key=None, admin_keys=None,
        actor=None, case_id: int | None = None, before: Callable[[Context], Any] | None = None,
        own_units: bool = False):
    """Run operation ``name`` (a key of ``recover.life.operations.OPERATIONS``); returns what ``body`` returns.

    ``key``: the operator's key file or ``SigningKey`` (default ``RECOVER_OPERATOR_KEY``); ``actor``
    instead: an operator already proven another way (a passkey in the web app), whose role is checked
    here all the same.  ``admin_keys``: the admins' key files, for admin operations."""
    op = OPERATIONS[name]
    sessions = lambda: session_scope(db)  # noqa: E731 - the same database for every unit of work
    ctx = Context(op, sessions)
    signing_key = None
    if op.by == OPERATOR and actor is None:
        signing_key = load_operator_key(key)
    elif op.by == ADMINS:
        ctx.root = load_trust_root()
        ctx.admin_keys = admin_keys_from_files(list(admin_keys or []), ctx.root)
    with sessions() as s:
        require_schema(s)
        ctx.session = s
        if op.by == OPERATOR:
            ctx.actor = (acting(s, signing_key, op.roles, doing=op.doing) if actor is None
                         else require_role(actor, op.roles, doing=op.doing))
        if op.history == ACCEPT:
            accept_history(s, ctx.root or load_trust_root(), doing=_doing(op, case_id))
        if case_id is not None:
            ctx.case = get_case(s, case_id, lock=True)
        if before is not None:
            ctx.checked = before(ctx)
        if ctx.case is not None:
            check_operation(name, ctx.case.id, ctx.case.status)
        if not own_units:
            return body(ctx)
    ctx.session = None
    return body(ctx)


def _doing(op: Operation, case_id: int | None) -> str:
    """What a refused history refuses: "to sign case 7", "to export credits"."""
    if case_id is not None:
        return f"to {op.commands[0].split()[-1]} case {case_id}"
    return f"to {op.doing}"
