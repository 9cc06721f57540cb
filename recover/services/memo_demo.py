"""`recover demo --memo`: shared-wallet (memo) deposits end to end on a local injectived chain.

On a ``shared_memo`` network every user pays the exchange's one shared address and is told apart by a
memo; a deposit without a usable memo is a case.  The demo starts a single-validator injectived
(``chains.cosmos.devnet``, PyPI ``injective-core``), a temporary database, trust root and operators as
the EVM demo does, registers the devnet's ``exchange`` account as the shared wallet and imports the
memos, then shows both resolutions: a deposit without a memo *credited* to the claimant's account
(the sender's ADR-036 proof, no on-chain transaction, one CSV row), and a deposit whose memo names
nobody *refunded* to the sender with the claimant's return memo (signed, broadcast, tracked).  Nothing
is pretended: every number comes from the chain or the database, and the balances are read before
and after.  The node is stopped and its home removed whatever happens.
"""

from __future__ import annotations

import csv
import tempfile
from importlib import resources
from pathlib import Path
from typing import Callable

from recover import api
from recover.networks.registry import clear_cache
from recover.services.demo import DEMO_PASSPHRASE, demo_authority, demo_env

# Imports inside functions: the devnet, the Cosmos keys and mnemonic helpers load only when the demo runs.

NETWORK = "inj-devnet"
SHARED_PATH = "m/44'/60'/0'/0/0"  # the devnet keyring's path (coin type 60): the exchange's shared wallet
INJ = 10**18                       # base units of one INJ
WITHDRAWAL_FEE = 10**16            # 0.01 INJ: a memo refund costs five of them, the shared wallet pays the gas
FEE_TABLE = (f'[fee]\npercent = "0"\nwithdrawal_fee = {WITHDRAWAL_FEE}\nwithdrawal_fee_multiple = "5"\n'
             f'min_withdrawal = {10 * WITHDRAWAL_FEE}\nnetwork_cost = "absorb"\n')
INJ_USD = "25"                     # the pricer's INJ price: both cases fall in the two-approver tier
USER_ACCOUNT, USER_MEMO = "acct-100001", "100001"
CREDIT_AMOUNT, REFUND_AMOUNT = 60 * INJ, 40 * INJ
UNKNOWN_MEMO, RETURN_MEMO = "999999", "note-42"


def run_memo_demo(say: Callable[[str], None] = print) -> dict:
    """Run the demo; returns ``{"credit": case, "refund": case, "credit_export": row, "refund_memo_on_chain",
    "demo_balances": {"credit": {"shared_wallet"}, "refund": {"shared_wallet", "user", "network_fee"}}}``: the
    cases as ``case show`` has them, the balance changes in base units as strings."""
    from chains.cosmos.devnet import start_injectived

    node = start_injectived()  # DevnetUnavailable (exit 4) without injective-core
    try:
        with tempfile.TemporaryDirectory(prefix="recover-memo-demo-") as tmp, \
                demo_env(RECOVER_SEED=node.mnemonics["exchange"], RECOVER_KEY_PASSPHRASE=DEMO_PASSPHRASE,
                         RECOVER_TRUST_ROOT="", RECOVER_OPERATOR_KEY="", RECOVER_CONFIG_DIR=_network_dir(Path(tmp)),
                         INJ_DEVNET_URL=node.api_url, INJ_DEVNET_FEE_COLLECTOR=node.address("validator"),
                         INJ_DEVNET_HOT_WALLET=node.address("exchange")):
            clear_cache()  # the registry reads the demo's network file, and forgets it afterwards
            return _run(node, Path(tmp), say)
    finally:
        clear_cache()
        node.stop()  # and its home


def _network_dir(tmp: Path) -> str:
    """The bundled devnet file with the demo's fee table, in a RECOVER_CONFIG_DIR of the run's own."""
    text = resources.files("chains.configs").joinpath(f"{NETWORK}.toml").read_text()
    head, _, _ = text.partition("[fee]")  # the demo says its own fee table
    folder = tmp / "networks"
    folder.mkdir()
    (folder / f"{NETWORK}.toml").write_text(head.rstrip() + "\n\n" + FEE_TABLE)
    return str(folder)


def _run(node, tmp: Path, say: Callable[[str], None]) -> dict:
    db = f"sqlite:///{tmp / 'demo.db'}"
    say(f"1. init: case database at {db} (schema {api.init(db)})")
    shared, user = node.address("exchange"), node.address("user")
    say(f"2. chain: injectived {node.chain_id} at height {node.height()} ({node.api_url}); shared deposit "
        f"wallet {shared} holds {node.balance(shared)} inj, user {user}")
    admins, ops = demo_authority(tmp, db, say)
    (tmp / "addresses.csv").write_text("network,address,derivation_path,account,kind\n"
                                       f"{NETWORK},{shared},{SHARED_PATH},exchange-shared,shared\n")
    api.import_addresses(tmp / "addresses.csv", admin_keys=admins, db=db)
    (tmp / "memos.csv").write_text(f"network,memo,account,status\n{NETWORK},{USER_MEMO},{USER_ACCOUNT},active\n")
    api.import_memos(tmp / "memos.csv", admin_keys=admins, db=db)
    say(f"4. shared wallet {shared} registered (kind shared, {SHARED_PATH}) and memo {USER_MEMO} -> "
        f"{USER_ACCOUNT} (active), each by a statement both admins signed")
    api.set_price("INJ", INJ_USD, db=db, key=ops["pia"])
    say(f"5. price: INJ at {INJ_USD} USD, signed by pia (pricer)")
    credit, row, unchanged = _credit(node, tmp, db, ops, say)
    refund, deltas, memo = _refund(node, db, ops, say)
    audit = api.verify_audit(db=db)
    say(f"22. audit: {audit.events} events, chain intact and every statement verified: {audit.ok}")
    return {"credit": credit, "refund": refund, "credit_export": row, "refund_memo_on_chain": memo,
            "demo_balances": {"credit": {"shared_wallet": str(unchanged)},
                              "refund": {k: str(v) for k, v in deltas.items()}}}


def _user_proof(node, message: str) -> str:
    """The user's ADR-036 signature of the case's ownership message, with the key of their mnemonic
    (what Keplr's ``signArbitrary`` sends)."""
    from chains.cosmos import sign_arbitrary
    from chains.cosmos.keys import derive
    from chains.keys import mnemonic_seed

    key = derive(mnemonic_seed(node.mnemonics["user"]), SHARED_PATH, "eth_secp256k1", "inj")
    return sign_arbitrary(key, message, node.address("user"))


def _approve(case_id: int, db: str, ops: dict) -> str:
    for name in ("ana", "ben"):
        state = api.decide(case_id, "approve", db=db, key=ops[name])
    return f"{', '.join(state.counted)} signed the plan hash ({state.tier.describe()})"


def _quote(case_id: int, db: str, ops: dict) -> str:
    q = api.quote_case(case_id, db=db, key=ops["sam"]).quote
    return f"gross {q.gross}, fee {q.fee}, net {q.net} inj (18 decimals); value {q.value_usd} USD"


def _credit(node, tmp: Path, db: str, ops: dict, say) -> tuple[dict, dict, int]:
    """Case (a): no memo; credited to the user's account after their proof; the shared wallet keeps it all."""
    shared, user = node.address("exchange"), node.address("user")
    tx = node.send("user", shared, CREDIT_AMOUNT)
    before = node.balance(shared)
    say(f"6. credit case: user sent {CREDIT_AMOUNT} inj to the shared wallet WITHOUT a memo in {tx}")
    case = api.open_case(NETWORK, tx, credit_account=USER_ACCOUNT, claimant="demo-user", db=db, key=ops["sam"])
    api.verify_case(case.id, db=db, key=ops["sam"])
    shown = api.show_case(case.id, db=db)
    say(f"7. open and verify: case {case.id} to credit {USER_ACCOUNT}; classified {shown['classification']}")
    say(f"8. quote: {_quote(case.id, db, ops)}")
    plan = api.prepare_case(case.id, db=db, key=ops["sam"])
    say(f"9. prepare: plan {plan.plan_hash[:16]}… with {len(plan.plan['steps'])} transactions (a credit sends "
        "nothing on chain)")
    message = api.show_case(case.id, db=db)["conditions"]["ownership_message"]
    api.prove_ownership(case.id, _user_proof(node, message), db=db, key=ops["sam"])
    say(f"10. proof: the sender {user} signed the case's ownership message (ADR-036 signArbitrary), recorded by sam")
    say(f"11. approvals: {_approve(case.id, db, ops)}")
    signed = api.sign_case(case.id, db=db, key=ops["ana"])
    done = api.show_case(case.id, db=db)
    say(f"12. sign: case {case.id} is {done['status']}, {len(signed)} transactions signed: the credit is recorded")
    out = tmp / "credits.csv"
    count = api.export_credits(out, db=db, key=ops["ana"])
    rows = list(csv.DictReader(out.open(newline="")))
    say(f"13. credits export ({count} row, by ana): " + "; ".join(f"{k}={v}" for k, v in rows[0].items()))
    after = node.balance(shared)
    say(f"14. shared wallet: {after} inj, changed by {after - before} since the deposit (a credit moves nothing)")
    return done, rows[0], after - before


def _refund(node, db: str, ops: dict, say) -> tuple[dict, dict, str]:
    """Case (b): a memo naming nobody; refunded to the sender with the claimant's return memo."""
    shared, user = node.address("exchange"), node.address("user")
    tx = node.send("user", shared, REFUND_AMOUNT, memo=UNKNOWN_MEMO)
    say(f"15. refund case: user sent {REFUND_AMOUNT} inj to the shared wallet with memo {UNKNOWN_MEMO} in {tx}")
    case = api.open_case(NETWORK, tx, return_address=user, return_memo=RETURN_MEMO, claimant="demo-user", db=db,
                         key=ops["sam"])
    api.verify_case(case.id, db=db, key=ops["sam"])
    shown = api.show_case(case.id, db=db)
    say(f"16. open and verify: case {case.id}, refund to {user} with memo {RETURN_MEMO}; classified "
        f"{shown['classification']}")
    say(f"17. quote: {_quote(case.id, db, ops)}")
    plan = api.prepare_case(case.id, db=db, key=ops["sam"])
    say(f"18. prepare: plan {plan.plan_hash[:16]}… with {len(plan.plan['steps'])} transaction from the shared "
        f"wallet, memo {plan.plan['meta']['memo']!r} (simulated)")
    say(f"19. approvals: {_approve(case.id, db, ops)}")
    shared0, user0 = node.balance(shared), node.balance(user)
    api.sign_case(case.id, db=db, key=ops["ana"])
    api.broadcast_case(case.id, db=db, key=ops["ana"])
    status = _track(node, case.id, db, ops)
    say(f"20. sign, broadcast, track: case {case.id} is {status}")
    done = api.show_case(case.id, db=db)
    landed = node.tx(done["transactions"][0]["txid"])
    fee = sum(int(c["amount"]) for c in landed["fee"] if c["denom"] == "inj")
    deltas = {"shared_wallet": node.balance(shared) - shared0, "user": node.balance(user) - user0, "network_fee": fee}
    say(f"21. on chain: {landed['txhash']} in block {landed['height']} with memo {landed['memo']!r}; shared wallet "
        f"{deltas['shared_wallet']}, user +{deltas['user']}, network fee {fee} (inj base units)")
    return done, deltas, landed["memo"]


def _track(node, case_id: int, db: str, ops: dict, blocks: int = 30) -> str:
    """Track once a block until the case is completed (a refund confirms in the next block or two); else its
    status after ``blocks`` blocks, as it is."""
    for _ in range(blocks):
        status = api.track_case(case_id, db=db, key=ops["ana"]).status
        if status == "completed":
            return status
        node.wait_height(node.height() + 1)
    return status
