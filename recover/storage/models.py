"""The case database: SQLModel tables.

Amounts in base units can exceed 64 bits (10^30 and more), so they are stored as decimal strings
(``BaseUnits``) and read back as ``int``; timestamps are stored as naive UTC and read back aware.
Keys never appear here: only addresses, derivation paths and public keys.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BaseUnits(TypeDecorator):
    """An arbitrarily large non-negative integer amount, stored exactly as text."""

    impl = sa.String(80)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"base-unit amounts are int, got {type(value).__name__}")
        return str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


class UTCDateTime(TypeDecorator):
    """Timestamps are UTC: stored naive (portable across SQLite and PostgreSQL), returned aware."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def _json_col() -> Any:
    return sa.Column(sa.JSON, nullable=False, default=dict)


class Case(SQLModel, table=True):
    """A claim that an on-chain deposit reached one of our addresses and should be recovered.

    ``claim_scope`` narrows a claim within a transaction (deposit address and asset, ``*`` when not
    given); together with the chain and txid it is unique, and the service refuses overlapping claims.
    ``chain`` is the chain the network file describes (``eip155:1``), not its key: two files for one
    chain share their claims.
    """

    __tablename__ = "cases"
    __table_args__ = (sa.UniqueConstraint("network", "txid", "claim_scope", name="uq_cases_claim"),
                      sa.UniqueConstraint("external_ref", name="uq_cases_external_ref"),
                      sa.Index("uq_cases_chain_claim", "chain", "txid", "claim_scope", unique=True))

    id: Optional[int] = Field(default=None, primary_key=True)
    network: str = Field(max_length=64, index=True)
    chain: str = Field(max_length=96)
    txid: str = Field(max_length=128)
    claim_scope: str = Field(max_length=256)
    asset: Optional[str] = Field(default=None, max_length=128)
    deposit_address: Optional[str] = Field(default=None, max_length=128)
    return_address: Optional[str] = Field(default=None, max_length=128)
    credit_account: Optional[str] = Field(default=None, max_length=128)
    claimant: Optional[str] = Field(default=None, max_length=256)
    # shared-wallet (memo) networks: which transfer of the transaction is claimed (``--msg-index``), and
    # the memo / tag a refund must carry to reach the claimant (``--return-memo``)
    msg_index: Optional[int] = Field(default=None)
    return_memo: Optional[str] = Field(default=None, max_length=128)
    # the appeal's id in the exchange's ticket system (`case import`): one case per reference
    external_ref: Optional[str] = Field(default=None, max_length=128)
    status: str = Field(max_length=32, index=True)
    classification: Optional[str] = Field(default=None, max_length=64)
    refusal_code: Optional[str] = Field(default=None, max_length=64)
    refusal_reason: Optional[str] = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    # what a reviewer must look at before approval (e.g. lookalike_destination: address poisoning)
    flags: Optional[list] = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    opened_by: str = Field(max_length=128)
    prepared_by: Optional[str] = Field(default=None, max_length=128)
    claim_statement: Optional[str] = Field(default=None, max_length=64)  # hash of the signed claim
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DepositFact(SQLModel, table=True):
    """One on-chain deposit as the chain proved it (a log, an output, a balance change).

    ``(chain, txid, deposit_index)`` is unique: a deposit belongs to at most one case, whichever
    network file it was claimed under.  The index is the log index (EVM tokens), the output index
    (UTXO), or -1 for a transaction's native value.
    """

    __tablename__ = "deposit_facts"
    __table_args__ = (sa.UniqueConstraint("network", "txid", "deposit_index", name="uq_deposit_facts_deposit"),
                      sa.Index("uq_deposit_facts_chain_deposit", "chain", "txid", "deposit_index", unique=True))

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    network: str = Field(max_length=64)
    chain: str = Field(max_length=96)
    txid: str = Field(max_length=128)
    deposit_index: int
    sender: Optional[str] = Field(default=None, max_length=128)
    receiving_address: str = Field(max_length=128)
    asset: str = Field(max_length=128)  # native symbol, token contract or mint
    asset_symbol: Optional[str] = Field(default=None, max_length=64)
    decimals: int
    amount: int = Field(sa_type=BaseUnits)
    block_number: Optional[int] = Field(default=None, sa_type=sa.BigInteger)
    block_hash: Optional[str] = Field(default=None, max_length=128)
    block_time: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)
    confirmations: int = 0
    success: bool = True
    classification: str = Field(max_length=64)
    details: dict = Field(default_factory=dict, sa_column=_json_col())
    verified_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Quote(SQLModel, table=True):
    """A fee quote; the newest row of a case is its current quote (older ones stay for the record)."""

    __tablename__ = "quotes"

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    gross: int = Field(sa_type=BaseUnits)
    fee: int = Field(sa_type=BaseUnits)
    network_cost_native: int = Field(sa_type=BaseUnits)
    network_cost_in_asset: int = Field(sa_type=BaseUnits)
    net: int = Field(sa_type=BaseUnits)
    decimals: int
    value_usd: Optional[str] = Field(default=None, max_length=80)
    economical: bool
    refusal_code: Optional[str] = Field(default=None, max_length=64)
    details: dict = Field(default_factory=dict, sa_column=_json_col())
    created_by: str = Field(max_length=128)
    statement: Optional[str] = Field(default=None, max_length=64)  # hash of the signed quote
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SweepPlan(SQLModel, table=True):
    """The unsigned transactions that move the deposit out; approvals sign ``plan_hash``.

    A new plan for a case supersedes the old one (``superseded_at``), which voids its approvals.
    ``steps_view`` holds the plan's human-readable rows, written in the plan's transaction.
    """

    __tablename__ = "sweep_plans"

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    plan_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    plan_hash: str = Field(max_length=64, index=True)
    created_by: str = Field(max_length=128)
    statement: Optional[str] = Field(default=None, max_length=64)  # hash of the signed plan statement
    # the rows people read (the adapter's describe_plan), stored with the plan so that reads need no
    # chain adapter; derived from plan_json and kept out of plan_hash
    steps_view: Optional[list] = Field(default=None, sa_column=sa.Column(sa.JSON(none_as_null=True), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    superseded_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    """One person's signed decision on one plan hash (a view of its ``decision`` statement): what
    counts is derived from the statements every time, never from this row.  One decision per person
    and plan.  (Approvals made before signed statements existed are kept in ``legacy_approvals`` and
    never count.)"""

    __tablename__ = "approvals"
    __table_args__ = (sa.UniqueConstraint("case_id", "plan_hash", "person", name="uq_approvals_person"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    plan_hash: str = Field(max_length=64)
    operator: str = Field(max_length=128)
    person: str = Field(max_length=128)
    decision: str = Field(max_length=16)  # approve | reject
    reason: Optional[str] = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    statement: str = Field(max_length=64)  # hash of the signed decision statement
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DepositAddress(SQLModel, table=True):
    """An address whose key the exchange holds, registered for one network."""

    __tablename__ = "deposit_addresses"
    __table_args__ = (sa.UniqueConstraint("network", "address_key", name="uq_deposit_addresses_addr"),
                      # a scan asks whether a network has retired addresses at all (few, among millions)
                      sa.Index("ix_deposit_addresses_retired", "network",
                               postgresql_where=sa.text("status = 'retired'"),
                               sqlite_where=sa.text("status = 'retired'")))

    id: Optional[int] = Field(default=None, primary_key=True)
    network: str = Field(max_length=64)
    address: str = Field(max_length=128)
    address_key: str = Field(max_length=128, index=True)  # comparison form (lowercase for EVM)
    derivation_path: str = Field(max_length=128)
    account: str = Field(max_length=128)
    status: str = Field(default="active", max_length=16)  # active | retired
    # deposit: one user's own address; shared: the exchange's shared (memo) deposit wallet, which also
    # pays the refunds of its misdeposits
    kind: str = Field(default="deposit", max_length=16)
    statement: Optional[str] = Field(default=None, max_length=64)  # hash of the admin-signed registration
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MemoAccount(SQLModel, table=True):
    """A memo / tag the exchange gave one of its accounts on a shared-wallet network (``memos import``):
    a deposit carrying it belongs to that account.  ``closed``: the account no longer takes deposits."""

    __tablename__ = "memo_accounts"
    __table_args__ = (sa.UniqueConstraint("network", "memo", name="uq_memo_accounts_memo"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    network: str = Field(max_length=64)
    memo: str = Field(max_length=128)
    account: str = Field(max_length=128)
    status: str = Field(default="active", max_length=16)  # active | closed
    statement: Optional[str] = Field(default=None, max_length=64)  # hash of the admin-signed statement
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Price(SQLModel, table=True):
    """A USD price observation (asset: a native symbol, or ``network:contract`` for tokens)."""

    __tablename__ = "prices"

    id: Optional[int] = Field(default=None, primary_key=True)
    asset: str = Field(max_length=200, index=True)
    usd: str = Field(max_length=80)  # Decimal as text: never a float
    at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=128)
    statement: Optional[str] = Field(default=None, max_length=64)  # hash of the pricer's signed statement
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained log: each row hashes its content and its predecessor's hash."""

    __tablename__ = "audit_events"

    id: Optional[int] = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    case_id: Optional[int] = Field(default=None, index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    from_status: Optional[str] = Field(default=None, max_length=32)
    to_status: Optional[str] = Field(default=None, max_length=32)
    details: dict = Field(default_factory=dict, sa_column=_json_col())
    created_at: str = Field(max_length=40)  # ISO-8601 UTC text, hashed exactly as stored
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class CaseCondition(SQLModel, table=True):
    """A named condition of a conditional network, satisfied and recorded (who, why, evidence)."""

    __tablename__ = "case_conditions"
    __table_args__ = (sa.UniqueConstraint("case_id", "condition", name="uq_case_conditions_once"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    condition: str = Field(max_length=64)
    satisfied_by: str = Field(max_length=128)
    reason: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    evidence: dict = Field(default_factory=dict, sa_column=_json_col())
    statement: Optional[str] = Field(default=None, max_length=64)  # hash of the signed condition
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SignedTx(SQLModel, table=True):
    """Signed bytes of one plan step.  Broadcasting only ever re-sends these bytes."""

    __tablename__ = "signed_txs"
    __table_args__ = (sa.UniqueConstraint("case_id", "plan_hash", "seq", name="uq_signed_txs_step"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    plan_hash: str = Field(max_length=64)
    seq: int
    role: str = Field(max_length=32)
    raw: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    txid: str = Field(max_length=128, index=True)
    status: str = Field(default="signed", max_length=16)  # signed | sent | confirmed | failed
    block_number: Optional[int] = Field(default=None, sa_type=sa.BigInteger)
    confirmations: int = 0
    error: Optional[str] = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    signed_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)


class Credit(SQLModel, table=True):
    """An account credit owed for a completed credit-account case; exported to the ledger once."""

    __tablename__ = "credits"

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", unique=True)
    account: str = Field(max_length=128)
    network: str = Field(max_length=64)
    asset: str = Field(max_length=200)
    amount: int = Field(sa_type=BaseUnits)
    decimals: int
    txids: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # space-separated
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    exported_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)
    export_batch: Optional[str] = Field(default=None, max_length=64)


class StatementRecord(SQLModel, table=True):
    """A signed statement as stored: canonical JSON (``payload``), its hash and its signatures, at its
    place in the statement log (``recover.authority.statement_log``).

    ``seq`` numbers the log from 1 without gaps; ``entry`` hashes this row's place (seq, the previous
    entry, the statement's hash, kind, subject, head and admin_seq), so a row deleted, inserted,
    re-ordered or re-labelled breaks every later entry.  ``head`` is the entry the signer saw (it is
    inside the signed body too) and ``admin_seq`` numbers admin statements 1, 2, 3... (also signed).
    Rows that derive from statements name the statement by hash; trust comes from re-checking the
    signatures and the log against the trust root and the host's pinned head, never from the row."""

    __tablename__ = "statements"

    id: Optional[int] = Field(default=None, primary_key=True)
    seq: int = Field(sa_type=sa.BigInteger, unique=True)
    hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=64, index=True)
    subject: str = Field(max_length=256, index=True)
    head: str = Field(max_length=64)
    admin_seq: Optional[int] = Field(default=None, sa_type=sa.BigInteger, unique=True)
    entry: str = Field(max_length=64, unique=True)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    signatures: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Operator(SQLModel, table=True):
    """An enrolled operator key (a view of its ``operator_enroll`` / ``operator_revoke`` statements)."""

    __tablename__ = "operators"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    public_key: str = Field(max_length=64, unique=True)  # hex, 32 bytes
    roles: str = Field(max_length=256)  # comma-separated, sorted
    person: str = Field(max_length=128, index=True)
    enrolled_by: str = Field(max_length=64)  # statement hash
    revoked_by: Optional[str] = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)


class Job(SQLModel, table=True):
    """Due background work on a case (``recover worker``): verify an open case, broadcast a signed one,
    track a broadcast one.  A row is enqueued in the same transaction as the state change that needs
    it; a worker leases it (``SELECT ... FOR UPDATE SKIP LOCKED``), runs it, and marks it done or due
    again later.  A worker that dies leaves a lease that expires, and another worker takes the job."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_due", "done_at", "due_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    kind: str = Field(max_length=16)  # verify | broadcast | track
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = 0
    leased_by: Optional[str] = Field(default=None, max_length=128)
    lease_until: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)
    last_error: Optional[str] = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)


class ScanState(SQLModel, table=True):
    """How far ``recover scan`` has looked on a network: the next scan resumes after ``last_block``."""

    __tablename__ = "scan_state"

    network: str = Field(primary_key=True, max_length=64)
    last_block: int = Field(sa_type=sa.BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)



class GasReservation(SQLModel, table=True):
    """What a live plan holds besides its own deposit: the gas station's nonce its top-up takes, and
    the exchange's own native left at the deposit address (``own_native``) it counts on for gas.

    Reserved at prepare, in the plan's transaction, so a batch of plans takes distinct station nonces
    (the lowest at or above the station's pending nonce that no live plan holds: a released one is
    reused first).  Released (``released_at``, ``outcome``) in the transaction that voids the plan
    (re-quote, re-prepare, re-plan, rejection, an end) or completes it.  At most one live reservation
    per station nonce (a partial unique index)."""

    __tablename__ = "gas_reservations"
    __table_args__ = (sa.Index("uq_gas_reservations_live_nonce", "chain", "station", "nonce", unique=True,
                               sqlite_where=sa.text("released_at IS NULL AND nonce IS NOT NULL"),
                               postgresql_where=sa.text("released_at IS NULL AND nonce IS NOT NULL")),)

    id: Optional[int] = Field(default=None, primary_key=True)
    chain: str = Field(max_length=96)
    case_id: int = Field(foreign_key="cases.id", index=True)
    plan_hash: str = Field(max_length=64)
    station: Optional[str] = Field(default=None, max_length=128)  # address key of the gas station
    nonce: Optional[int] = Field(default=None, sa_type=sa.BigInteger)
    deposit: str = Field(max_length=128)  # address key of the deposit address
    own_native: int = Field(default=0, sa_type=BaseUnits)  # our leftover there the plan counts on
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)
    outcome: Optional[str] = Field(default=None, max_length=32)  # voided | completed | forfeited


class GasLeftover(SQLModel, table=True):
    """Native value the exchange itself put at a deposit address (gas top-ups) that its transactions
    did not burn, and that no live plan counts on yet: the only native there a later plan may spend
    for gas.  Everything else at the address belongs to a deposit, claimed or not."""

    __tablename__ = "gas_leftovers"

    chain: str = Field(primary_key=True, max_length=96)
    address_key: str = Field(primary_key=True, max_length=128)
    address: str = Field(max_length=128)
    amount: int = Field(sa_type=BaseUnits)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
