"""Holding scans on UTXO networks: unspent outputs at the addresses the caller wants, by the node's
``scantxoutset`` over ``addr(...)`` descriptors.

``scantxoutset`` reads the whole UTXO set once per call, so addresses go in chunks of
``ADDRESSES_PER_SCAN`` per call, one call at a time (the node runs one scan at a time), on a client
with a long timeout and no retry (a retried scan would meet the one still running).  Each unspent
output is a finding: its funding txid, vout, amount in base units, height.  Outputs below the dust
limit are left out (dust spam would only open unrecoverable cases); outputs with fewer than the
network's confirmations are left for a later scan.  Outputs are mapped back to addresses by their
locking script (bitcoinlib), never by parsing the node's descriptor text.
"""

from __future__ import annotations

from typing import Callable, Sequence

from chains.base import NATIVE, FoundDeposit
from chains.errors import InvalidAddress, NetworkConfigError, RetryableChainError
from chains.transport import JsonRpcClient, RpcError, classify
from chains.utxo.plan import is_dust
from chains.utxo.tx import output_script

ADDRESSES_PER_SCAN = 5_000
SCAN_TIMEOUT_S = 900.0  # a mainnet UTXO set takes minutes to read


class HoldingsScanMixin:
    """``scan_holdings`` / ``latest_block`` of :class:`chains.utxo.adapter.UtxoAdapter`."""

    def latest_block(self) -> int:
        self.check_chain()
        return int(self._call("getblockcount"))

    def scan_holdings(self, addresses: Sequence[str], *, wanted: Callable[[str, str], bool],
                      progress: Callable[[int], None] | None = None) -> list[FoundDeposit]:
        self.check_chain()
        by_script: dict[str, str] = {}
        for a in addresses:
            if not wanted(a, NATIVE):
                continue
            try:
                by_script[output_script(a, self.address_network)[0].hex()] = a
            except InvalidAddress:
                continue  # not an address of this network: it cannot hold anything here
        client = JsonRpcClient(self.network.rpc_urls, network=self.network.key, timeout=SCAN_TIMEOUT_S,
                               retries=1, parse_float=self.client.parse_float, batching=False)
        found: list[FoundDeposit] = []
        targets = list(by_script.items())
        for i in range(0, len(targets), ADDRESSES_PER_SCAN):
            chunk = targets[i:i + ADDRESSES_PER_SCAN]
            answer = self._scantxoutset(client, [{"desc": f"addr({a})"} for _, a in chunk])
            tip = int(answer.get("height") or 0)
            for u in answer.get("unspents") or []:
                address = by_script.get(str(u.get("scriptPubKey", "")).lower())
                height = int(u.get("height") or 0)
                amount = self._units(u["amount"])
                if address is None or is_dust(amount, self.network) or tip - height + 1 < self.network.confirmations:
                    continue
                found.append(FoundDeposit(txid=str(u["txid"]).lower(), recipient=address, asset=NATIVE,
                                          amount=amount, block_number=height, index=int(u["vout"])))
            if progress:
                progress(len(chunk))
        return sorted(found, key=lambda f: (f.block_number, f.txid, f.index))

    def _scantxoutset(self, client: JsonRpcClient, objects: list[dict]) -> dict:
        try:
            answer = client.call("scantxoutset", ["start", objects])
        except RpcError as err:
            if err.code == -32601:
                raise NetworkConfigError(f"{self.network.key}: the node has no scantxoutset, which holding scans "
                                         "need (Bitcoin Core 0.17+ style nodes have it)", code="scan_unsupported",
                                         details={"network": self.network.key, "key": "rpc_urls"}) from None
            if "in progress" in (err.message or "").lower():
                raise RetryableChainError(f"{self.network.key}: the node is running another UTXO set scan; "
                                          "try again when it is done", code="scan_in_progress") from None
            raise classify(err, method="scantxoutset", network=self.network.key) from None
        if not isinstance(answer, dict) or not answer.get("success", True):
            raise RetryableChainError(f"{self.network.key}: scantxoutset did not complete", code="scan_incomplete")
        return answer
