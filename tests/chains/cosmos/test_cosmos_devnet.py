"""The injectived devnet helper behaves as the Cosmos family's tests will assume: a memo send lands and
reads back whole, a two-message transaction shows both transfers by index, failed transactions are in a
block with a non-zero code and move nothing but their fee, and stop() leaves no process behind."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest

from cosmos_devnet import (CHAIN_ID, DENOM, GAS_PRICE, GENESIS_COINS, IBC_DENOM, SEND_GAS, CosmosNode,
                           start_injectived)

MSG_SEND = "/cosmos.bank.v1beta1.MsgSend"


@pytest.fixture(scope="module")
def chain():
    node = start_injectived()
    yield node
    node.stop()


def _fee(tx: dict) -> int:
    assert [c["denom"] for c in tx["fee"]] == [DENOM]
    return int(tx["fee"][0]["amount"])


def test_chain_id_accounts_and_genesis_balances(chain: CosmosNode):
    assert chain.network() == CHAIN_ID == chain.chain_id
    assert chain.rest("/cosmos/base/tendermint/v1beta1/node_info")["default_node_info"]["network"] == CHAIN_ID
    assert chain.height() >= 2
    assert set(chain.addresses) == {"validator", "user", "exchange", "other"}
    for name in ("user", "exchange", "other"):
        assert chain.address(name).startswith("inj1")
        assert len(chain.mnemonics[name].split()) == 24
    # nobody but the tests spends from "other": its genesis coins are intact
    assert chain.balance(chain.address("other"), IBC_DENOM) == GENESIS_COINS[IBC_DENOM]


def test_send_with_memo_reads_back_whole(chain: CosmosNode):
    user, exchange = chain.address("user"), chain.address("exchange")
    before_user, before_exchange = chain.balance(user), chain.balance(exchange)
    txhash = chain.send("user", exchange, 123_456_789, memo="acct-1042")
    tx = chain.tx(txhash)
    assert tx["txhash"] == txhash and tx["code"] == 0 and tx["height"] >= 2
    assert tx["memo"] == "acct-1042"
    assert tx["messages"] == [{"@type": MSG_SEND, "from_address": user, "to_address": exchange,
                               "amount": [{"denom": DENOM, "amount": "123456789"}]}]
    assert _fee(tx) == SEND_GAS * GAS_PRICE and tx["gas_wanted"] == SEND_GAS
    assert chain.balance(exchange) - before_exchange == 123_456_789
    assert before_user - chain.balance(user) == 123_456_789 + _fee(tx)
    # CometBFT RPC agrees with the REST API on the height and the result code
    rpc = chain.rpc(f"/tx?hash=0x{txhash}")
    assert int(rpc["height"]) == tx["height"] and int(rpc["tx_result"]["code"]) == 0


def test_send_without_memo_and_in_an_ibc_denomination(chain: CosmosNode):
    exchange = chain.address("exchange")
    before = chain.balance(exchange, IBC_DENOM)
    tx = chain.tx(chain.send("user", exchange, 2_500_000, IBC_DENOM))
    assert tx["code"] == 0 and tx["memo"] == ""
    assert tx["messages"][0]["amount"] == [{"denom": IBC_DENOM, "amount": "2500000"}]
    assert chain.balance(exchange, IBC_DENOM) - before == 2_500_000


def test_two_message_transaction_has_both_transfers_by_index(chain: CosmosNode):
    user, exchange, other = chain.address("user"), chain.address("exchange"), chain.address("other")
    before = {(a, d): chain.balance(a, d) for a in (exchange, other) for d in (DENOM, IBC_DENOM)}
    txhash = chain.send_messages("user", [(exchange, 700, DENOM), (other, 900, IBC_DENOM)], memo="acct-7")
    tx = chain.tx(txhash)
    assert tx["code"] == 0 and tx["memo"] == "acct-7"
    assert [(i, m["@type"], m["from_address"], m["to_address"], m["amount"]) for i, m in enumerate(tx["messages"])] == [
        (0, MSG_SEND, user, exchange, [{"denom": DENOM, "amount": "700"}]),
        (1, MSG_SEND, user, other, [{"denom": IBC_DENOM, "amount": "900"}]),
    ]
    # the block's events say which message each transfer came from
    indexes = [next(a["value"] for a in e["attributes"] if a["key"] == "msg_index")
               for e in tx["events"] if e["type"] == "transfer"
               and any(a["key"] == "recipient" and a["value"] in (exchange, other) for a in e["attributes"])]
    assert indexes == ["0", "1"]
    assert chain.balance(exchange) - before[(exchange, DENOM)] == 700
    assert chain.balance(other, IBC_DENOM) - before[(other, IBC_DENOM)] == 900
    assert chain.balance(exchange, IBC_DENOM) == before[(exchange, IBC_DENOM)]


def test_multi_send_is_one_message(chain: CosmosNode):
    exchange, other = chain.address("exchange"), chain.address("other")
    tx = chain.tx(chain.multi_send("user", [exchange, other], 11))
    assert tx["code"] == 0
    assert [m["@type"] for m in tx["messages"]] == ["/cosmos.bank.v1beta1.MsgMultiSend"]
    assert [o["address"] for o in tx["messages"][0]["outputs"]] == [exchange, other]


def test_out_of_gas_transaction_is_in_a_block_failed_and_moved_nothing(chain: CosmosNode):
    user, exchange = chain.address("user"), chain.address("exchange")
    txhash = chain.send_out_of_gas("user", exchange, 5_000, memo="acct-1042")
    tx = chain.tx(txhash)
    assert tx["code"] == 11 and tx["codespace"] == "sdk" and "out of gas" in tx["raw_log"]
    assert tx["height"] >= 2 and tx["gas_used"] > tx["gas_wanted"]
    assert tx["memo"] == "acct-1042" and tx["messages"][0]["amount"] == [{"denom": DENOM, "amount": "5000"}]
    # balances at the block before and the block of the failed tx: only the fee left the sender
    h = tx["height"]
    assert _balance_at(chain, exchange, h) == _balance_at(chain, exchange, h - 1)
    assert _balance_at(chain, user, h - 1) - _balance_at(chain, user, h) == _fee(tx)


def test_overdrawn_transaction_is_in_a_block_failed_and_moved_nothing(chain: CosmosNode):
    other, exchange = chain.address("other"), chain.address("exchange")
    before_other, before_exchange = chain.balance(other, IBC_DENOM), chain.balance(exchange, IBC_DENOM)
    before_fee_coin = chain.balance(other)
    tx = chain.tx(chain.send_overdrawn("other", exchange, IBC_DENOM))
    assert tx["code"] == 5 and tx["codespace"] == "sdk" and "insufficient funds" in tx["raw_log"]
    assert chain.balance(other, IBC_DENOM) == before_other
    assert chain.balance(exchange, IBC_DENOM) == before_exchange
    assert before_fee_coin - chain.balance(other) == _fee(tx)


def test_unknown_hash_is_not_found(chain: CosmosNode):
    with pytest.raises(urllib.error.HTTPError) as err:
        chain.tx("00" * 32)
    assert err.value.code == 404


def _balance_at(chain: CosmosNode, address: str, height: int) -> int:
    req = urllib.request.Request(f"{chain.api_url}/cosmos/bank/v1beta1/balances/{address}/by_denom?denom={DENOM}",
                                 headers={"x-cosmos-block-height": str(height)})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.loads(resp.read())["balance"]["amount"])


def test_another_chain_id_and_stop_leaves_nothing_behind():
    node = start_injectived(chain_id="recover-devnet-2")
    pid, home = node.pid, node.home
    try:
        assert node.network() == "recover-devnet-2"
        assert os.path.exists(f"/proc/{pid}")
    finally:
        node.stop()
    node.stop()  # idempotent
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")
    assert not home.exists()
    with pytest.raises(OSError):
        node.height()
