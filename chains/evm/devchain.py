"""The demo's in-process EVM chain (web3's eth-tester), served as a JSON-RPC node.

:func:`send` is a ``send`` function for :class:`chains.transport.JsonRpcClient` (``send=``): it takes a
JSON-RPC request body (one request or a batch) and answers like a node, so the production
:class:`chains.evm.adapter.EvmAdapter` reads this chain without knowing it is eth-tester.  It smooths
eth-tester's differences from a real node for what the adapter asks:

* it takes no state overrides: a third ``eth_call``/``eth_estimateGas`` argument is refused with
  -32602 (invalid params), so the adapter's "node does not take overrides" fallback is used;
* eth-tester charges the gas of ``eth_estimateGas`` to the sender's balance: estimates are run at
  gas price 0 (the call still executes, so a revert is still reported);
* eth-tester's ``eth_call`` refuses a sender that cannot pay the gas (a real node only checks the
  value): such a call is checked like the estimate (a revert is reported with its data) and answers
  ``0x`` (its return data is not observable here).

:class:`DevChain` deploys the demo's token and makes its misdeposit on the same chain.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from typing import Any

from chains.evm.adapter import EvmAdapter
from chains.transport import JsonRpcClient

# Imports inside functions: web3 / eth-account / eth-utils load on first use: importing the family (to
# validate an address) loads no SDK.

_lock = threading.RLock()
_w3 = None


def web3():
    """The process-wide ``Web3(EthereumTesterProvider())``, created on first use."""
    global _w3
    with _lock:
        if _w3 is None:
            from web3 import EthereumTesterProvider, Web3

            _w3 = Web3(EthereumTesterProvider())
        return _w3


def reset() -> None:
    """Forget the chain: the next use starts a fresh one (tests, and after the demo)."""
    global _w3
    with _lock:
        _w3 = None


class _Answer(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def send(body: str) -> Any:
    """Answer a JSON-RPC request body (a request object or a batch array) from the in-process chain."""
    request = json.loads(body)
    with _lock:
        if isinstance(request, list):
            return [_answer(r) for r in request]
        return _answer(request)


def _answer(req: dict) -> dict:
    rid = req.get("id")
    try:
        result = _dispatch(req["method"], list(req.get("params") or []))
    except _Answer as err:
        error = {"code": err.code, "message": err.message}
        if err.data is not None:
            error["data"] = err.data
        return {"jsonrpc": "2.0", "id": rid, "error": error}
    return {"jsonrpc": "2.0", "id": rid, "result": _to_wire(result)}


_FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")


def _dispatch(method: str, params: list) -> Any:
    if method in ("eth_call", "eth_estimateGas"):
        if len(params) > 2:
            raise _Answer(-32602, f"{method}: this node takes no state override argument")
        call, tag = dict(params[0]), (params[1] if len(params) > 1 else "latest")
        if method == "eth_estimateGas":
            return _request(method, [_zero_price(call), tag])
        try:
            return _request(method, [call, tag])
        except _Answer as err:
            if not _cannot_pay(err.message):
                raise
        _request("eth_estimateGas", [_zero_price(call), tag])  # raises the revert, if it reverts
        return "0x"
    return _request(method, params)


def _zero_price(call: dict) -> dict:
    out = {k: v for k, v in call.items() if k not in _FEE_FIELDS and k != "gas"}
    out["gasPrice"] = "0x0"
    return out


def _cannot_pay(message: str) -> bool:
    low = message.lower()
    return any(w in low for w in ("cannot afford", "lower than block's base fee", "insufficient funds",
                                  "not have enough balance"))


def _request(method: str, params: list) -> Any:
    w3 = web3()
    try:
        return w3.manager.request_blocking(method, params)
    except Exception as exc:  # eth-tester raises Python exceptions for what a node answers as errors
        from web3.exceptions import ContractLogicError, MethodUnavailable

        data = getattr(exc, "data", None)
        message = str(getattr(exc, "message", None) or exc or type(exc).__name__)
        if isinstance(exc, MethodUnavailable):
            raise _Answer(-32601, message) from None
        if isinstance(exc, ContractLogicError) or data:
            data = _to_wire(data) if isinstance(data, (bytes, bytearray)) else data
            if not message.lower().startswith("execution reverted"):
                message = f"execution reverted: {message}"
            raise _Answer(3, message, data if isinstance(data, str) and data.startswith("0x") else None) from None
        raise _Answer(-32000, message) from None


def _to_wire(value: Any) -> Any:
    """web3/eth-tester Python values -> JSON-RPC wire form (quantities as hex, bytes as 0x-hex)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value
    if hasattr(value, "items"):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    return value


class DevChain:
    """The demo's view of the in-process chain: deploy, mint, transfer, read balances."""

    def __init__(self):
        self.w3 = web3()
        self.accounts = self.w3.eth.accounts  # prefunded and unlocked by eth-tester

    def _wait(self, tx_hash):
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"devchain transaction {tx_hash.hex()} failed")
        return receipt

    def deploy_token(self, name: str, symbol: str, decimals: int):
        art = json.loads(resources.files("recover").joinpath("data/StandardToken.json").read_text())
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self._wait(factory.constructor(name, symbol, decimals).transact({"from": self.accounts[0]}))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])

    def mint(self, token, to: str, amount: int) -> None:
        self._wait(token.functions.mint(to, amount).transact({"from": self.accounts[0]}))

    def transfer(self, token, sender: str, to: str, amount: int) -> str:
        return self._wait(token.functions.transfer(to, amount).transact({"from": sender}))["transactionHash"].to_0x_hex()

    def send_native(self, sender: str, to: str, wei: int) -> str:
        return self._wait(self.w3.eth.send_transaction({"from": sender, "to": to, "value": wei}))[
            "transactionHash"].to_0x_hex()

    def token_balance(self, token, who: str) -> int:
        return token.functions.balanceOf(who).call()

    def native_balance(self, who: str) -> int:
        return self.w3.eth.get_balance(who)


def client_for(network):
    """A :class:`chains.transport.JsonRpcClient` for ``network`` that reaches this chain."""
    return JsonRpcClient(network.rpc_urls, network=network.key, send=send)


def adapter_for(network):
    """The production EVM adapter of ``network``, reading this chain."""
    return EvmAdapter(network, client=client_for(network))
