"""The node's health for ``networks check --live``: which cluster, the newest finalized slot and its time,
balances, and what the gas station pays for one sweep.

The gas station is every Solana sweep's fee payer and pays the rent of the token accounts a sweep
creates (:mod:`chains.solana.plan`): at most two (the destination's and the fee collector's), two
signatures, and it must itself stay rent-exempt, so the hint is the sum of those at today's rent.
"""

from __future__ import annotations

from datetime import datetime, timezone

from chains.base import GasHint, NodeStatus
from chains.solana import node as rq
from chains.solana.common import LAMPORTS_PER_SIGNATURE, TOKEN_ACCOUNT_SIZE, reads_node

STALE_AFTER_S = 300  # finalized slots come every half second; five minutes without one is a stuck node
SIGNATURES = 2        # the deposit's and the fee payer's


class HealthMixin:
    """``node_status``, ``native_balance``, ``sweep_gas_hint`` of :class:`chains.solana.adapter.SolanaAdapter`."""

    @reads_node
    def node_status(self) -> NodeStatus:
        self.check_cluster()
        slot = int(self.node.call(rq.get_slot()))
        (when,) = self.node.batch([("getBlockTime", [slot])])
        cluster = self.network.solana.cluster if self.network.solana else "mainnet-beta"
        ts = when if isinstance(when, int) else None  # a node without the block's time says so: unknown
        return NodeStatus(chain=cluster, latest_block=slot,
                          latest_time=None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc),
                          stale_after=STALE_AFTER_S)

    @reads_node
    def native_balance(self, address: str) -> int:
        self.check_cluster()
        return int(rq.value(self.node.call(rq.get_balance(address))))

    @reads_node
    def sweep_gas_hint(self) -> GasHint:
        self.check_cluster()
        token_rent, own_rent = self.node.batch([rq.get_minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_SIZE),
                                                rq.get_minimum_balance_for_rent_exemption(0)])
        token_rent, own_rent = int(rq.must(token_rent)), int(rq.must(own_rent))
        fee = SIGNATURES * LAMPORTS_PER_SIGNATURE
        return GasHint(native=fee + 2 * token_rent + own_rent,
                       basis=f"one token sweep: {fee:,} lamports of fees, the rent of two token accounts "
                             f"({token_rent:,} each) and the station's own rent-exempt minimum ({own_rent:,})")
