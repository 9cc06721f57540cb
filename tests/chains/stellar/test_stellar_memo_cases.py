"""Shared-wallet (memo) misdeposits on Stellar through the installed CLI, against the loopback Horizon
(tests/support/horizon_replay.py), as tests/chains/cosmos/test_memo_cases.py does on injectived.

The exchange's shared wallet is SEP-0005 Test 1's account 0 (``RECOVER_SEED`` is that mnemonic), registered as
a ``shared`` address; its memos come from an admin-signed ``memos import``.  A user pays it without a memo and
gets the money back to the stroop, with the claimant's memo; a refund without a memo to an account that sets
SEP-29's ``config.memo_required`` is refused and changes nothing.
"""

from __future__ import annotations

from importlib import resources

import pytest
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from clihelp import cli_json, run, snapshot
from horizon_replay import HorizonReplay

NETWORK = "stellar-replay"
TESTNET = "Test SDF Network ; September 2015"
SEP5_TEST1 = "illness spike retreat truth genius clock brain pass fit cave bargain toe"
SHARED_SECRET = "SBGWSG6BTNCKCOB3DIFBGCVMUPQFYPA2G4O34RMTB343OYPXU5DJDVMN"  # SEP-0005 Test 1, m/44'/148'/0'
SHARED_PATH = "m/44'/148'/0'"
XLM = 10**7
# a withdrawal fee of 0.01 XLM charged five times for a memo refund, nothing below 1 XLM; the shared wallet
# pays the network fee
WITHDRAWAL_FEE = 100_000
FEE_TABLE = (f'[fee]\npercent = "0"\nwithdrawal_fee = {WITHDRAWAL_FEE}\nwithdrawal_fee_multiple = "5"\n'
             f'min_withdrawal = {XLM}\nnetwork_cost = "absorb"\n')


@pytest.fixture(scope="module")
def replay():
    server = HorizonReplay(TESTNET).start()
    yield server
    server.stop()


class World:
    def __init__(self, replay, db, tmp):
        self.replay, self.db, self.tmp = replay, db, tmp
        self.shared = Keypair.from_secret(SHARED_SECRET).public_key
        self.user_key, self.other_key, fees = Keypair.random(), Keypair.random(), Keypair.random()
        self.user, self.other = self.user_key.public_key, self.other_key.public_key
        replay.fund(self.shared, 1_000 * XLM, subentries=1)
        replay.fund(self.user, 100 * XLM)
        replay.fund(self.other, 100 * XLM, memo_required=True)  # another exchange's shared account (SEP-29)
        replay.fund(fees.public_key, 10 * XLM)
        self.env = {"STELLAR_REPLAY_URL": replay.url, "STELLAR_REPLAY_FEE_COLLECTOR": fees.public_key,
                    "STELLAR_REPLAY_HOT_WALLET": self.shared, "RECOVER_SEED": SEP5_TEST1,
                    "RECOVER_CONFIG_DIR": str(tmp / "networks")}

    def cli(self, *args, expect=0):
        return cli_json(*args, db=self.db, env=self.env, expect=expect)

    def run(self, *args):
        return run(*args, db=self.db, env=self.env)

    def balance(self, address):
        return self.replay.balance(address)

    def pay(self, sender: Keypair, stroops: int, memo: str | None = None) -> str:
        """``sender`` pays the shared wallet (a memo-less payment unless ``memo``); the txid."""
        seq = self.replay.accounts[sender.public_key]["sequence"]
        b = TransactionBuilder(Account(sender.public_key, seq), TESTNET, base_fee=100).set_timeout(300)
        if memo:
            b.add_text_memo(memo)
        b.append_payment_op(self.shared, Asset.native(), f"{stroops // XLM}.{stroops % XLM:07d}")
        env = b.build()
        env.sign(sender)
        status, record = self.replay.submit(env.to_xdr())
        assert status == 200, record
        return record["hash"]


@pytest.fixture
def w(replay, sqlite_db_url, tmp_path):
    text = resources.files("chains.configs").joinpath("stellar-replay.toml").read_text()
    folder = tmp_path / "networks"
    folder.mkdir()
    (folder / "stellar-replay.toml").write_text(text.rstrip() + "\n\n" + FEE_TABLE)
    world = World(replay, sqlite_db_url, tmp_path)
    assert world.run("init").code == 0
    (tmp_path / "addresses.csv").write_text("network,address,derivation_path,account,kind\n"
                                            f"{NETWORK},{world.shared},{SHARED_PATH},exchange-shared,shared\n")
    world.cli("addresses", "import", str(tmp_path / "addresses.csv"))
    (tmp_path / "memos.csv").write_text(f"network,memo,account,status\n{NETWORK},100001,acct-100001,active\n")
    world.cli("memos", "import", str(tmp_path / "memos.csv"))
    return world


def key(name: str) -> str:
    from team import team

    return team().key(name)


def test_missing_memo_is_refunded_to_the_sender_with_the_claimants_memo_to_the_stroop(w):
    tx = w.pay(w.user_key, 30 * XLM)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user,
                "--return-memo", "4242")["id"]
    w.cli("case", "verify", str(cid))
    shown = w.cli("case", "show", str(cid))
    assert shown["classification"] == "missing_memo"
    assert shown["conditions"]["required"] == []  # a refund goes back to its sender: no proof asked
    w.cli("case", "quote", str(cid))
    plan = w.cli("case", "prepare", str(cid))["plan"]
    assert len(plan["steps"]) == 1 and plan["meta"]["memo"] == "4242" and plan["fee_collector"] == w.shared
    for name in ("bob", "carol", "sam"):
        w.cli("queue", "approve", str(cid), "--key", key(name))
    shared0, user0 = w.balance(w.shared), w.balance(w.user)
    w.cli("case", "sign", str(cid))
    w.cli("case", "broadcast", str(cid))
    assert w.cli("case", "track", str(cid))["status"] == "completed"
    case = w.cli("case", "show", str(cid))
    refund = int(plan["net"])
    assert refund == 30 * XLM - 5 * WITHDRAWAL_FEE and int(case["quote"]["fee"]) == 5 * WITHDRAWAL_FEE
    txid = case["transactions"][0]["txid"]
    landed = w.replay.transactions[txid]
    assert (landed["memo_type"], landed["memo"], landed["fee_charged"]) == ("id", "4242", 100)
    assert [(o["to"], o["amount"]) for o in w.replay.operations[txid]] == [(w.user, "29.9500000")]
    assert w.balance(w.user) - user0 == refund
    assert shared0 - w.balance(w.shared) == refund + 100  # the recovery fee stays in the shared wallet


def test_a_refund_without_memo_to_a_sep29_account_is_refused_and_changes_nothing(w):
    """The flag is on the ledger, not in the network file: ``case open`` (no node) lets the case in, ``prepare``
    reads Horizon and refuses it; with the claimant's memo the refund is planned."""
    tx = w.pay(w.other_key, 20 * XLM)  # the other exchange's withdrawal lands without a memo
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.other)["id"]
    w.cli("case", "verify", str(cid))
    w.cli("case", "quote", str(cid))
    before, shared0 = snapshot(w.db), w.balance(w.shared)
    r = w.run("case", "prepare", str(cid), "--json")
    assert (r.code, r.error["code"]) == (7, "return_memo_required"), (r.out, r.err)
    assert snapshot(w.db) == before and w.balance(w.shared) == shared0
    tx2 = w.pay(w.other_key, 20 * XLM)
    cid2 = w.cli("case", "open", "--network", NETWORK, "--tx", tx2, "--return-address", w.other,
                 "--return-memo", "777")["id"]
    w.cli("case", "verify", str(cid2))
    w.cli("case", "quote", str(cid2))
    assert w.cli("case", "prepare", str(cid2))["plan"]["meta"]["memo"] == "777"


def test_scan_opens_a_case_for_each_memo_that_names_nobody_once(w):
    """``scan`` over Horizon's account payments: the memo-less deposit and the one whose memo names nobody
    become cases, the known memo is credited normally, the failed payment and another account's are not seen."""
    start = w.replay.ledger + 1
    plain = w.pay(w.user_key, 2 * XLM)
    unknown = w.pay(w.user_key, 2 * XLM, memo="424242")
    w.pay(w.user_key, 2 * XLM, memo="100001")                      # a good memo: credited normally
    seq = w.replay.accounts[w.user]["sequence"]
    env = (TransactionBuilder(Account(w.user, seq), TESTNET, base_fee=100).set_timeout(300)
           .append_payment_op(w.shared, Asset.native(), "3").build())
    env.sign(w.user_key)
    failed = w.replay.record(env, successful=False)                # failed in its ledger: nothing arrived
    seq = w.replay.accounts[w.user]["sequence"]
    env = (TransactionBuilder(Account(w.user, seq), TESTNET, base_fee=100).set_timeout(300)
           .append_payment_op(w.other, Asset.native(), "1").build())
    env.sign(w.user_key)
    assert w.replay.submit(env.to_xdr())[0] == 200                 # not ours
    end = w.replay.ledger
    report = w.cli("scan", "--network", NETWORK, "--from-block", str(start), "--to-block", str(end))
    opened = {w.cli("case", "show", str(c))["txid"] for c in report["opened"]}
    assert opened == {plain, unknown} and failed not in opened, report
    assert report["errors"] == [] and report["found"] == 2
    again = w.cli("scan", "--network", NETWORK, "--from-block", str(start), "--to-block", str(end))
    assert again["opened"] == [] and again["already_cases"] == 2
