"""``recover scan``: find misdeposits before anyone appeals, and open a case for each.

The registered addresses of the network are loaded once into memory (a set of comparison keys:
a million addresses fit); the adapter reads the block range and keeps the deposits whose recipient
is ours.  A token transfer to one of our addresses is a case unless the token is listed and the
address active (a normal deposit); native value is a case only at a retired address.  Each finding
opens a case like an appeal would (claimant unknown; the money is credited to the deposit address's
account), in its own transaction, and a deposit that already has a case is counted, never opened
twice.  The last block scanned is kept per network, so the next scan can resume after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select

from chains.base import NATIVE, Capability
from recover.errors import DuplicateClaim, InvalidInput
from recover.models import DepositAddress, ScanState, utcnow
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

    def to_dict(self) -> dict:
        return {"network": self.network, "from_block": self.from_block, "to_block": self.to_block,
                "found": self.found, "opened": self.opened, "already_cases": self.existing, "errors": self.errors}


def scan_network(session_factory, net, *, from_block: int | None, to_block: int | None, actor,
                 progress=None) -> ScanReport:
    from recover.cases import Claim, open_case
    from recover.chainio import adapter

    from chains.registry import adapter_class

    if Capability.SCAN not in adapter_class(net.family).capabilities:
        raise InvalidInput(f"{net.key} ({net.family}) networks cannot be scanned yet", code="scan_unsupported")
    chain = adapter(net)
    key = chain.address_key
    with session_factory() as s:
        rows = list(s.exec(select(DepositAddress.address_key, DepositAddress.status, DepositAddress.account)
                           .where(DepositAddress.network == net.key)))
        state = s.get(ScanState, net.key)
        last = state.last_block if state else None
    ours = {k: (status, account) for k, status, account in rows}
    retired = {k for k, (status, _) in ours.items() if status == "retired"}
    listed = {key(t.address) for t in net.listed_tokens}
    start = from_block if from_block is not None else (last + 1 if last is not None else None)
    if start is None:
        raise InvalidInput(f"no earlier scan of {net.key} to resume from: give --from-block", code="no_scan_state")
    newest = chain.latest_block() - (net.confirmations - 1)  # only blocks with enough confirmations
    end = min(to_block, newest) if to_block is not None else newest
    if start < 0 or end < start:
        raise InvalidInput(f"nothing to scan: blocks {start}..{end} (the newest with "
                           f"{plural(net.confirmations, 'confirmation')} is {newest})", code="empty_range")
    report = ScanReport(net.key, start, end)

    def token_wanted(address: str) -> bool:
        return key(address) in ours

    found = chain.scan_deposits(start, end, token_to=token_wanted, native_to=lambda a: key(a) in retired,
                                progress=progress)
    for f in found:
        status, account = ours[key(f.recipient)]
        if f.asset != NATIVE and key(f.asset) in listed and status == "active":
            continue  # a listed token to an active address: credited the normal way
        report.found += 1
        claim = Claim(network=net.key, tx=f.txid, credit_account=account, deposit_address=f.recipient,
                      asset=None if f.asset == NATIVE else f.asset)
        try:
            with session_factory() as s:
                report.opened.append(open_case(s, claim, actor=actor).id)
        except DuplicateClaim:
            report.existing += 1
        except Exception as exc:  # one finding never stops the scan; it is reported
            if not isinstance(getattr(exc, "exit_code", None), int):
                raise
            report.errors.append({"txid": f.txid, "code": getattr(exc, "code", "unexpected"), "message": str(exc)})
    with session_factory() as s:
        state = s.get(ScanState, net.key)
        if state is None:
            s.add(ScanState(network=net.key, last_block=end))
        elif end > state.last_block:
            state.last_block, state.updated_at = end, utcnow()
            s.add(state)
    return report
