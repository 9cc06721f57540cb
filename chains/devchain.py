"""The demo's in-process EVM chain (web3's eth-tester): deploy a token, make a misdeposit, read
balances.  Chain-SDK calls live here, in ``chains``; ``recover.demo`` only orchestrates."""

from __future__ import annotations

import json
from importlib import resources

from chains.rpc import eth_tester_web3


class DevChain:
    """Wraps the shared eth-tester chain that ``eth-tester://`` networks read."""

    def __init__(self):
        self.w3 = eth_tester_web3()
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
