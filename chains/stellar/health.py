"""Which network Horizon serves (refusing another, ``wrong_chain``), its newest ledger, balances, SEP-29."""

from __future__ import annotations

from chains.base import NATIVE, NodeStatus
from chains.errors import NetworkConfigError, PermanentChainError
from chains.stellar.addresses import base_account
from chains.stellar.common import asset_of, parse_time, reads_node, to_stroops
from chains.transport import redact_url

STALE_AFTER_S = 60  # a ledger closes every 5-6 s: a minute without one is a stuck or lagging Horizon
MEMO_REQUIRED_KEY = "config.memo_required"
MEMO_REQUIRED_VALUE = "MQ=="  # base64 of "1" (SEP-29)


class HealthMixin:
    """``check_chain``, ``node_status``, ``latest_block``, ``account``, balances, ``memo_required``."""

    @reads_node
    def check_chain(self) -> dict:
        """Horizon's root; refuses a Horizon whose ``network_passphrase`` is not the network file's
        (configuration error, exit 4, ``wrong_chain``)."""
        root = self.horizon.get("/")
        if self._chain_checked:
            return root
        got, want = root["network_passphrase"], self.network.stellar.network_passphrase
        if got != want:
            where = ", ".join(redact_url(u) for u in self.horizon.urls)
            raise NetworkConfigError(
                f"{self.network.key}: Horizon at {where} serves {got!r}, not the [stellar] network_passphrase {want!r} "
                "of the network file: check rpc_urls and network_passphrase", code="wrong_chain",
                details={"network": self.network.key, "key": "stellar.network_passphrase", "expected": want, "got": got})
        self._chain_checked = True
        return root

    @reads_node
    def node_status(self) -> NodeStatus:
        root = self.check_chain()
        return NodeStatus(chain=f"network {self.network.stellar.network_passphrase!r}",
                          latest_block=int(root["history_latest_ledger"]),
                          latest_time=parse_time(root.get("history_latest_ledger_closed_at")),
                          stale_after=STALE_AFTER_S)

    @reads_node
    def latest_block(self) -> int:
        return int(self.check_chain()["history_latest_ledger"])

    def account(self, address: str) -> dict | None:
        """Horizon's account record of ``address`` (its base account), or None when it does not exist."""
        return self.horizon.get_or_none(f"/accounts/{base_account(address)}")

    @reads_node
    def balance(self, address: str, asset: str) -> int:
        """Stroops of ``asset`` that ``address`` holds now (0 without the account or the trustline)."""
        acc = self.account(address)
        for b in (acc or {}).get("balances") or []:
            if asset_of(b) == asset:
                return to_stroops(b["balance"])
        return 0

    def native_balance(self, address: str) -> int:
        return self.balance(address, NATIVE)

    @reads_node
    def memo_required(self, address: str) -> bool:
        """SEP-29: the account's data entry ``config.memo_required`` is "1"."""
        acc = self.account(address)
        return bool(acc) and (acc.get("data") or {}).get(MEMO_REQUIRED_KEY) == MEMO_REQUIRED_VALUE

    @reads_node
    def base_reserve(self) -> int:
        """The newest ledger's base reserve in stroops (an account keeps (2 + subentries) x this)."""
        page = self.horizon.get("/ledgers", {"order": "desc", "limit": "1"})
        return int(page["_embedded"]["records"][0]["base_reserve_in_stroops"])

    def require_account(self, address: str) -> dict:
        acc = self.account(address)
        if acc is None:
            raise PermanentChainError(f"{address} has no account on {self.network.key}: it was never created",
                                      code="funds_missing", details={"address": address})
        return acc
