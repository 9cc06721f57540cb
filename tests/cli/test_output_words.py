"""What people read says what is true (issue 23, item 5), through the installed `recover` on anvil:
an unpriced value is "unpriced", the queue says what approvals still need as `case show` does, tokens
are named by symbol (contract on demand), a credit's plan says the money goes to our hot wallet,
waiting is said as waiting, and the worker reports what each job did."""

from __future__ import annotations

import re

from clihelp import run
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import _override_config, approve, cli, derive, key, prepared_token_case, register, token_case, world  # noqa: F401

WIDE = {"COLUMNS": "300"}
CREDIT_NET = "net to our hot wallet, for the account credit"
RETURN_NET = "net to the user's return address"


def _unpriced_credit_case(w):
    """A 2,500 UNL deposit (no UNL price: top tier, three approvals incl. a senior) to be credited to
    account acct-7, opened, verified, quoted and prepared by alice."""
    deposit = derive(21)
    register(w, [("anvil", deposit, "m/44'/60'/0'/0/21", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, deposit, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    alice = key("alice")
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--credit-account", "acct-7", "--key", alice)["id"]
    cli(w, "case", "verify", str(cid), "--key", alice)
    cli(w, "prices", "set", "ETH", "3000")
    quote = run("case", "quote", str(cid), "--key", alice, db=w.db, env=WIDE)
    assert quote.code == 0, quote.err
    cli(w, "case", "prepare", str(cid), "--key", alice)
    return cid, token, quote.out


def test_queue_and_case_show_of_an_unpriced_credit_case(world):
    w = world
    cid, token, quote_text = _unpriced_credit_case(w)
    contract = token.address
    # the quote names the token by its symbol; its price key is said once, where a pricer needs it
    assert "deposit: 2500.000000 UNL" in quote_text and f"{CREDIT_NET}: " in quote_text, quote_text
    assert "net to user" not in quote_text and quote_text.count(f"anvil:{contract}") == 1, quote_text
    assert contract not in run("case", "quote", str(cid), "--key", key("alice"), db=w.db, env=WIDE).out.replace(
        f"anvil:{contract}", "")
    with_contract = run("case", "quote", str(cid), "--key", key("alice"), "--contracts", db=w.db, env=WIDE).out
    assert f"asset: UNL ({contract})" in with_contract
    cli(w, "case", "prepare", str(cid), "--key", key("alice"))

    queue = run("queue", "list", db=w.db, env=WIDE)
    assert queue.code == 0, queue.err
    row = next(line for line in queue.out.splitlines() if re.match(rf"│ {cid}\s", line))
    assert "None" not in queue.out and "unpriced" in row and "2375.0 UNL" in row, queue.out
    assert "0 of 3" in row and "3 more approvals, one with role senior" in row, row
    assert contract in run("queue", "list", "--contracts", db=w.db, env=WIDE).out
    doc = cli(w, "queue", "list")[0]
    assert (doc["symbol"], doc["asset"], doc["value_usd"]) == ("UNL", contract, None)
    assert doc["approvals"]["still_needed"] == ["3 more approvals, one with role senior"]

    shown = run("case", "show", str(cid), db=w.db, env=WIDE).out
    assert re.search(r"asset\s+UNL\s", shown) and "still needed: 3 more approvals, one with role senior" in shown
    assert f"sweep_net: {CREDIT_NET}: " in shown and "net to the user" not in shown, shown
    assert "credit account acct-7 (the net goes to our hot wallet)" in shown
    assert re.search(r"│ alice\s*│ case_opened\s*│ open\s*│", shown), shown  # not " -> open"
    assert re.search(rf"asset\s+UNL \({contract}\)", run("case", "show", str(cid), "--contracts", db=w.db,
                                                          env=WIDE).out)
    plan = cli(w, "case", "show", str(cid))["plan"]
    assert plan["plan"]["meta"]["destination_role"] == "hot_wallet"
    assert [m["what"] for s in plan["steps"] for m in s["moves"] if s["role"] == "sweep_net"] == [CREDIT_NET]

    # approvals so far are said the same way by queue approve, queue list and case show
    r = run("queue", "approve", str(cid), "--key", key("bob"), db=w.db)
    assert r.code == 0 and "still needed: 2 more approvals, one with role senior" in r.err, r.err
    approve(w, cid, "carol")
    row = next(line for line in run("queue", "list", db=w.db, env=WIDE).out.splitlines() if re.match(rf"│ {cid}\s", line))
    assert "2 of 3" in row and "1 more approval, one with role senior" in row, row
    assert "still needed: 1 more approval, one with role senior" in run("case", "show", str(cid), db=w.db, env=WIDE).out
    r = run("queue", "approve", str(cid), "--key", key("sam"), db=w.db)
    assert r.code == 0 and "status approved; ready to sign" in r.err, r.err
    assert "nothing: ready to sign" in run("queue", "list", db=w.db, env=WIDE).out


def test_a_return_case_plan_says_the_users_return_address(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    shown = run("case", "show", str(cid), db=w.db, env=WIDE).out
    assert f"sweep_net: {RETURN_NET}: " in shown and CREDIT_NET not in shown
    assert f"{RETURN_NET}: " in " ".join(quote["lines"])
    queue = run("queue", "list", db=w.db, env=WIDE).out
    assert re.search(r"\d[\d.]* UNL", queue) and "unpriced" not in queue and "None" not in queue, queue


def test_waiting_is_said_as_waiting_and_the_worker_says_what_it_did(world):
    w = world
    env = _override_config(w, confirmations=3)  # the top-up needs 3 confirmations before the sweep goes
    cid, token, deposit = token_case(w, env=env, confirm_blocks=2)
    approve(w, cid, "bob", "carol", env=env)
    cli(w, "case", "sign", str(cid), env=env)
    r = run("case", "broadcast", str(cid), db=w.db, env=env)
    assert r.code == 9, (r.code, r.err)
    assert r.err.startswith("waiting: ") and "error" not in r.err and "(1 of 3 confirmations)" in r.err, r.err
    assert cli(w, "case", "broadcast", str(cid), env=env, expect=9)["code"] == "prerequisite_unconfirmed"

    worker = ("worker", "--once", "--poll", "0.1")
    r = run(*worker, db=w.db, env=env)
    assert r.code == 0, r.err
    assert f"case {cid}: nothing to verify: the case is signed now" in r.err, r.err
    assert re.search(rf"case {cid}: waiting: transaction 0x[0-9a-f]+ is not confirmed yet \(1 of 3 confirmations\)"
                     r".*, again in 0.1 s", r.err), r.err
    assert "done\n" not in r.err
    w.a.mine(2)
    import time

    time.sleep(0.3)  # the broadcast job is due again
    r = run(*worker, db=w.db, env=env)
    assert r.code == 0, r.err
    assert f"case {cid}: broadcast 2 transactions (1 transaction sent before, sent again)" in r.err, r.err
    assert re.search(rf"case {cid}: still 1 of 3 confirmations, again in 0.1 s", r.err), r.err
    doc = cli(w, "worker", "--once", "--poll", "0.1", env=env)  # nothing due yet, or the same track again
    assert all(set(x) == {"case", "job", "did", "again_in", "error"} for x in doc["results"])
    w.a.mine(3)
    time.sleep(0.3)
    r = run(*worker, db=w.db, env=env)
    assert r.code == 0 and f"case {cid}: completed" in r.err, r.err


def test_an_unlisted_token_named_like_the_coin_is_flagged_and_shown_with_its_contract(world):
    """An unlisted token can call itself "ETH" (or a listed token's symbol): named by symbol alone it
    reads like the real thing in the queue, so verification flags the case (``symbol_lookalike``) and
    every read shows its contract next to the symbol, without --contracts."""
    w = world
    deposit = derive(22)
    register(w, [("anvil", deposit, "m/44'/60'/0'/0/22", "active")])
    token = deploy(w.a.w3, "StandardToken", "Ether", "eth", 6)  # the network's native symbol, in lower case
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, deposit, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret)["id"]
    cli(w, "case", "verify", str(cid))
    assert "symbol_lookalike" in cli(w, "case", "show", str(cid))["flags"]
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    shown = run("case", "show", str(cid), db=w.db, env=WIDE)
    assert shown.code == 0 and "symbol_lookalike" in shown.out
    assert f"eth ({token.address})" in shown.out  # the contract next to the symbol, unasked
    queue = run("queue", "list", db=w.db, env=WIDE)
    assert queue.code == 0 and token.address in queue.out
    row = next(r for r in cli(w, "queue", "list") if r["id"] == cid)
    assert "symbol_lookalike" in row["flags"] and row["asset"].lower() == token.address.lower()


def test_the_look_alike_rule_spares_listed_tokens_and_other_names():
    from types import SimpleNamespace

    from chains.base import NATIVE
    from recover.casework.classify import symbol_lookalike

    usdt = SimpleNamespace(symbol="USDT", address="0xdAC17F958D2ee523a2206206994597C13D831ec7")
    net = SimpleNamespace(native_symbol="ETH", listed_tokens=(usdt,),
                          listed_token=lambda a: usdt if a.lower() == usdt.address.lower() else None)
    assert symbol_lookalike(net, "0x" + "11" * 20, " usdt ") and symbol_lookalike(net, "0x" + "11" * 20, "Eth")
    assert not symbol_lookalike(net, usdt.address, "USDT")  # the listed token itself
    assert not symbol_lookalike(net, "0x" + "11" * 20, "UNL") and not symbol_lookalike(net, NATIVE, "ETH")
    assert not symbol_lookalike(net, "0x" + "11" * 20, None)
