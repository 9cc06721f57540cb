"""The anvil devnet helper and the test contracts behave as the recovery tests assume."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

try:  # works with `pythonpath = ["."]` / importlib mode and with pytest's default rootdir insertion
    from tests import evm_devnet
except ImportError:  # pragma: no cover
    import evm_devnet  # type: ignore[no-redef]

ANVIL_DEFAULT_BALANCE_WEI = evm_devnet.ANVIL_DEFAULT_BALANCE_WEI
AnvilNode = evm_devnet.AnvilNode
decode_revert = evm_devnet.decode_revert
default_account = evm_devnet.default_account
deploy = evm_devnet.deploy
error_selector = evm_devnet.error_selector
fund_token = evm_devnet.fund_token
load_artifact = evm_devnet.load_artifact
start_anvil = evm_devnet.start_anvil
token_transfer = evm_devnet.token_transfer
transact = evm_devnet.transact

ARTIFACTS = ["FakeEventToken", "FeeOnTransferToken", "NoReturnToken", "PausableToken", "StandardToken"]
TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)")
ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def node():
    n = start_anvil()
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(autouse=True)
def _isolate(request):
    if "node" not in request.fixturenames:
        yield
        return
    n: AnvilNode = request.getfixturevalue("node")
    snap = n.snapshot()
    yield
    n.revert(snap)


@pytest.fixture
def w3(node) -> Web3:
    return node.w3


@pytest.fixture
def accts(node) -> list[str]:
    return node.accounts


def _transfer_logs(token, receipt):
    return [dict(ev["args"]) for ev in token.events.Transfer().process_receipt(receipt)]


# -- node helper ------------------------------------------------------------------------------------
def test_node_basics(node, w3):
    assert node.url == f"http://127.0.0.1:{node.port}"
    assert node.chain_id == 31337 == w3.eth.chain_id == int(node.rpc("eth_chainId"), 16)
    assert node.process.poll() is None and node.pid > 0
    accounts = node.accounts
    assert len(accounts) == 10
    assert w3.eth.get_balance(accounts[0]) == ANVIL_DEFAULT_BALANCE_WEI
    # the documented mnemonic derives the node's unlocked accounts
    assert [default_account(i).address for i in range(3)] == accounts[:3]


def test_snapshot_revert_mine_set_balance(node, w3, accts):
    start = w3.eth.block_number
    snap = node.snapshot()
    assert node.mine(5) == start + 5
    node.set_balance(accts[9], 123)
    assert w3.eth.get_balance(accts[9]) == 123
    node.revert(snap)
    assert w3.eth.block_number == start
    assert w3.eth.get_balance(accts[9]) == ANVIL_DEFAULT_BALANCE_WEI
    with pytest.raises(RuntimeError):
        node.revert(snap)  # a snapshot is single-use


def test_signed_raw_transaction_from_default_key(node, w3, accts):
    acct = default_account(1)
    tx = {
        "to": accts[5], "value": 10**15, "gas": 21000, "nonce": w3.eth.get_transaction_count(acct.address),
        "chainId": node.chain_id, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2,
    }
    signed = acct.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=10)
    assert receipt["status"] == 1
    assert w3.eth.get_balance(accts[5]) == ANVIL_DEFAULT_BALANCE_WEI + 10**15


def test_second_node_and_stop(tmp_path):
    other = start_anvil(chain_id=1337, extra_args=["--accounts", "2"])
    try:
        assert other.w3.eth.chain_id == 1337
        assert len(other.accounts) == 2
        assert other.log_path.is_file()
    finally:
        other.stop()
    assert other.process.returncode is not None
    other.stop()  # idempotent


def test_missing_binary_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setattr(evm_devnet, "ANVIL_BIN", tmp_path / "no-such-anvil")
    with pytest.raises(RuntimeError, match="npm ci"):
        start_anvil()


# -- artifacts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ARTIFACTS)
def test_artifacts(name):
    art = load_artifact(name)
    assert set(art) == {"contractName", "abi", "bytecode", "solcVersion"}
    assert art["contractName"] == name
    assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 100
    assert art["solcVersion"].startswith("0.8.37+")
    assert any(i.get("type") == "event" and i["name"] == "Transfer" for i in art["abi"])


# -- tokens ------------------------------------------------------------------------------------------
def test_standard_token_transfer_moves_balances(w3, accts):
    token = deploy(w3, "StandardToken", "Standard", "STD", 6)
    assert token.functions.decimals().call() == 6
    assert token.functions.symbol().call() == "STD"
    fund_token(w3, token, accts[1], 1_000_000)
    receipt = token_transfer(w3, token, accts[1], accts[2], 250_000)
    assert token.functions.balanceOf(accts[1]).call() == 750_000
    assert token.functions.balanceOf(accts[2]).call() == 250_000
    assert _transfer_logs(token, receipt) == [{"from": accts[1], "to": accts[2], "value": 250_000}]
    with pytest.raises(ContractLogicError):  # only the owner (deployer) can mint
        fund_token(w3, token, accts[3], 1, sender=accts[3])


def test_fee_on_transfer_recipient_gets_less(w3, accts):
    token = deploy(w3, "FeeOnTransferToken", "Fee", "FEE", 18)
    assert token.functions.feeBps().call() == 200
    fund_token(w3, token, accts[1], 10_000)
    receipt = token_transfer(w3, token, accts[1], accts[2], 1_000)
    assert token.functions.balanceOf(accts[1]).call() == 9_000  # sender pays the full amount
    assert token.functions.balanceOf(accts[2]).call() == 980  # recipient gets 98%
    assert token.functions.totalSupply().call() == 9_980  # fee burned
    # events are truthful: a burn of the fee, then the amount actually received
    assert _transfer_logs(token, receipt) == [
        {"from": accts[1], "to": ZERO, "value": 20},
        {"from": accts[1], "to": accts[2], "value": 980},
    ]


def test_fake_event_token_emits_transfer_but_moves_nothing(w3, accts):
    token = deploy(w3, "FakeEventToken", "Fake USD", "USDT", 6)
    receipt = transact(token.functions.fakeTransfer(accts[1], accts[2], 5_000_000), accts[7])
    assert _transfer_logs(token, receipt) == [{"from": accts[1], "to": accts[2], "value": 5_000_000}]
    # raw filter params stay camelCase; the contract-event API is snake_case in web3 8
    blk = receipt["blockNumber"]
    logs = w3.eth.get_logs({"address": token.address, "fromBlock": blk, "toBlock": blk, "topics": [TRANSFER_TOPIC]})
    assert len(logs) == 1
    assert len(token.events.Transfer().get_logs(from_block=blk, to_block=blk)) == 1
    assert token.functions.balanceOf(accts[2]).call() == 0
    assert token.functions.totalSupply().call() == 0
    # transfer() also "succeeds" and logs, without balances
    assert token.functions.transfer(accts[3], 7).call({"from": accts[1]}) is True
    receipt = token_transfer(w3, token, accts[1], accts[3], 7)
    assert _transfer_logs(token, receipt) == [{"from": accts[1], "to": accts[3], "value": 7}]
    assert token.functions.balanceOf(accts[3]).call() == 0


def test_no_return_token_returns_empty_data_and_moves_balances(node, w3, accts):
    token = deploy(w3, "NoReturnToken", "Tether-like", "NRT", 6)
    abi_transfer = next(i for i in token.abi if i.get("name") == "transfer")
    assert abi_transfer["outputs"] == []
    fund_token(w3, token, accts[1], 1_000)
    data = token.encode_abi("transfer", [accts[2], 400])
    assert node.rpc("eth_call", [{"from": accts[1], "to": token.address, "data": data}, "latest"]) == "0x"
    receipt = token_transfer(w3, token, accts[1], accts[2], 400)
    assert receipt["status"] == 1
    assert token.functions.balanceOf(accts[1]).call() == 600
    assert token.functions.balanceOf(accts[2]).call() == 400
    assert _transfer_logs(token, receipt) == [{"from": accts[1], "to": accts[2], "value": 400}]
    # approve/transferFrom: also no return data, allowance is spent
    transact(token.functions.approve(accts[3], 100), accts[2])
    tf = token.encode_abi("transferFrom", [accts[2], accts[4], 100])
    assert node.rpc("eth_call", [{"from": accts[3], "to": token.address, "data": tf}, "latest"]) == "0x"
    transact(token.functions.transferFrom(accts[2], accts[4], 100), accts[3])
    assert token.functions.balanceOf(accts[4]).call() == 100
    assert token.functions.allowance(accts[2], accts[3]).call() == 0
    # failures carry a reason string
    revert = decode_revert(node.call_revert_data({"from": accts[5], "to": token.address,
                                                  "data": token.encode_abi("transfer", [accts[1], 1])}))
    assert revert.reason == "NoReturnToken: insufficient balance"


def test_paused_token_reverts_with_decodable_custom_error(node, w3, accts):
    token = deploy(w3, "PausableToken", "Pausable", "PAU", 6)
    fund_token(w3, token, accts[1], 1_000)
    transact(token.functions.pause())
    assert token.functions.paused().call() is True
    with pytest.raises(ContractCustomError) as exc:
        token.functions.transfer(accts[2], 1).call({"from": accts[1]})
    assert decode_revert(exc.value.data, token.abi).name == "EnforcedPause"
    call = {"from": accts[1], "to": token.address, "data": token.encode_abi("transfer", [accts[2], 1])}
    data = node.call_revert_data(call)
    assert bytes(data) == error_selector("EnforcedPause()")
    assert decode_revert(data, token.abi).name == "EnforcedPause"
    # a forced send (explicit gas, no estimation) is mined as a failed transaction
    receipt = transact(token.functions.transfer(accts[2], 1), accts[1], check=False, gas=100_000)
    assert receipt["status"] == 0
    assert token.functions.balanceOf(accts[2]).call() == 0
    transact(token.functions.unpause())
    token_transfer(w3, token, accts[1], accts[2], 1)
    assert token.functions.balanceOf(accts[2]).call() == 1


def test_blacklisted_sender_reverts_with_reason(node, w3, accts):
    token = deploy(w3, "PausableToken", "Pausable", "PAU", 6)
    fund_token(w3, token, accts[1], 1_000)
    transact(token.functions.blacklist(accts[1]))
    assert token.functions.isBlacklisted(accts[1]).call() is True
    with pytest.raises(ContractLogicError) as exc:
        token.functions.transfer(accts[2], 1).call({"from": accts[1]})
    assert "PausableToken: sender blacklisted" in str(exc.value)
    revert = decode_revert(exc.value.data, token.abi)
    assert revert.name == "Error" and revert.reason == "PausableToken: sender blacklisted"
    # blacklisted recipient: custom error with an argument
    transact(token.functions.blacklist(accts[3]))
    call = {"from": accts[2], "to": token.address, "data": token.encode_abi("transfer", [accts[3], 0])}
    revert = decode_revert(node.call_revert_data(call), token.abi)
    assert revert.name == "AccountBlacklisted"
    assert [Web3.to_checksum_address(a) for a in revert.args] == [accts[3]]
    transact(token.functions.unBlacklist(accts[1]))
    token_transfer(w3, token, accts[1], accts[2], 5)
    assert token.functions.balanceOf(accts[2]).call() == 5


def test_historic_eth_call_shows_balance_change(node, w3, accts):
    token = deploy(w3, "StandardToken", "Standard", "STD", 18)
    fund_token(w3, token, accts[1], 500)
    node.mine(2)
    receipt = token_transfer(w3, token, accts[1], accts[2], 200)
    n = receipt["blockNumber"]
    node.mine(3)  # later blocks don't change history
    assert token.functions.balanceOf(accts[2]).call(block_identifier=n - 1) == 0
    assert token.functions.balanceOf(accts[2]).call(block_identifier=n) == 200
    assert token.functions.balanceOf(accts[1]).call(block_identifier=n - 1) == 500
    assert token.functions.balanceOf(accts[1]).call(block_identifier=n) == 300
    # the same with a raw eth_call at hex block numbers
    data = token.encode_abi("balanceOf", [accts[2]])
    before = node.rpc("eth_call", [{"to": token.address, "data": data}, hex(n - 1)])
    after = node.rpc("eth_call", [{"to": token.address, "data": data}, hex(n)])
    assert int(before, 16) == 0 and int(after, 16) == 200
