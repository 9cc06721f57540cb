"""Shared-wallet (memo) misdeposits on the XRP Ledger through the installed CLI, against the loopback rippled
replay (tests/support/xrpl_replay.py): a recorded mainnet partial payment is counted at what it delivered,
a tagless payment is ``missing_memo``, a failed one is refused, an unvalidated one waits (exit 9), and an
unknown tag is refunded with the claimant's tag to the drop."""

from __future__ import annotations

import pytest

from chains.keys import mnemonic_seed
from chains.xrpl.keys import derive
from chains.xrpl.sign import sign_tx
from clihelp import cli_json, run
from xrpl_replay import FAILED_TXID, PARTIAL_TXID, XrplReplay

NETWORK = "xrpl-replay"
MNEMONIC = "assault rare scout seed design extend noble drink talk control guitar quote"  # xrpl.js test vector
SHARED_PATH = "m/44'/144'/0'/0/0"
USER_PATH = "m/44'/144'/0'/0/1"
PARTIAL_RECIPIENT = "rNNuQMuExCiEjeZ4h9JJnj5PSWypdMXDj4"  # the recorded partial payment's destination
FAILED_RECIPIENT = "r3AWbdp2jQLXLywJypdoNwVSvr81xs3uhn"  # the recorded failed payment's destination
# 0.2 XRP withdrawal fee, five times for a memo refund; nothing below 2 XRP
FEE_TABLE = '[fee]\npercent = "0"\nwithdrawal_fee = 200000\nwithdrawal_fee_multiple = "5"\nmin_withdrawal = 2000000\n' \
            'network_cost = "absorb"\n'


def _keys():
    seed = mnemonic_seed(MNEMONIC)
    return derive(seed, SHARED_PATH, "secp256k1"), derive(seed, USER_PATH, "secp256k1")


class World:
    def __init__(self, replay, db, tmp):
        self.replay, self.db, self.tmp = replay, db, tmp
        shared, user = _keys()
        self.shared, self.user, self.user_key = shared.address, user.address, user
        self.env = {"XRPL_REPLAY_URL": replay.url, "XRPL_REPLAY_FEE_COLLECTOR": self.shared,
                    "XRPL_REPLAY_HOT_WALLET": self.shared, "RECOVER_SEED": MNEMONIC,
                    "RECOVER_CONFIG_DIR": str(tmp / "networks")}

    def cli(self, *args, expect=0):
        return cli_json(*args, db=self.db, env=self.env, expect=expect)

    def run(self, *args):
        return run(*args, db=self.db, env=self.env)

    def pay(self, drops: int, tag: int | None = None, *, validate=True) -> str:
        """The user pays the shared wallet: a real signed payment the replay applies."""
        acc = self.replay.accounts[self.user]
        tx = {"TransactionType": "Payment", "Account": self.user, "Destination": self.shared, "Amount": str(drops),
              "Fee": "12", "Sequence": int(acc["Sequence"]), "Flags": 0,
              "LastLedgerSequence": self.replay.validated + 5}
        if tag is not None:
            tx["DestinationTag"] = tag
        answer = self.replay.submit(sign_tx(tx, self.user_key))
        assert answer["engine_result"] == "tesSUCCESS", answer
        if validate:
            self.replay.close()
        return answer["tx_json"]["hash"]


def _network_file(tmp):
    from importlib import resources

    text = resources.files("chains.configs").joinpath(f"{NETWORK}.toml").read_text()
    folder = tmp / "networks"
    folder.mkdir(exist_ok=True)
    lines = text.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    lines[first_table:first_table] = ["native_min_deposit = 100000"]
    (folder / f"{NETWORK}.toml").write_text("\n".join(lines) + "\n\n" + FEE_TABLE)


@pytest.fixture
def w(sqlite_db_url, tmp_path):
    replay = XrplReplay()
    _network_file(tmp_path)
    world = World(replay, sqlite_db_url, tmp_path)
    replay.fund(world.shared, 100_000_000, sequence=5)
    replay.fund(world.user, 500_000_000)
    assert world.run("init").code == 0
    rows = [f"{NETWORK},{world.shared},{SHARED_PATH},exchange-shared,shared",
            f"{NETWORK},{PARTIAL_RECIPIENT},m/44'/144'/0'/0/7,exchange-old,shared",
            f"{NETWORK},{FAILED_RECIPIENT},m/44'/144'/0'/0/8,exchange-old-2,shared"]
    (tmp_path / "addresses.csv").write_text("network,address,derivation_path,account,kind\n" + "\n".join(rows) + "\n")
    world.cli("addresses", "import", str(tmp_path / "addresses.csv"))
    (tmp_path / "memos.csv").write_text(f"network,memo,account,status\n{NETWORK},100001,acct-100001,active\n")
    world.cli("memos", "import", str(tmp_path / "memos.csv"))
    yield world
    replay.stop()


def key(name: str) -> str:
    from team import team

    return team().key(name)


def test_recorded_partial_payment_is_missing_memo_at_its_delivered_amount(w):
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", PARTIAL_TXID, "--credit-account", "acct-9")["id"]
    w.cli("case", "verify", str(cid))
    case = w.cli("case", "show", str(cid))
    assert case["classification"] == "missing_memo"
    assert case["facts"][0]["amount"] == "1000000"  # delivered; its Amount (DeliverMax) claimed 2000000


def test_recorded_failed_payment_is_refused(w):
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", FAILED_TXID, "--credit-account", "acct-9")["id"]
    r = w.run("case", "verify", str(cid), "--json")
    assert (r.code, r.error["code"]) == (6, "tx_failed"), (r.out, r.err)


def test_unvalidated_payment_waits(w):
    tx = w.pay(30_000_000, 999999, validate=False)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user,
                "--return-memo", "5")["id"]
    r = w.run("case", "verify", str(cid), "--json")
    assert r.code == 9, (r.out, r.err)
    w.replay.close()
    w.cli("case", "verify", str(cid))
    assert w.cli("case", "show", str(cid))["classification"] == "unknown_memo"


def test_unknown_tag_is_refunded_with_the_claimants_tag_to_the_drop(w):
    tx = w.pay(30_000_000, 999999)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user,
                "--return-memo", "42")["id"]
    w.cli("case", "verify", str(cid))
    assert w.cli("case", "show", str(cid))["classification"] == "unknown_memo"
    w.cli("case", "quote", str(cid))
    plan = w.cli("case", "prepare", str(cid))["plan"]
    assert plan["meta"]["memo"] == "42" and plan["steps"][0]["tx"]["DestinationTag"] == 42
    for name in ("bob", "carol", "sam"):
        w.cli("queue", "approve", str(cid), "--key", key(name))
    shared0, user0 = w.replay.balance(w.shared), w.replay.balance(w.user)
    w.cli("case", "sign", str(cid))
    w.cli("case", "broadcast", str(cid))
    w.replay.close()
    assert w.cli("case", "track", str(cid))["status"] == "completed"
    case = w.cli("case", "show", str(cid))
    refund = int(plan["net"])
    assert refund == 30_000_000 - 5 * 200_000
    assert w.replay.balance(w.user) - user0 == refund
    assert shared0 - w.replay.balance(w.shared) == refund + int(plan["native_cost"])
    landed = w.replay.txs[case["transactions"][0]["txid"]]
    assert landed["tx_json"]["DestinationTag"] == 42 and landed["meta"]["TransactionResult"] == "tesSUCCESS"


def test_a_refund_to_an_account_that_requires_a_tag_needs_one(w):
    w.replay.accounts[w.user]["Flags"] = 0x00020000  # lsfRequireDestTag, as the ledger reports it
    tx = w.pay(30_000_000, 999999)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user)["id"]
    w.cli("case", "verify", str(cid))
    w.cli("case", "quote", str(cid))
    r = w.run("case", "prepare", str(cid), "--json")  # the ledger's flag is read when the refund is planned
    assert (r.code, r.error["code"]) == (7, "return_memo_required"), (r.out, r.err)
    tagged = w.pay(30_000_000, 999998)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tagged, "--return-address", w.user,
                "--return-memo", "8")["id"]
    w.cli("case", "verify", str(cid))
    w.cli("case", "quote", str(cid))
    assert w.cli("case", "prepare", str(cid))["plan"]["steps"][0]["tx"]["DestinationTag"] == 8


def test_a_dropped_refund_past_its_last_ledger_is_planned_again(w):
    tx = w.pay(30_000_000, 999999)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user,
                "--return-memo", "42")["id"]
    w.cli("case", "verify", str(cid))
    w.cli("case", "quote", str(cid))
    w.cli("case", "prepare", str(cid))
    for name in ("bob", "carol", "sam"):
        w.cli("queue", "approve", str(cid), "--key", key(name))
    w.cli("case", "sign", str(cid))
    w.cli("case", "broadcast", str(cid))
    txid = w.cli("case", "show", str(cid))["transactions"][0]["txid"]
    w.replay.drop(txid)  # evicted before any validated ledger held it
    w.replay.validated += 25  # ... and its LastLedgerSequence has passed: it can never be included
    tracked = w.cli("case", "track", str(cid))
    assert tracked["status"] == "verified", tracked
    assert "tefMAX_LEDGER" in tracked["transactions"][0]["error"]
    assert txid not in w.replay.txs  # nothing was sent again
    # planned again: a new sequence-fresh refund with a new LastLedgerSequence
    w.cli("case", "quote", str(cid))
    plan = w.cli("case", "prepare", str(cid))["plan"]
    assert plan["steps"][0]["tx"]["LastLedgerSequence"] == w.replay.validated + 20


def test_a_tagless_deposit_is_credited_after_the_senders_proof(w):
    from chains.xrpl.keys import sign_message

    tx = w.pay(25_000_000)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--credit-account", "acct-777")["id"]
    w.cli("case", "verify", str(cid))
    assert w.cli("case", "show", str(cid))["classification"] == "missing_memo"
    w.cli("case", "quote", str(cid))
    w.cli("case", "prepare", str(cid))
    message = w.cli("case", "show", str(cid))["conditions"]["ownership_message"]
    shared_key, _ = _keys()
    forged = sign_message(shared_key, message)  # a valid signature, by another account
    assert w.cli("case", "prove", str(cid), "--signature", forged, expect=7)["code"] == "ownership_not_proven"
    w.cli("case", "prove", str(cid), "--signature", sign_message(w.user_key, message))
    for name in ("bob", "carol", "sam"):
        w.cli("queue", "approve", str(cid), "--key", key(name))
    shared0 = w.replay.balance(w.shared)
    assert w.cli("case", "sign", str(cid))["status"] == "completed"
    assert w.replay.balance(w.shared) == shared0  # a credit moves nothing on chain


def test_scan_opens_a_case_for_each_tag_that_names_nobody_once(w):
    start = w.replay.validated + 1
    plain = w.pay(3_000_000)
    unknown = w.pay(3_000_000, 424242)
    w.pay(3_000_000, 100001)  # a good tag: credited normally
    end = w.replay.validated
    report = w.cli("scan", "--network", NETWORK, "--from-block", str(start), "--to-block", str(end))
    opened = {w.cli("case", "show", str(c))["txid"] for c in report["opened"]}
    assert opened == {plain, unknown}, report
    assert report["errors"] == [] and report["found"] == 2
    again = w.cli("scan", "--network", NETWORK, "--from-block", str(start), "--to-block", str(end))
    assert again["opened"] == [] and again["already_cases"] == 2
