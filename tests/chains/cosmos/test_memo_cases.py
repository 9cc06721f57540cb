"""Shared-wallet (memo) misdeposits through the installed CLI on a real Cosmos SDK chain (injectived).

The exchange's shared deposit wallet is the devnet's ``exchange`` account, registered as a ``shared``
address; its memos come from an admin-signed ``memos import``.  A user pays it without a memo, with a
memo that names nobody, with another user's memo, in two messages of one transaction, in a failed
transaction; each claim goes through the case life it should, with every balance checked on chain to
the base unit, and every refusal leaves the chain and the case database as they were.
"""

from __future__ import annotations

import csv
import json

import pytest

from clihelp import cli_json, run, snapshot
from cosmos_devnet import DENOM, IBC_DENOM, start_injectived

NETWORK = "inj-devnet"
SHARED_PATH = "m/44'/60'/0'/0/0"  # the keyring's path of the devnet's accounts (coin type 60)
# as one exchange charges memo refunds: five times its withdrawal fee (0.01 INJ), nothing below its
# minimum withdrawal (0.1 INJ); the shared wallet pays the network fee
WITHDRAWAL_FEE = 10**16
FEE_TABLE = (f'[fee]\npercent = "0"\nwithdrawal_fee = {WITHDRAWAL_FEE}\nwithdrawal_fee_multiple = "5"\n'
             f'min_withdrawal = {10**17}\nnetwork_cost = "absorb"\n')


@pytest.fixture(scope="module")
def chain():
    node = start_injectived()
    yield node
    node.stop()


class World:
    def __init__(self, chain, db, tmp):
        self.chain, self.db, self.tmp = chain, db, tmp
        self.shared = chain.address("exchange")
        self.user = chain.address("user")
        self.other = chain.address("other")
        self.env = {"INJ_DEVNET_URL": chain.api_url, "INJ_DEVNET_FEE_COLLECTOR": chain.address("validator"),
                    "INJ_DEVNET_HOT_WALLET": self.shared, "RECOVER_SEED": chain.mnemonics["exchange"],
                    "RECOVER_CONFIG_DIR": str(tmp / "networks")}

    def cli(self, *args, expect=0):
        return cli_json(*args, db=self.db, env=self.env, expect=expect)

    def run(self, *args):
        return run(*args, db=self.db, env=self.env)

    def balance(self, address, denom=DENOM):
        return self.chain.balance(address, denom)


def network_file(tmp, extra=""):
    """The bundled devnet file with the tests' fee table (and ``extra`` top-level settings)."""
    from importlib import resources

    text = resources.files("chains.configs").joinpath("inj-devnet.toml").read_text()
    head, _, _rest = text.partition("[fee]")  # the tests say their own fee table
    folder = tmp / "networks"
    folder.mkdir(exist_ok=True)
    body = head.rstrip() + "\n"
    lines = body.splitlines()
    first_table = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    lines[first_table:first_table] = extra.splitlines()
    (folder / "inj-devnet.toml").write_text("\n".join(lines) + "\n\n" + FEE_TABLE)


@pytest.fixture
def w(chain, sqlite_db_url, tmp_path):
    network_file(tmp_path, "native_min_deposit = 1000000000000000")  # 0.001 INJ
    world = World(chain, sqlite_db_url, tmp_path)
    assert world.run("init").code == 0
    (tmp_path / "addresses.csv").write_text("network,address,derivation_path,account,kind\n"
                                            f"{NETWORK},{world.shared},{SHARED_PATH},exchange-shared,shared\n")
    world.cli("addresses", "import", str(tmp_path / "addresses.csv"))
    (tmp_path / "memos.csv").write_text(f"network,memo,account,status\n{NETWORK},100001,acct-100001,active\n"
                                        f"{NETWORK},100002,acct-100002,closed\n")
    world.cli("memos", "import", str(tmp_path / "memos.csv"))
    return world


def sign_arbitrary(chain, name: str, message: str, signer: str) -> str:
    """The claimant's ADR-036 signature (as Keplr's ``signArbitrary`` makes it) with the account's key."""
    from chains.cosmos import sign_arbitrary as sign
    from chains.cosmos.keys import derive
    from chains.keys import mnemonic_seed

    key = derive(mnemonic_seed(chain.mnemonics[name]), SHARED_PATH, "eth_secp256k1", "inj")
    assert key.address == signer
    return sign(key, message, signer)


def through_quote_and_prepare(w, cid):
    w.cli("case", "quote", str(cid))
    return w.cli("case", "prepare", str(cid))


def key(name: str) -> str:
    from team import team

    return team().key(name)


def sign_until_completed(w, cid) -> dict:
    """Sign and broadcast an approved case, track it until completed (or 30 blocks); the case shown."""
    w.cli("case", "sign", str(cid))
    w.cli("case", "broadcast", str(cid))
    for _ in range(30):
        if w.cli("case", "track", str(cid))["status"] == "completed":
            break
        w.chain.wait_height(w.chain.height() + 1)
    return w.cli("case", "show", str(cid))


def approve(w, cid, *names):
    for name in names:
        w.cli("queue", "approve", str(cid), "--key", key(name))


def test_missing_memo_is_credited_after_the_senders_proof_and_exported_once(w):
    tx = w.chain.send("user", w.shared, 5 * 10**18)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--credit-account", "acct-777")["id"]
    shown = w.cli("case", "verify", str(cid))
    assert w.cli("case", "show", str(cid))["classification"] == "missing_memo", shown
    before = w.balance(w.shared)
    plan = through_quote_and_prepare(w, cid)
    assert plan["plan"]["steps"] == [] and plan["steps"][0]["role"] == "credit"
    # a credit waits for the sender's proof: no approval counts before it, nothing is recorded
    refused = w.cli("queue", "approve", str(cid), "--key", key("bob"), expect=7)
    assert refused["code"] == "condition_unmet" and "ownership_proof" in refused["message"]
    case = w.cli("case", "show", str(cid))
    assert case["conditions"]["required"] == ["ownership_proof"]
    message = case["conditions"]["ownership_message"]
    other_sig = sign_arbitrary(w.chain, "other", message, w.other)  # signed, but not by the sender
    assert w.cli("case", "prove", str(cid), "--signature", other_sig, expect=7)["code"] == "ownership_not_proven"
    w.cli("case", "prove", str(cid), "--signature", sign_arbitrary(w.chain, "user", message, w.user))
    approve(w, cid, "bob", "carol", "sam")
    signed = w.cli("case", "sign", str(cid))
    assert signed["status"] == "completed" and signed["transactions"] == []
    done = w.cli("case", "show", str(cid))
    assert done["status"] == "completed"
    assert w.balance(w.shared) == before  # a credit moves nothing on chain
    out = w.tmp / "credits.csv"
    w.cli("credits", "export", "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    quote = done["quote"]
    assert [(r["case_id"], r["account"], r["amount"], r["txids"]) for r in rows] == \
        [(str(cid), "acct-777", quote["net"], "")]
    assert int(quote["net"]) + int(quote["fee"]) == 5 * 10**18
    again = w.tmp / "credits-2.csv"
    w.cli("credits", "export", "--out", str(again))
    assert list(csv.DictReader(again.open())) == []


def test_unknown_memo_is_refunded_with_the_claimants_memo_to_the_base_unit(w):
    tx = w.chain.send("user", w.shared, 3 * 10**18, memo="999999")
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user,
                "--return-memo", "note-42")["id"]
    w.cli("case", "verify", str(cid))
    shown = w.cli("case", "show", str(cid))
    assert shown["classification"] == "unknown_memo"
    assert shown["conditions"]["required"] == []  # a refund goes back to its sender: no proof asked
    prepared = through_quote_and_prepare(w, cid)
    plan = prepared["plan"]
    assert len(plan["steps"]) == 1 and plan["meta"]["memo"] == "note-42"
    approve(w, cid, "bob", "carol", "sam")
    shared0, user0 = w.balance(w.shared), w.balance(w.user)
    case = sign_until_completed(w, cid)
    assert case["status"] == "completed"
    refund = int(plan["net"])
    txid = case["transactions"][0]["txid"]
    landed = w.chain.tx(txid)
    assert landed["code"] == 0 and [c["denom"] for c in landed["fee"]] == [DENOM]
    fee_paid = int(landed["fee"][0]["amount"])
    assert fee_paid == int(plan["native_cost"])
    assert w.balance(w.user) - user0 == refund
    assert shared0 - w.balance(w.shared) == refund + fee_paid
    assert landed["memo"] == "note-42"
    assert [(m["to_address"], m["amount"]) for m in landed["messages"]] == [(w.user, [{"denom": DENOM,
                                                                                       "amount": str(refund)}])]
    assert int(case["quote"]["fee"]) == 5 * WITHDRAWAL_FEE and refund == 3 * 10**18 - 5 * WITHDRAWAL_FEE


def test_wrong_memo_waits_for_a_reviewer(w):
    tx = w.chain.send("user", w.shared, 2 * 10**18, memo="100001")  # acct-100001 was credited
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--credit-account", "acct-555")["id"]
    w.cli("case", "verify", str(cid))
    case = w.cli("case", "show", str(cid))
    assert case["classification"] == "wrong_memo" and "memo_names_another_account" in case["flags"]
    through_quote_and_prepare(w, cid)
    w.cli("case", "prove", str(cid), "--signature",
          sign_arbitrary(w.chain, "user", case["conditions"]["ownership_message"], w.user))
    approve(w, cid, "bob", "carol", "sam")
    # the sender's proof and three approvals are not enough: the memo's owner was credited, a reviewer
    # must look first; nothing is signed or recorded before
    shown = w.cli("case", "show", str(cid))
    assert shown["status"] == "awaiting_approval" and shown["approvals"]["conditions_unmet"] == ["manual_review"]
    before = snapshot(w.db)
    refused = w.cli("case", "sign", str(cid), "--key", key("wes"), expect=7)
    assert refused["code"] == "approvals_missing" and "manual_review" in refused["message"]
    assert snapshot(w.db) == before
    w.cli("case", "signoff", str(cid), "--condition", "manual_review", "--reason", "acct-100001 debited back")
    assert w.cli("case", "show", str(cid))["status"] == "approved"
    w.cli("case", "sign", str(cid))
    assert w.cli("case", "show", str(cid))["status"] == "completed"


def test_a_two_message_transaction_is_two_deposits(w):
    tx = w.chain.send_messages("user", [(w.shared, 10**18, DENOM), (w.shared, 2 * 10**18, DENOM)])
    first = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "0",
                  "--credit-account", "acct-1")["id"]
    second = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "1",
                   "--return-address", w.user)["id"]
    w.cli("case", "verify", str(first))
    w.cli("case", "verify", str(second))
    facts = [w.cli("case", "show", str(c))["facts"][0] for c in (first, second)]
    assert [(f["deposit_index"], f["amount"]) for f in facts] == [(0, str(10**18)), (1, str(2 * 10**18))]
    # the same message again is the same deposit: refused, nothing written
    before = snapshot(w.db)
    dup = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "1", "--credit-account", "acct-2",
                expect=5)
    assert dup["code"] == "duplicate" and snapshot(w.db) == before


def test_a_claim_without_its_message_index_waits_to_be_told(w):
    tx = w.chain.send_messages("user", [(w.shared, 10**18, DENOM), (w.shared, 10**18, DENOM)])
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--credit-account", "acct-1")["id"]
    r = w.run("case", "verify", str(cid), "--json")
    assert r.code == 6 and r.error["code"] == "ambiguous_claim" and "--msg-index" in r.error["message"]
    assert w.cli("case", "show", str(cid))["status"] == "open"
    # while it may still be either transfer, it holds both; closed without proving one, it holds none
    assert w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "1", "--credit-account", "acct-1",
                 expect=5)["code"] == "duplicate"
    w.cli("case", "close", str(cid), "--as", "rejected", "--reason", "reopened per transfer", "--key", key("rita"))
    first = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "0", "--credit-account", "acct-1")
    w.cli("case", "verify", str(first["id"]))
    # a verified claim holds exactly its proven transfer: the other one is still free, its own is not
    w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "1", "--return-address", w.user)
    assert w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--msg-index", "0", "--return-address", w.user,
                 expect=5)["code"] == "duplicate"


def refusal(w, args, exit_code, code):
    before, shared0, user0 = snapshot(w.db), w.balance(w.shared), w.balance(w.user)
    r = w.run(*args, "--json")
    assert (r.code, r.error["code"]) == (exit_code, code), (r.out, r.err)
    assert snapshot(w.db) == before
    assert (w.balance(w.shared), w.balance(w.user)) == (shared0, user0)
    return r.error


def test_refusals_change_nothing(w):
    # a refund to our own shared wallet
    tx = w.chain.send("user", w.shared, 10**18)
    refusal(w, ("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.shared), 7,
            "destination_ours")
    # a memo on a claim to credit (a credit sends nothing), and a memo claim on a per-address network
    refusal(w, ("case", "open", "--network", NETWORK, "--tx", tx, "--credit-account", "a", "--return-memo", "x"), 4,
            "invalid_memo")
    refusal(w, ("case", "open", "--network", "anvil", "--tx", "0x" + "ab" * 32, "--credit-account", "a",
                "--msg-index", "0"), 4, "not_memo_network")
    # memos only for memo networks; a memo of another form than the exchange's
    (w.tmp / "bad-memos.csv").write_text(f"network,memo,account\n{NETWORK},12ab,acct-9\n")
    refusal(w, ("memos", "import", str(w.tmp / "bad-memos.csv")), 4, "invalid_memo")
    (w.tmp / "anvil-memos.csv").write_text("network,memo,account\nanvil,1,acct-9\n")
    refusal(w, ("memos", "import", str(w.tmp / "anvil-memos.csv")), 4, "not_memo_network")
    # a user's address of kind deposit on a memo network
    (w.tmp / "deposit-kind.csv").write_text("network,address,derivation_path,account,kind\n"
                                            f"{NETWORK},{w.other},m/44'/60'/0'/0/3,x,deposit\n")
    refusal(w, ("addresses", "import", str(w.tmp / "deposit-kind.csv")), 4, "wrong_address_kind")


def test_failed_foreign_and_second_claims_are_refused_on_verify(w):
    failed = w.chain.send_out_of_gas("user", w.shared, 10**18)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", failed, "--credit-account", "acct-3")["id"]
    r = w.run("case", "verify", str(cid), "--json")
    assert (r.code, r.error["code"]) == (6, "tx_failed")
    assert w.cli("case", "show", str(cid))["status"] == "unrecoverable"
    foreign = w.chain.send("user", w.other, 10**18)  # to someone else
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", foreign, "--credit-account", "acct-3")["id"]
    r = w.run("case", "verify", str(cid), "--json")
    assert (r.code, r.error["code"]) == (6, "not_ours")
    # below the minimum withdrawal: a refund is refused with the reason, nothing moves on chain
    small = w.chain.send("user", w.shared, 5 * 10**16, memo="31337")
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", small, "--return-address", w.user)["id"]
    w.cli("case", "verify", str(cid))
    shared0 = w.balance(w.shared)
    r = w.run("case", "quote", str(cid), "--json")
    assert (r.code, r.error["code"]) == (7, "below_min_withdrawal") and "minimum" in r.error["message"]
    assert w.cli("case", "show", str(cid))["status"] == "verified" and w.balance(w.shared) == shared0
    assert w.run("case", "prepare", str(cid), "--json").error["code"] == "not_preparable"
    tiny = w.chain.send("user", w.shared, 10**14, memo="100001")  # below the 0.001 INJ minimum deposit
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tiny, "--credit-account", "acct-100001")["id"]
    w.cli("case", "verify", str(cid))
    assert w.cli("case", "show", str(cid))["classification"] == "below_minimum"


def test_a_refund_goes_to_the_sender_and_carries_a_memo_where_the_address_needs_one(chain, sqlite_db_url, tmp_path):
    network_file(tmp_path, "[[memo_required_addresses]]\n"
                           f'address = "{chain.address("other")}"\nname = "Another Exchange"\n')
    w = World(chain, sqlite_db_url, tmp_path)
    assert w.run("init").code == 0
    (tmp_path / "addresses.csv").write_text("network,address,derivation_path,account,kind\n"
                                            f"{NETWORK},{w.shared},{SHARED_PATH},exchange-shared,shared\n")
    w.cli("addresses", "import", str(tmp_path / "addresses.csv"))
    # the "other" exchange's withdrawal lands in our shared wallet without a memo
    tx = chain.send("other", w.shared, 4 * 10**18)
    refusal(w, ("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.other), 7,
            "return_memo_required")
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.other,
                "--return-memo", "777")["id"]
    w.cli("case", "verify", str(cid))
    w.cli("case", "quote", str(cid))
    assert json.loads(json.dumps(w.cli("case", "prepare", str(cid))))["plan"]["meta"]["memo"] == "777"
    # a refund asked to another address than the sender's is refused at prepare
    tx2 = chain.send("user", w.shared, 10**18)
    cid2 = w.cli("case", "open", "--network", NETWORK, "--tx", tx2, "--return-address", w.other,
                 "--return-memo", "1")["id"]
    w.cli("case", "verify", str(cid2))
    w.cli("case", "quote", str(cid2))
    refusal(w, ("case", "prepare", str(cid2)), 7, "refund_not_to_sender")


def test_scan_opens_a_case_for_each_memo_that_names_nobody_once(w):
    start = w.chain.height()
    plain = w.chain.send("user", w.shared, 10**18)
    unknown = w.chain.send("user", w.shared, 10**18, memo="424242")
    w.chain.send("user", w.shared, 10**18, memo="100001")         # a good memo: credited normally
    failed = w.chain.send_overdrawn("user", w.shared)              # failed in its block: nothing arrived
    w.chain.send("user", w.other, 10**18)                          # not ours
    ibc = w.chain.send("user", w.shared, 5 * 10**6, IBC_DENOM)     # no memo, another denomination
    end = w.chain.height()
    report = w.cli("scan", "--network", NETWORK, "--from-block", str(start), "--to-block", str(end))
    opened = {w.cli("case", "show", str(c))["txid"] for c in report["opened"]}
    assert opened == {plain, unknown, ibc} and failed not in opened, json.dumps(report)
    assert report["errors"] == [] and report["found"] == 3
    again = w.cli("scan", "--network", NETWORK, "--from-block", str(start), "--to-block", str(end))
    assert again["opened"] == [] and again["already_cases"] == 3


def test_batch_appeals_name_the_transfer_and_the_return_memo(w):
    tx = w.chain.send_messages("user", [(w.shared, 10**18, DENOM), (w.shared, 10**18, DENOM)])
    appeals = w.tmp / "appeals.csv"
    appeals.write_text("network,txid,msg_index,return_address,return_memo,credit_account,external_ref\n"
                       f"{NETWORK},{tx},0,{w.user},ref-9,,T-1\n"
                       f"{NETWORK},{tx},1,,,acct-4,T-2\n"
                       f"{NETWORK},{tx},x,,,acct-4,T-3\n")
    r = w.run("case", "import", str(appeals), "--json")
    assert r.code == 4
    rows = json.loads(r.out)
    assert [(x["outcome"], x["code"]) for x in rows] == [("opened", None), ("opened", None),
                                                         ("error", "invalid_msg_index")]
    first, second = (w.cli("case", "show", str(x["id"])) for x in rows[:2])
    assert (first["msg_index"], first["destination"]) == (0, {"return_address": w.user, "return_memo": "ref-9"})
    assert (second["msg_index"], second["destination"]) == (1, {"credit_account": "acct-4"})
    for c in (first, second):
        w.cli("case", "verify", str(c["id"]))
    facts = [w.cli("case", "show", str(c["id"]))["facts"][0]["deposit_index"] for c in (first, second)]
    assert facts == [0, 1]


def test_the_signer_classifies_the_memo_again_and_a_memo_imported_since_stops_it(w):
    tx = w.chain.send("user", w.shared, 2 * 10**18, memo="555555")  # names nobody when verified
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user)["id"]
    w.cli("case", "verify", str(cid))
    through_quote_and_prepare(w, cid)
    approve(w, cid, "bob", "carol", "sam")
    # the memo turns out to be a user's (imported since): that user may have been credited
    (w.tmp / "late.csv").write_text(f"network,memo,account\n{NETWORK},555555,acct-555555\n")
    w.cli("memos", "import", str(w.tmp / "late.csv"))
    before, shared0 = snapshot(w.db), w.balance(w.shared)
    refused = w.cli("case", "sign", str(cid), expect=7)
    assert refused["code"] == "classification_changed" and "wrong_memo" in refused["message"]
    assert snapshot(w.db) == before and w.balance(w.shared) == shared0
    # a memo already registered to another account never changes hands
    (w.tmp / "swap.csv").write_text(f"network,memo,account\n{NETWORK},555555,acct-1\n")
    r = w.run("memos", "import", str(w.tmp / "swap.csv"), "--json")
    assert (r.code, r.error["code"]) == (4, "memo_conflict")


def test_a_worker_follows_the_shared_wallet_and_opens_each_memo_that_names_nobody_once(w):
    """Issue 27: ``worker --scan`` on a shared-wallet network: rounds after the last block scanned,
    each deposit without a usable memo one case, none twice."""
    w.cli("scan", "--network", NETWORK, "--from-block", str(w.chain.height()))
    plain = w.chain.send("user", w.shared, 10**18)
    w.chain.send("user", w.shared, 10**18, memo="100001")  # credited normally
    report = w.cli("worker", "--once", "--scan", NETWORK)
    opened = [c for r in report["scanned"] for c in r["opened"]]
    assert [w.cli("case", "show", str(c))["txid"] for c in opened] == [plain], json.dumps(report)
    again = w.cli("worker", "--once", "--scan", NETWORK)
    assert [c for r in again["scanned"] for c in r["opened"]] == []
