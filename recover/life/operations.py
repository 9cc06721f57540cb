"""The operations table: the one place that says what each operation may do.

For every state-changing operation of the toolkit, one row of data says who may do it (the roles of
an enrolled operator's key, any operator, an admin quorum, or anyone), the case statuses it accepts
and the error when the case is in another one, the moves of the case life it may make, the job the
worker runs for it, whether it decides (rests on the whole statement log first), the kinds of
signed statement it makes, and the CLI commands that do it.  Everything else reads this table:

- ``recover.casework.runner.run`` checks the role, the history and the accepted status before an operation;
- ``recover.life.states`` derives the legal moves (``TRANSITIONS``, ``REOPENS``) from the rows' ``moves``,
  and ``recover.casework.transitions.move`` refuses a move its operation does not list;
- ``recover.storage.jobs`` derives which job a status needs, ``recover.services.worker`` which jobs hold a case;
- ``recover.authority.acting`` derives the roles a statement's signer needs from the operations that sign it.

The place to add an operation: a row here, then a one-call function in ``recover.api`` that hands
``recover.casework.runner.run`` the service that does the work.  This module imports nothing of the domain
(it is data), so every other module can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class CaseStatus(str, Enum):
    OPEN = "open"
    VERIFIED = "verified"
    QUOTED = "quoted"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    COMPLETED = "completed"
    REJECTED = "rejected"
    UNRECOVERABLE = "unrecoverable"
    FAILED = "failed"


S = CaseStatus

#: every role an operator key can be enrolled with (``operators enroll --roles``)
ROLES = ("specialist", "reviewer", "approver", "senior", "pricer", "admin", "viewer")
#: roles that only read: a ``viewer`` (typically a passkey) signs in to the web queue and reads every page.
#: No operation takes it, not even one open to any operator (``roles=()``), and it is no approving key,
#: so a person who approves with one key may also hold a viewer.
READING = ("viewer",)
#: what ``roles=()`` means: any enrolled operator whose roles act
ACTING_ROLES = tuple(r for r in ROLES if r not in READING)

# Who may do an operation (``Operation.by``).
OPERATOR = "operator"  # an enrolled operator's key (``--key``) with one of ``roles`` (empty: ``ACTING_ROLES``)
ADMINS = "admins"      # a quorum of the trust root's admins (``--admin-key`` once per admin)
ANYONE = "anyone"      # no key: whoever can read the database (``audit verify``)

# How an operation rests on the statement log (``Operation.history``).
ACCEPT = "accept"    # refuse (exit 7 ``history_broken``) unless the log is whole and extends this host's pin
EXAMINE = "examine"  # report on the whole log, and pin it only when it checks out (``audit verify``)


@dataclass(frozen=True)
class Operation:
    name: str
    doing: str                                  # the refusal's words: "operator X may not <doing>"
    commands: tuple[str, ...]                   # the CLI commands that do it
    by: str = OPERATOR
    roles: tuple[str, ...] = ()                 # for ``by == OPERATOR``: any one of these (empty: ACTING_ROLES)
    accepts: frozenset = frozenset()            # statuses a case may be in for it to start (empty: no case)
    refusal: str = ""                           # the error code when the case is in another status
    why: str = ""                               # ... and the words after "case N is '<status>': "
    moves: frozenset = frozenset()              # (from, to) moves of the case life it may make
    reopens: bool = False                       # its moves leave an end (``case reopen``): not case-life moves
    job_in: frozenset = frozenset()             # the worker runs it on a case that arrives in these statuses
    job_holds: bool = False                     # its job stays due (refusals retried) until the case moves on
    history: str | None = None                  # ACCEPT or EXAMINE: a deciding operation
    statements: tuple[str, ...] = ()            # the kinds of statement it signs

    @property
    def decides(self) -> bool:
        return self.history is not None


def _edges(sources, targets) -> frozenset:
    return frozenset((a, b) for a in sources for b in targets)


_BEFORE_APPROVAL = frozenset({S.OPEN, S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL})
_QUOTABLE = frozenset({S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED})
_DECIDABLE = frozenset({S.AWAITING_APPROVAL, S.APPROVED})
_ENDS = (S.REJECTED, S.UNRECOVERABLE)  # where ``case close`` ends a case
_SPECIALIST = ("specialist",)
_WALLET_TEAM = ("approver", "senior")  # approve, reject; sign, export, import signed plans, export credits

_TABLE = (
    Operation("open", "open cases", ("case open", "case import", "scan"), roles=_SPECIALIST,
              statements=("claim",)),
    Operation("verify", "verify cases", ("case verify",), roles=_SPECIALIST,
              accepts=frozenset({S.OPEN}), refusal="not_open", why="only open cases are verified",
              moves=_edges({S.OPEN}, {S.VERIFIED, S.UNRECOVERABLE}), job_in=frozenset({S.OPEN}),
              statements=("verification",)),
    Operation("quote", "quote a case", ("case quote",), roles=_SPECIALIST,
              accepts=_QUOTABLE, refusal="not_quotable",
              why="only verified cases (or quoted ones not yet signed) can be quoted",
              moves=_edges(_QUOTABLE, {S.QUOTED}), statements=("quote",)),
    Operation("prepare", "prepare a case", ("case prepare",), roles=_SPECIALIST,
              accepts=frozenset({S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED}), refusal="not_preparable",
              why="only quoted cases can be prepared",
              moves=_edges({S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED}, {S.AWAITING_APPROVAL}),
              statements=("plan",)),
    Operation("approve", "approve or reject plans", ("queue approve",), roles=_WALLET_TEAM,
              accepts=_DECIDABLE, refusal="not_awaiting", why="nothing awaits approval",
              moves=frozenset({(S.AWAITING_APPROVAL, S.APPROVED)}), history=ACCEPT, statements=("decision",)),
    Operation("reject", "approve or reject plans", ("queue reject",), roles=_WALLET_TEAM,
              accepts=_DECIDABLE, refusal="not_awaiting", why="nothing awaits approval",
              moves=_edges(_DECIDABLE, {S.REJECTED}), history=ACCEPT, statements=("decision",)),
    # a condition's sign-off or proof can be the last thing an approved plan waited for
    Operation("signoff", "sign off conditions", ("case signoff",), roles=("reviewer",),
              accepts=_QUOTABLE, refusal="not_verified", why="conditions are recorded on verified cases",
              moves=frozenset({(S.AWAITING_APPROVAL, S.APPROVED)}), statements=("condition",)),
    Operation("prove", "record an ownership proof", ("case prove",), roles=("specialist", "reviewer"),
              accepts=_QUOTABLE, refusal="not_verified", why="conditions are recorded on verified cases",
              moves=frozenset({(S.AWAITING_APPROVAL, S.APPROVED)}), statements=("condition",)),
    # signing again a plan none of whose transactions reached the chain; a nonce taken meanwhile
    # sends the case back to be planned again; a shared-wallet credit (a plan with no transactions) is
    # carried out by its signing: approved -> completed, its credit recorded
    Operation("sign", "sign sweeps", ("case sign",), roles=_WALLET_TEAM,
              accepts=frozenset({S.APPROVED, S.SIGNED}), refusal="not_approved", why="only approved cases are signed",
              moves=frozenset({(S.APPROVED, S.SIGNED), (S.SIGNED, S.SIGNED), (S.APPROVED, S.QUOTED),
                               (S.APPROVED, S.COMPLETED)}),
              history=ACCEPT, statements=("signed",)),
    Operation("export", "export plans for signing", ("case export",), roles=_WALLET_TEAM,
              accepts=frozenset({S.APPROVED}), refusal="not_approved",
              why="only approved plans are exported or imported", history=ACCEPT),
    Operation("import-signed", "import signed plans", ("case import-signed",), roles=_WALLET_TEAM,
              accepts=frozenset({S.APPROVED}), refusal="not_approved",
              why="only approved plans are exported or imported",
              moves=frozenset({(S.APPROVED, S.SIGNED)}), history=ACCEPT, statements=("signed",)),
    # a step that can no longer succeed before it is sent: planned again while the money is at the
    # deposit address, else failed
    Operation("broadcast", "broadcast", ("case broadcast",),
              accepts=frozenset({S.SIGNED, S.BROADCAST}), refusal="not_signed", why="only signed cases are broadcast",
              moves=_edges({S.SIGNED}, {S.BROADCAST, S.FAILED, S.VERIFIED}) | _edges({S.BROADCAST},
                                                                                    {S.FAILED, S.VERIFIED}),
              job_in=frozenset({S.SIGNED}), job_holds=True, history=ACCEPT),
    # a transaction that can never land: planned again while the money is there, else failed; a
    # failed case whose transactions landed after all completes
    Operation("track", "track", ("case track",),
              accepts=frozenset({S.BROADCAST, S.FAILED}), refusal="not_broadcast",
              why="only broadcast cases (and failed ones, whose transactions may still land) are tracked",
              moves=_edges({S.BROADCAST}, {S.COMPLETED, S.FAILED, S.VERIFIED}) | {(S.FAILED, S.COMPLETED)},
              job_in=frozenset({S.BROADCAST}), job_holds=True, history=ACCEPT),
    Operation("close", "close cases (before approval; after it, an admin quorum does)", ("case close",),
              roles=("reviewer",), accepts=_BEFORE_APPROVAL, refusal="not_closable",
              why="only a case that is not final, and before approval, is closed by a reviewer",
              moves=_edges(_BEFORE_APPROVAL, _ENDS), history=ACCEPT, statements=("close",)),
    # after approval only an admin quorum closes a case, and a signed one only while none of its
    # transactions was sent
    Operation("close-by-admins", "close cases", ("case close",), by=ADMINS,
              accepts=_BEFORE_APPROVAL | {S.APPROVED, S.SIGNED}, refusal="not_closable",
              why="only a case that is not final, and none of whose transactions was sent, can be closed",
              moves=_edges(_BEFORE_APPROVAL | {S.APPROVED, S.SIGNED}, _ENDS), history=ACCEPT,
              statements=("close_by_admins",)),
    # back to ``verified`` when the deposit's facts are on the case, else to ``open`` (a failed case
    # always has them)
    Operation("reopen", "reopen cases", ("case reopen",), by=ADMINS,
              accepts=frozenset({S.REJECTED, S.UNRECOVERABLE, S.FAILED}), refusal="not_reopenable",
              why="only rejected, unrecoverable and failed cases can be reopened",
              moves=_edges({S.REJECTED, S.UNRECOVERABLE}, {S.OPEN, S.VERIFIED}) | {(S.FAILED, S.VERIFIED)},
              reopens=True, history=ACCEPT, statements=("reopen",)),
    Operation("credits-export", "export credits", ("credits export",), roles=_WALLET_TEAM, history=ACCEPT),
    Operation("price", "set prices", ("prices set", "prices import"), roles=("pricer",), statements=("price",)),
    Operation("addresses-import", "register addresses", ("addresses import",), by=ADMINS, history=ACCEPT,
              statements=("address",)),
    Operation("memos-import", "register memo accounts", ("memos import",), by=ADMINS, history=ACCEPT,
              statements=("memo",)),
    Operation("policy-set", "set the approval policy", ("policy set",), by=ADMINS, history=ACCEPT,
              statements=("policy",)),
    Operation("enroll", "enroll operators", ("operators enroll",), by=ADMINS, history=ACCEPT,
              statements=("operator_enroll",)),
    Operation("revoke", "revoke operators", ("operators revoke",), by=ADMINS, history=ACCEPT,
              statements=("operator_revoke",)),
    Operation("audit-verify", "verify the audit log", ("audit verify",), by=ANYONE, history=EXAMINE),
)

#: name -> operation, in the order above
OPERATIONS: dict[str, Operation] = {op.name: op for op in _TABLE}

#: job kind (an operation's name) per status a case arrives in; and the statuses only a job moves on
JOB_FOR: dict[CaseStatus, str] = {st: op.name for op in _TABLE for st in op.job_in}
HELD_BY_JOB: frozenset = frozenset(st for op in _TABLE if op.job_holds for st in op.job_in)

#: the roles the approving persons hold (maker-checker: ``approve``'s roles)
APPROVING = frozenset(OPERATIONS["approve"].roles)


def roles_of_statement(kind: str) -> tuple[str, ...] | None:
    """The roles the signer of a ``kind`` statement needs: those of the operations that sign it (in
    table order), None when no operator's operation signs that kind."""
    found: list[str] = []
    for op in _TABLE:
        if op.by == OPERATOR and kind in op.statements:
            found += [r for r in op.roles if r not in found]
    return tuple(found) or None


def counts_as_condition(condition: str, roles) -> bool:
    """Whether a condition statement by an operator with ``roles`` can count: an ownership proof is a
    cryptographic proof by the sender that whoever may ``prove`` records; every other condition is a
    sign-off, which counts only from whoever may ``signoff``."""
    op = OPERATIONS["prove" if condition == "ownership_proof" else "signoff"]
    return bool(set(roles) & set(op.roles))


def operation_of_command(command: str) -> list[Operation]:
    """The operations a CLI command does (``case close`` is a reviewer's or the admins')."""
    return [op for op in _TABLE if command in op.commands]


# -- groups of statuses that are not an operation's, named once here ----------------------------------
#: the statuses in which a case's current plan is live (it holds gas-book entries, approvals count)
PLAN_LIVE: frozenset = frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.SIGNED, S.BROADCAST})
#: the statuses in which a case's transactions were signed (and may have been sent)
AFTER_SIGNING: frozenset = frozenset({S.SIGNED, S.BROADCAST, S.COMPLETED, S.FAILED})
