"""The node's health for ``networks check --live``: which chain, how fresh, what the gas station needs.

The gas hint is reckoned as a token sweep's top-up is (:mod:`chains.evm.plan`): two ERC-20 transfers
with the 10% margin, plus the top-up transaction itself, at the gas price a quote would fix now.  A
real quote asks ``eth_estimateGas`` for the token at hand; :data:`TYPICAL_TOKEN_TRANSFER_GAS` (a
transfer to an address that held none of the token, the dearer case) stands in for it here.
"""

from __future__ import annotations

from datetime import datetime, timezone

from chains.base import GasHint, NodeStatus
from chains.evm.common import Batch, cs, qty
from chains.evm.plan import GAS_MARGIN_BPS, NATIVE_TRANSFER_GAS
from chains.transport import RpcError

TYPICAL_TOKEN_TRANSFER_GAS = 65_000
STALE_AFTER_S = 600  # ten minutes without a block: even the slowest EVM chains make one a minute


class HealthMixin:
    """``node_status``, ``native_balance`` and ``sweep_gas_hint`` of :class:`chains.evm.adapter.EvmAdapter`."""

    def node_status(self) -> NodeStatus:
        self.check_chain()
        try:
            block = self.client.call("eth_getBlockByNumber", ["latest", False])
        except RpcError as err:
            raise self._error("eth_getBlockByNumber", err) from None
        ts = qty(block.get("timestamp"))
        return NodeStatus(chain=f"chain id {self.network.chain_id}", latest_block=qty(block["number"]),
                          latest_time=None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc),
                          stale_after=STALE_AFTER_S)

    def native_balance(self, address: str) -> int:
        self.check_chain()
        try:
            return qty(self.client.call("eth_getBalance", [cs(address), "latest"]))
        except RpcError as err:
            raise self._error("eth_getBalance", err) from None

    def sweep_gas_hint(self) -> GasHint:
        self.check_chain()
        batch = Batch()
        handles = self._price_calls(batch)
        p = self._price(handles, batch.run(self.client))["gas_price"]
        transfer = TYPICAL_TOKEN_TRANSFER_GAS + TYPICAL_TOKEN_TRANSFER_GAS * GAS_MARGIN_BPS // 10_000
        gas = 2 * transfer + NATIVE_TRANSFER_GAS
        return GasHint(native=gas * p, basis=f"one token sweep's gas top-up: 2 token transfers of about {transfer:,} "
                                             f"gas and the {NATIVE_TRANSFER_GAS:,}-gas top-up, at {p:,} wei per gas")
