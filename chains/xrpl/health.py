"""Which network the node serves (``server_info``: its network id, refusing another ``wrong_chain``), its
newest validated ledger, the reserve, balances and account flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from chains.base import NodeStatus
from chains.errors import NetworkConfigError, PermanentChainError, RetryableChainError
from chains.transport import redact_url
from chains.xrpl.common import LSF_REQUIRE_DEST_TAG, reads_node, xrp_to_drops
from chains.xrpl.rpc import call, call_or_none

STALE_AFTER_S = 60  # a validated ledger every 3-5 s: a minute without one is a stuck or syncing node


@dataclass(frozen=True)
class Account:
    balance: int        # drops
    sequence: int
    owner_count: int
    flags: int


@dataclass(frozen=True)
class Ledger:
    index: int          # the newest validated ledger
    reserve_base: int   # drops
    reserve_inc: int    # drops per owned object
    age: int | None


class HealthMixin:
    """``server``, ``node_status``, ``latest_block``, ``account``, ``native_balance``, ``memo_required``."""

    @reads_node
    def server(self) -> Ledger:
        """The validated ledger's index and reserve; a node of another network id (``[xrpl] network_id``
        when set) is ``wrong_chain`` (exit 4); a node without a validated ledger is still syncing (retry)."""
        info = call(self.rpc, "server_info")["info"]
        want = self.network.xrpl.network_id
        got = info.get("network_id")
        if want is not None and got is not None and int(got) != want:
            where = ", ".join(redact_url(u) for u in self.rpc.urls)
            raise NetworkConfigError(
                f"{self.network.key}: the node at {where} serves network id {got}, not the [xrpl] network_id {want} "
                "of the network file: check rpc_urls and network_id", code="wrong_chain",
                details={"network": self.network.key, "key": "xrpl.network_id", "expected": want, "got": int(got)})
        led = info.get("validated_ledger")
        if not led:
            raise RetryableChainError(f"{self.network.key}: the node has no validated ledger yet (syncing)")
        return Ledger(int(led["seq"]), xrp_to_drops(led["reserve_base_xrp"]), xrp_to_drops(led["reserve_inc_xrp"]),
                      None if led.get("age") is None else int(led["age"]))

    @reads_node
    def node_status(self) -> NodeStatus:
        led = self.server()
        when = None if led.age is None else datetime.now(timezone.utc) - timedelta(seconds=led.age)
        want = self.network.xrpl.network_id
        return NodeStatus(chain=f"network id {want}" if want is not None else "XRP Ledger", latest_block=led.index,
                          latest_time=when, stale_after=STALE_AFTER_S)

    def latest_block(self) -> int:
        return self.server().index

    @reads_node
    def account(self, address: str, ledger: str = "validated") -> Account | None:
        """The account root (None: the ledger has no such account, it was never funded)."""
        answer = call_or_none(self.rpc, "account_info", account=address, ledger_index=ledger)
        if answer is None:
            return None
        data = answer["account_data"]
        return Account(int(data["Balance"]), int(data["Sequence"]), int(data.get("OwnerCount") or 0),
                       int(data.get("Flags") or 0))

    def funded_account(self, address: str, ledger: str = "validated") -> Account:
        acc = self.account(address, ledger)
        if acc is None:
            raise PermanentChainError(f"{address} has no account on {self.network.key}: it was never funded",
                                      code="funds_missing", details={"address": address})
        return acc

    def native_balance(self, address: str) -> int:
        acc = self.account(address)
        return 0 if acc is None else acc.balance

    def memo_required(self, address: str) -> bool:
        """The account's ``lsfRequireDestTag`` flag: payments to it without a tag are refused by the ledger."""
        acc = self.account(address)
        return acc is not None and bool(acc.flags & LSF_REQUIRE_DEST_TAG)
