"""``recover scan``: find misdeposits before anyone appeals, and open a case for each.

The adapter reads the block range chunk by chunk and asks, once per chunk, which of the recipients
it saw are ours (:mod:`recover.networks.registered`: an indexed lookup in the case database, never
the whole registry in memory: exchanges register tens of millions of addresses).  A token transfer
to one of our addresses is a case unless the token is listed and the address active (a normal
deposit); native value is a case only at a retired address.  Each finding opens a case like an
appeal would (claimant unknown; the money is credited to the deposit address's account), in its own
transaction, and a deposit that already has a case is counted, never opened twice.  The last block
scanned is recorded per network after each chunk, so a scan that stops (or dies) resumes after it: a
chunk scanned again opens nothing twice.  :mod:`recover.services.scan_follow` keeps scanning as new
blocks are confirmed.

Networks whose adapter can ``SCAN_HOLDINGS`` instead of ``SCAN`` (UTXO, Solana) are scanned for what
our addresses hold *now* (:func:`scan_holdings`): the same rule decides what is stranded, the
adapter names the deposits that put it there, ``--from-block``/``--to-block`` only filter those by
their block (or slot), and no resume state is kept (every holding scan reads the state now).
Outputs or transfers of one transaction to one address in one asset are one deposit, one case,
as cases key deposits (transaction, deposit address, asset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from chains.base import NATIVE, Capability
from chains.registry import adapter_class
from recover.casework.cases import Claim, already_claimed, open_claim
from recover.casework.runner import run
from recover.errors import DuplicateClaim, InvalidInput, ToolkitError
from recover.networks.chainio import adapter
from recover.networks.memos import signed_memos
from recover.networks.registered import has_retired, registered_among
from recover.networks.registry import get_network
from recover.storage.models import DepositAddress, ScanState, utcnow
from recover.storage.testpoints import fault_point, pause_point
from recover.text import plural


@dataclass
class ScanReport:
    network: str
    from_block: int
    to_block: int
    found: int = 0
    opened: list[int] = field(default_factory=list)
    existing: int = 0
    errors: list[dict] = field(default_factory=list)
    kind: str = "blocks"  # "holdings": what the addresses hold now (SCAN_HOLDINGS)

    def to_dict(self) -> dict:
        return {"network": self.network, "kind": self.kind, "from_block": self.from_block, "to_block": self.to_block,
                "found": self.found, "opened": self.opened, "already_cases": self.existing, "errors": self.errors}


def scan_network(session_factory, net, *, from_block: int | None, to_block: int | None, actor,
                 progress=None, stop=None, head: int | None = None) -> ScanReport:
    """Scan ``net`` over a block range (see the module docstring).  ``stop`` (an Event): finish the
    chunk at hand and return, its end recorded as scanned (``report.to_block``).  ``head``: the node's
    newest block when the caller has just read it (a follower), else it is read here."""
    if net.deposit_model == "shared_memo":
        return scan_shared(session_factory, net, from_block=from_block, to_block=to_block, actor=actor,
                           progress=progress, head=head)
    if Capability.SCAN not in adapter_class(net.family).capabilities:
        if Capability.SCAN_HOLDINGS in adapter_class(net.family).capabilities:
            return scan_holdings(session_factory, net, from_block=from_block, to_block=to_block, actor=actor,
                                 progress=progress)
        raise InvalidInput(f"{net.key} ({net.family}) networks cannot be scanned yet", code="scan_unsupported")
    chain = adapter(net)
    key = chain.address_key
    with session_factory() as s:
        state = s.get(ScanState, net.key)
        last = state.last_block if state else None
        native = has_retired(s, net.key)  # native value is a finding only at a retired address
    start, end = _block_range(chain, net, from_block, to_block, last, head)
    report = ScanReport(net.key, start, end)
    listed = {key(t.address) for t in net.listed_tokens}
    ours: dict[str, tuple[str, str]] = {}  # the chunk's recipients that are ours: {key: (status, account)}

    def match(keys) -> set[str]:
        with session_factory() as s:
            found = registered_among(s, net.key, keys)
        ours.clear()
        ours.update(found)
        return set(found)

    for chunk in chain.scan_deposits(start, end, match=match, native=native, progress=progress):
        findings = [f for f in chunk.found  # a listed token to an active address is credited the normal way
                    if stranded(ours[key(f.recipient)][0], f.asset if f.asset == NATIVE else key(f.asset), listed)]
        _open_cases(session_factory, net, findings, {k: account for k, (_, account) in ours.items()}, key, actor,
                    report)
        fault_point("scan_chunk_opened")  # a scan killed here scans the chunk again: it opens nothing twice
        with session_factory() as s:
            save_scan_state(s, net.key, chunk.last_block)
        report.to_block = chunk.last_block
        if stop is not None and stop.is_set():
            break
    return report


def _block_range(chain, net, from_block: int | None, to_block: int | None, last: int | None,
                 head: int | None = None) -> tuple[int, int]:
    """The blocks a scan reads: from ``from_block`` (default: after the last scan) to ``to_block``
    (default, and at most: the newest block with the network's confirmations)."""
    start = from_block if from_block is not None else (last + 1 if last is not None else None)
    if start is None:
        raise InvalidInput(f"no earlier scan of {net.key} to resume from: give --from-block", code="no_scan_state")
    newest = (chain.latest_block() if head is None else head) - (net.confirmations - 1)  # confirmed blocks only
    end = min(to_block, newest) if to_block is not None else newest
    if start < 0 or end < start:
        raise InvalidInput(f"nothing to scan: blocks {start}..{end} (the newest with "
                           f"{plural(net.confirmations, 'confirmation')} is {newest})", code="empty_range")
    return start, end


def save_scan_state(session, network: str, last_block: int) -> None:
    """Record that ``network`` was scanned up to ``last_block``, keeping the higher block when a scan
    of it already recorded one.  One statement, an upsert (``INSERT ... ON CONFLICT (network) DO UPDATE
    SET last_block = GREATEST(...)``; SQLite's two-argument ``max``): two scans of one network at once
    both write the row, and a read-then-insert made the second fail on the primary key."""
    pause_point("scan_state_saving")
    table = ScanState.__table__
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        insert, higher = postgresql.insert, sa.func.greatest
    elif dialect == "sqlite":
        insert, higher = sqlite.insert, sa.func.max
    else:  # pragma: no cover - the case database is SQLite or PostgreSQL
        raise InvalidInput(f"scan state on a {dialect} database is not supported", code="bad_db_url")
    stmt = insert(table).values(network=network, last_block=last_block, updated_at=utcnow())
    advanced = stmt.excluded.last_block > table.c.last_block
    session.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.network],
        set_={"last_block": higher(table.c.last_block, stmt.excluded.last_block),
              "updated_at": sa.case((advanced, stmt.excluded.updated_at), else_=table.c.updated_at)}))


def stranded(status: str, asset: str, listed: set[str]) -> bool:
    """The rule of every scan: native value is stranded at a retired address; a token unless it is
    listed and the address active (``asset`` and ``listed`` as address keys)."""
    if asset == NATIVE:
        return status == "retired"
    return status == "retired" or asset not in listed


def scan_holdings(session_factory, net, *, from_block: int | None, to_block: int | None, actor,
                  progress=None) -> ScanReport:
    """A holding scan (``SCAN_HOLDINGS``): see the module docstring."""
    if from_block is not None and to_block is not None and to_block < from_block:
        raise InvalidInput(f"nothing to scan: blocks {from_block}..{to_block}", code="empty_range")
    chain = adapter(net)
    key = chain.address_key
    with session_factory() as s:
        rows = list(s.exec(select(DepositAddress.address, DepositAddress.address_key, DepositAddress.status,
                                  DepositAddress.account).where(DepositAddress.network == net.key)))
    ours = {k: (status, account) for _a, k, status, account in rows}
    listed = {key(t.address) for t in net.listed_tokens}

    def wanted(address: str, asset: str) -> bool:
        mine = ours.get(key(address))
        return mine is not None and stranded(mine[0], asset if asset == NATIVE else key(asset), listed)

    newest = chain.latest_block()
    start, end = from_block or 0, newest if to_block is None else min(to_block, newest)
    if end < start:  # e.g. --from-block above the newest block: say so, as a block scan does
        raise InvalidInput(f"nothing to scan: blocks {start}..{end} (the newest is {newest})", code="empty_range")
    report = ScanReport(net.key, start, end, kind="holdings")
    found = chain.scan_holdings([a for a, *_ in rows], wanted=wanted, progress=progress)
    deposits: dict[tuple, object] = {}
    for f in found:
        if start <= f.block_number <= end and wanted(f.recipient, f.asset):
            deposits.setdefault((f.txid, key(f.recipient), f.asset if f.asset == NATIVE else key(f.asset)), f)
    _open_cases(session_factory, net, list(deposits.values()), {k: a for k, (_, a) in ours.items()}, key, actor,
                report)
    return report


def scan_shared(session_factory, net, *, from_block: int | None, to_block: int | None, actor,
                progress=None, head: int | None = None) -> ScanReport:
    """A shared-wallet network (``SCAN_INCOMING``): every transfer into our shared addresses over the
    block range whose memo names nobody (missing, not of the exchange's form, unknown or a closed
    account, by the signed memo registry) is a case before anyone appeals: a refund to the address that
    sent it, as exchanges refund such deposits, claimed by its message index so that two deposits of one
    transaction are two cases.  A sender that credits only with a memo (another exchange) cannot be
    refunded without one: that finding is reported (``return_memo_required``) and waits for the appeal.
    Resumes after the last block scanned, like a block scan."""
    if Capability.SCAN_INCOMING not in adapter_class(net.family).capabilities:
        raise InvalidInput(f"{net.key} ({net.family}) shared addresses cannot be scanned yet", code="scan_unsupported")
    chain = adapter(net)
    with session_factory() as s:
        shared = list(s.exec(select(DepositAddress.address).where(DepositAddress.network == net.key,
                                                                  DepositAddress.kind == "shared")))
        state = s.get(ScanState, net.key)
        last = state.last_block if state else None
    start, end = _block_range(chain, net, from_block, to_block, last, head)
    report = ScanReport(net.key, start, end, kind="incoming")
    found = chain.scan_incoming(shared, start, end, progress=progress) if shared else []
    with session_factory() as s:
        entries = signed_memos(s, net.key, {f.memo for f in found if f.memo})
    for f in found:
        entry = entries.get(f.memo or "")
        if f.memo and (not net.memo_pattern or re.fullmatch(net.memo_pattern, f.memo)) \
                and entry is not None and entry.status == "active":
            continue  # a memo naming an account: credited the normal way (or a wrong memo, for its owner to appeal)
        report.found += 1
        if not f.sender:
            report.errors.append({"txid": f.txid, "code": "sender_unknown",
                                  "message": "the deposit's sender is not known: nobody to refund"})
            continue
        claim = Claim(network=net.key, tx=f.txid, return_address=f.sender, deposit_address=f.recipient,
                      asset=None if f.asset == NATIVE else f.asset, msg_index=f.index)
        try:
            with session_factory() as s:
                report.opened.append(open_claim(s, claim, actor=actor))
        except DuplicateClaim:
            report.existing += 1
        except ToolkitError as exc:
            report.errors.append({"txid": f.txid, "code": exc.code, "message": str(exc)})
    with session_factory() as s:
        save_scan_state(s, net.key, end)
    return report


def _open_cases(session_factory, net, findings, account_of: dict, key, actor, report: ScanReport) -> None:
    """A case per finding, as an appeal would open it (claimant unknown, credited to the deposit
    address's account), each in its own transaction: a deposit that already has a case is counted,
    and one finding's refusal never stops the others (it is reported)."""
    if not findings:
        return
    with session_factory() as s:  # a scan over its own earlier findings: counted without a transaction each
        claimed = already_claimed(s, net, [(f.txid, f.recipient, None if f.asset == NATIVE else f.asset)
                                           for f in findings])
    for i, f in enumerate(findings):
        report.found += 1
        if i in claimed:
            report.existing += 1
            continue
        claim = Claim(network=net.key, tx=f.txid, credit_account=account_of[key(f.recipient)],
                      deposit_address=f.recipient, asset=None if f.asset == NATIVE else f.asset)
        try:
            with session_factory() as s:
                report.opened.append(open_claim(s, claim, actor=actor))
        except DuplicateClaim:
            report.existing += 1
        except ToolkitError as exc:  # a deliberate refusal of this finding; anything else stops the scan
            report.errors.append({"txid": f.txid, "code": exc.code, "message": str(exc)})


def scan(network: str, *, from_block: int | None = None, to_block: int | None = None, db: str | None = None,
         key=None, progress=None) -> ScanReport:
    """``recover scan``: find deposits to our addresses in a block range and open a case for each
    (never twice), as the operator of ``key``."""
    net = get_network(network)
    return run("open", db=db, key=key, own_units=True,
               body=lambda ctx: scan_network(ctx.sessions, net, from_block=from_block, to_block=to_block,
                                             actor=ctx.actor, progress=progress))
