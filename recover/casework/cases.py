"""Opening cases (with everything that can be checked without a node) and reading them back."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.addresses import address_key, normalize_txid
from chains.base import Capability
from chains.config import NetworkConfig
from chains.errors import InvalidAddress, InvalidTxid
from chains.registry import adapter_class, family
from recover.casework.claim_rows import write_claims
from recover.casework.destinations import check_destination, lookalike_flags
from recover.casework.views import list_cases as _list
from recover.errors import DuplicateClaim, InvalidInput, NotFound, PolicyRefused, ToolkitError
from recover.life.shared_rules import MAX_CASE_ID, check_case_id  # noqa: F401 - one rule, the read path's too
from recover.life.states import CaseStatus
from recover.networks.registry import get_network
from recover.storage.models import Case, DepositFact, utcnow
from recover.storage.testpoints import pause_point

_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_CLAIMANT = re.compile(r"^[^\x00-\x1f]{1,256}$")
_MEMO = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
MAX_MSG_INDEX = 10**6


@dataclass(frozen=True)
class Claim:
    network: str
    tx: str
    return_address: str | None = None
    credit_account: str | None = None
    asset: str | None = None
    deposit_address: str | None = None
    claimant: str | None = None
    external_ref: str | None = None
    msg_index: int | None = None     # shared-wallet (memo) networks: the transfer of the transaction claimed
    return_memo: str | None = None   # shared-wallet networks: the memo / tag a refund must carry


def _addr(net: NetworkConfig, value: str, what: str) -> str:
    try:
        return net.validate_address(value.strip(), what=what)
    except InvalidAddress as exc:
        raise InvalidInput(str(exc), code="invalid_address") from None


def _normalize_asset(net: NetworkConfig, asset: str | None) -> str | None:
    """``None`` (not said), the native symbol, or a token contract / mint address (checked)."""
    if asset is None or asset.strip() == "":
        return None
    asset = asset.strip()
    if asset.upper() == net.native_symbol.upper() or asset.lower() == "native":
        return net.native_symbol
    if not adapter_class(net.family).capabilities & {Capability.TOKENS}:
        raise InvalidInput(f"asset {asset!r}: {net.key} only has its native asset {net.native_symbol}",
                           code="invalid_asset")
    check = getattr(family(net.family), "validate_asset", None)  # a family whose assets are not addresses
    if check is not None:
        try:
            return check(asset, network=net)
        except InvalidAddress as exc:
            raise InvalidInput(str(exc), code="invalid_asset") from None
    return _addr(net, asset, "asset (token)")


def claim_scope(net: NetworkConfig, deposit_address: str | None, asset: str | None,
                msg_index: int | None = None) -> str:
    """What of the transaction a claim names: ``address|asset``, and on a shared-wallet network
    ``|index`` too (one transaction may carry several users' deposits to our shared address); ``*``
    where the claim does not say."""
    d = address_key(net.family, deposit_address) if deposit_address else "*"
    a = address_key(net.family, asset) if asset else "*"
    if net.deposit_model == "shared_memo":
        return f"{d}|{a}|{'*' if msg_index is None else msg_index}"
    return f"{d}|{a}"


def check_memo_claim(net: NetworkConfig, claim: Claim, ret: str | None) -> str | None:
    """The memo parts of a claim: only on shared-wallet networks; the return memo is text an exchange
    can carry, and a refund to an address that credits only with a memo (the network file's
    ``memo_required_addresses``) names one (exit 7 ``return_memo_required``).  Returns the memo."""
    memo = claim.return_memo.strip() if claim.return_memo is not None else None
    if net.deposit_model != "shared_memo":
        if claim.msg_index is not None or memo is not None:
            raise InvalidInput(f"{net.key} takes deposits at per-user addresses: --msg-index and --return-memo are "
                               "for shared-wallet (memo) networks", code="not_memo_network")
        return None
    if claim.msg_index is not None and not 0 <= claim.msg_index <= MAX_MSG_INDEX:
        raise InvalidInput(f"--msg-index {claim.msg_index} is not a transfer index (0 to {MAX_MSG_INDEX})",
                           code="invalid_msg_index")
    if memo is not None:
        if claim.credit_account:
            raise InvalidInput("--return-memo goes with --return-address: a credit moves nothing on chain",
                               code="invalid_memo")
        if not _MEMO.match(memo):
            raise InvalidInput("--return-memo is 1 to 128 characters without control characters", code="invalid_memo")
    if ret is not None and memo is None:
        check_return_memo(net, ret, None)
    return memo


def check_return_memo(net: NetworkConfig, destination: str, memo: str | None, *, chain=None) -> None:
    """Refuse (exit 7 ``return_memo_required``) a refund without a memo to an address that credits only
    with one: listed in the network file, or flagged so on the ledger itself (``chain``: an adapter,
    asked where the family can tell: XRPL RequireDest, Stellar SEP-29)."""
    if memo:
        return
    key = adapter_class(net.family).address_key
    listed = next((m for m in net.memo_required_addresses if key(m.address) == key(destination)), None)
    why = (f"it is {listed.name}'s shared deposit address" if listed is not None else
           "the ledger says payments to it must carry a memo" if chain is not None and chain.memo_required(destination)
           else None)
    if why:
        raise PolicyRefused(f"refund to {destination} without --return-memo: {why}, so the refund would be lost "
                            "again; open the case with the memo the claimant's account there uses",
                            code="return_memo_required")


def scopes_overlap(a: str, b: str) -> bool:
    return all(x == "*" or y == "*" or x == y for x, y in zip(a.split("|"), b.split("|")))


def _memo_claim_apart(session: Session, net: NetworkConfig, msg_index: int | None, other: Case) -> bool:
    """On a shared-wallet network a claim that named no transfer (``--msg-index``) overlaps every transfer
    of its transaction only until the facts say which it is: once verified, it holds just its proven
    transfers, and a claim that ended without proving any (rejected or unrecoverable, no facts) holds
    none.  So one appeal without an index never blocks the other users' deposits of the transaction."""
    if net.deposit_model != "shared_memo" or msg_index is None:
        return False
    proven = set(session.exec(select(DepositFact.deposit_index).where(DepositFact.case_id == other.id)))
    if proven:
        return msg_index not in proven
    return other.status in (CaseStatus.REJECTED.value, CaseStatus.UNRECOVERABLE.value)


def already_claimed(session: Session, net: NetworkConfig, deposits: list[tuple[str, str, str | None]]) -> set[int]:
    """The positions in ``deposits`` ((txid, deposit address, asset or None for native), as a block scan
    finds them) that a case already claims, by the same scopes and overlap rule as :func:`open_case`,
    in one query.  Only a shortcut for a scan that meets its own earlier findings again: ``open_case``
    refuses each of them all the same (under its lock), and a deposit claimed after this read is
    refused there.  Not for shared-wallet networks (their claims also weigh the facts)."""
    if not deposits or net.deposit_model == "shared_memo":
        return set()
    keys: dict[int, tuple[str, str]] = {}
    for i, (tx, d, a) in enumerate(deposits):
        try:
            keys[i] = (normalize_txid(net.family, tx), claim_scope(net, _addr(net, d, "deposit address"),
                                                                    _normalize_asset(net, a)))
        except (InvalidInput, InvalidTxid):
            continue  # left to open_case, which says what is wrong with it
    claimed: dict[str, list[str]] = {}
    txids = sorted({tx for tx, _ in keys.values()})
    for i in range(0, len(txids), 1000):
        for tx, scope in session.exec(select(Case.txid, Case.claim_scope).where(
                Case.chain == net.chain, Case.txid.in_(txids[i:i + 1000]))):
            claimed.setdefault(tx, []).append(scope)
    return {i for i, (tx, scope) in keys.items() if any(scopes_overlap(scope, other) for other in claimed.get(tx, ()))}

# The statements ``open_claim`` runs for every case, built once (a large ``case import`` runs them thousands of times)
_CASES = Case.__table__
_BY_REF = sa.select(_CASES.c.id).where(_CASES.c.external_ref == sa.bindparam("ref")).limit(1)
_CLAIMS_OF = (sa.select(_CASES.c.id, _CASES.c.network, _CASES.c.claim_scope, _CASES.c.status)
              .where(_CASES.c.chain == sa.bindparam("chain"), _CASES.c.txid == sa.bindparam("txid")))

_PG_CLAIMS_LOCK = 0x636C616D  # "clam": the first key of the two-key advisory locks on claims


def lock_claims(session: Session, chain: str, txid: str) -> None:
    """Serialise every opener of a case for one transaction of one chain until its transaction ends,
    before the overlap check reads the claims already made.

    Claims of one deposit may have different scopes (a scan names the deposit address and asset, an
    appeal often neither), so the unique index on (chain, txid, claim_scope) cannot keep two
    overlapping claims apart: without this, a scan and an appeal at the same moment both read "no
    claim yet" and both insert.

    - PostgreSQL: a transaction-scoped advisory lock on (namespace, 32 bits of SHA-256 of chain and
      txid); the two-key space never meets the audit chain's one-key lock.  A hash collision only makes
      two unrelated openers wait for each other.  Openers take it before the audit lock (``attest`` and
      ``append_event`` come after), and nothing takes them the other way round.
    - SQLite: nothing to take.  Every transaction begins ``BEGIN IMMEDIATE`` (``recover.storage.db``), which
      takes the database's write lock before its first statement, so the overlap check and the insert
      of one opener already run while every other writer waits (``connect_args={"timeout": 30}``).
    """
    if session.connection().dialect.name != "postgresql":
        return
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                    {"ns": _PG_CLAIMS_LOCK, "key": _claims_lock_key(chain, txid)})


def _claims_lock_key(chain: str, txid: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{chain}\x00{txid}".encode()).digest()[:4], "big", signed=True)


def lock_claims_many(session: Session, claims: list[Claim]) -> None:
    """:func:`lock_claims` for every claim a transaction will open (``case import`` opens a chunk of
    lines in one), all at once and in ascending key order, before anything of the transaction takes
    the logs' lock: an opener of one claim (claim lock, then logs' lock) and a chunk never wait on
    each other in opposite orders, nor do two chunks.  A claim whose network or txid is not valid is
    skipped: :func:`open_case` refuses it before it would lock anything."""
    if session.connection().dialect.name != "postgresql":
        return
    keys = set()
    for claim in claims:
        try:
            net = get_network(claim.network)
            keys.add(_claims_lock_key(net.chain, normalize_txid(net.family, claim.tx)))
        except ToolkitError:  # InvalidTxid too
            continue
    if keys:  # one executemany: psycopg sends the statements pipelined, run one after another in this order
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                        [{"ns": _PG_CLAIMS_LOCK, "key": key} for key in sorted(keys)])


def open_case(session: Session, claim: Claim, *, actor: str) -> Case:
    """Record ``claim`` as a new open case (every check that needs no node; the claim signed by
    ``actor`` as its own statement, a verify job, a ``case_opened`` audit event); returns the case."""
    return session.get(Case, open_claim(session, claim, actor=actor))


def open_claim(session: Session, claim: Claim, *, actor: str) -> int:
    """:func:`open_case` returning only the new case's id: ``case import`` opens thousands in a row and
    needs no ORM object of each (the rows are written by plain INSERT / UPDATE statements; ORM
    objects and their flushes were most of the time of a large import).  Its three steps are the
    ones :class:`recover.casework.claim_batch.ClaimBatch` takes for a chunk of claims at once."""
    case = check_claim(session, claim)
    lock_claims(session, case.chain, case.txid)
    check_unclaimed(session, case, session.connection().execute(_CLAIMS_OF, {"chain": case.chain, "txid": case.txid}))
    if os.environ.get("RECOVER_TEST_PAUSE"):  # the race tests hold an opener here (tests/caselife/test_open_races.py)
        pause_point("case_claims_checked")
    return write_claims(session, [case], actor=actor)[0]


def check_claim(session: Session, claim: Claim, *, registered: dict | None = None, near: dict | None = None,
                refs: dict | None = None) -> SimpleNamespace:
    """Every check of a claim but the overlap with claims already made (:func:`check_unclaimed`, under
    the claim lock), in the order ``case open`` has always made them; returns the new case's columns.
    ``registered``, ``near`` and ``refs`` (``external_ref -> case id or None``) are what a batch read
    at once; anything they do not name is read here, one query each."""
    net = get_network(claim.network)
    try:
        txid = normalize_txid(net.family, claim.tx)
    except InvalidTxid as exc:
        raise InvalidInput(str(exc), code="invalid_txid") from None
    if bool(claim.return_address) == bool(claim.credit_account):
        raise InvalidInput(
            "give exactly one destination: --return-address (send back to the user) "
            "or --credit-account (credit the user's exchange account)",
            code="destination",
        )
    deposit = _addr(net, claim.deposit_address, "deposit address") if claim.deposit_address else None
    asset = _normalize_asset(net, claim.asset)
    ret = None
    flags: list[str] = []
    if claim.return_address:
        ret = _addr(net, claim.return_address, "return address")
        # A destination that would lose the money is refused by the same rule (and with the same code
        # and exit 7) at open as at prepare and sign: one code, one exit code.
        check_destination(session, net, ret, asset=asset if asset != net.native_symbol else None,
                          registered=registered)
        flags = lookalike_flags(session, net, ret, deposit=deposit, near=near)
    memo = check_memo_claim(net, claim, ret)
    credit = None
    if claim.credit_account:
        credit = claim.credit_account.strip()
        if not _ACCOUNT.match(credit):
            raise InvalidInput(f"credit account {credit!r} is not a valid account id "
                               "(letters, digits, . _ : @ -; at most 128)", code="invalid_account")
    claimant = claim.claimant.strip() if claim.claimant else None
    if claimant is not None and not _CLAIMANT.match(claimant):
        raise InvalidInput("claimant is empty or has control characters", code="invalid_claimant")
    ref = claim.external_ref.strip() if claim.external_ref else None
    if ref is not None:
        if not _ACCOUNT.match(ref):
            raise InvalidInput(f"external_ref {ref!r} is not a valid reference (letters, digits, . _ : @ -; at most "
                               "128)", code="invalid_external_ref")
        if refs is not None and ref in refs:
            other = refs[ref]
        else:
            other = session.connection().execute(_BY_REF, {"ref": ref}).scalar()
        if other is not None:
            raise DuplicateClaim(f"appeal {ref} is already case {other}", code="duplicate_ref",
                                 details={"existing_case": other})
    now = utcnow()
    return SimpleNamespace(network=net.key, chain=net.chain, txid=txid, claim_scope=claim_scope(net, deposit, asset,
                                                                                                claim.msg_index),
                           asset=asset, deposit_address=deposit, return_address=ret, credit_account=credit,
                           claimant=claimant, flags=flags or None, external_ref=ref, msg_index=claim.msg_index,
                           return_memo=memo, status=CaseStatus.OPEN.value, created_at=now, updated_at=now)


def check_unclaimed(session: Session, case: SimpleNamespace, others) -> None:
    """Refuse (exit 5) a claim that overlaps one of ``others`` (rows with ``id``, ``network``,
    ``claim_scope`` and ``status``: every claim already made on the case's chain and txid, read under
    :func:`lock_claims`): one deposit belongs to at most one case."""
    net = get_network(case.network)
    for other in others:
        if scopes_overlap(case.claim_scope, other.claim_scope) \
                and not _memo_claim_apart(session, net, case.msg_index, other):
            where = net.key if other.network == net.key else f"{case.chain} (as network {other.network})"
            raise DuplicateClaim(
                f"transaction {case.txid} on {where} is already claimed by case {other.id} "
                f"(status {other.status}); one deposit belongs to at most one case",
                details={"existing_case": other.id, "chain": case.chain},
            )


def get_case(session: Session, case_id: int, *, lock: bool = False) -> Case:
    """The case ``case_id`` (exit 3 when there is none); ``lock``: its row is locked until the transaction
    ends (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's transactions already hold the write lock)."""
    if lock:
        case = session.exec(select(Case).where(Case.id == check_case_id(case_id)).with_for_update()).first()
    else:
        case = session.get(Case, check_case_id(case_id))
    if case is None:
        raise NotFound(f"no case {case_id}", code="case_not_found")
    return case


def list_cases(session: Session, status: str | None = None, network: str | None = None) -> list[Case]:
    return _list(session, status, network)
