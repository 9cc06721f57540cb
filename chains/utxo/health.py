"""The node's health for ``networks check --live``: which chain, its tip and the tip's time.

UTXO sweeps pay their fee out of the inputs they spend, so no wallet of ours needs a balance for them
(``sweep_gas_hint`` stays the base's None), and an address's balance would need a scan of the whole
UTXO set (minutes on a main chain), so ``native_balance`` is not offered.
"""

from __future__ import annotations

from datetime import datetime, timezone

from chains.base import NodeStatus

STALE_AFTER_S = 2 * 3600  # two hours without a block happens on Bitcoin a few times a year; longer is a stuck node


class HealthMixin:
    """``node_status`` of :class:`chains.utxo.adapter.UtxoAdapter` (needs ``check_chain`` and ``_call``)."""

    def node_status(self) -> NodeStatus:
        self.check_chain()
        info = self._call("getblockchaininfo")
        header = self._call("getblockheader", [info["bestblockhash"]])
        ts = header.get("time")
        return NodeStatus(chain=str(info.get("chain")), latest_block=int(info["blocks"]),
                          latest_time=None if ts is None else datetime.fromtimestamp(int(ts), tz=timezone.utc),
                          stale_after=STALE_AFTER_S)
