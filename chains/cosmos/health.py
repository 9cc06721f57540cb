"""Which chain the node serves (refusing another, ``wrong_chain``), its newest block, balances: the reads
``networks check --live`` and the plans start from."""

from __future__ import annotations

from chains.base import NodeStatus
from chains.cosmos.common import parse_time, path_part, reads_node
from chains.errors import NetworkConfigError
from chains.transport import redact_url

STALE_AFTER_S = 120  # Cosmos chains make a block every 1-7 s: two minutes without one is a stuck or syncing node

NODE_INFO = "/cosmos/base/tendermint/v1beta1/node_info"
LATEST_BLOCK = "/cosmos/base/tendermint/v1beta1/blocks/latest"


class HealthMixin:
    """``check_chain``, ``node_status``, ``latest_block``, ``native_balance``, ``balance`` of the adapter."""

    @reads_node
    def check_chain(self) -> None:
        """Refuse a node whose ``node_info.network`` is not the network file's ``[cosmos] chain_id`` (a
        configuration error, exit 4, code ``wrong_chain``); checked once per adapter."""
        if self._chain_checked:
            return
        got = self.rest.get_or_raise(NODE_INFO)["default_node_info"]["network"]
        want = self.network.cosmos.chain_id
        if got != want:
            where = ", ".join(redact_url(u) for u in self.rest.urls)
            raise NetworkConfigError(
                f"{self.network.key}: the node at {where} serves chain id {got}, not the [cosmos] chain_id {want} "
                "of the network file: check rpc_urls and chain_id", code="wrong_chain",
                details={"network": self.network.key, "key": "cosmos.chain_id", "expected": want, "got": got})
        self._chain_checked = True

    @reads_node
    def node_status(self) -> NodeStatus:
        self.check_chain()
        header = self.rest.get_or_raise(LATEST_BLOCK)["block"]["header"]
        return NodeStatus(chain=f"chain id {self.network.cosmos.chain_id}", latest_block=int(header["height"]),
                          latest_time=parse_time(header.get("time")), stale_after=STALE_AFTER_S)

    @reads_node
    def latest_block(self) -> int:
        self.check_chain()
        return int(self.rest.get_or_raise(LATEST_BLOCK)["block"]["header"]["height"])

    def native_balance(self, address: str) -> int:
        return self.balance(address, self.network.cosmos.native_denom)

    @reads_node
    def balance(self, address: str, denom: str) -> int:
        """Base units of ``denom`` that ``address`` holds now (bank module)."""
        self.check_chain()
        answer = self.rest.get_or_raise(f"/cosmos/bank/v1beta1/balances/{path_part(address)}/by_denom",
                                        {"denom": denom})
        return int((answer.get("balance") or {}).get("amount") or 0)
