"""What a recovery specialist reads (issue 15): help, messages, tables and `case show`, through the
installed `recover`, on anvil where a case is needed."""

from __future__ import annotations

import os
import re

from clihelp import run, snapshot
from evm_devnet import send_eth
from evmflow import _override_config, cli, derive, key, prepared_token_case, register, world  # noqa: F401 (fixture)
from recover.life.condition_names import SIGNED_OFF


def test_help_shows_flags_as_flags_and_one_pair_of_brackets():
    text = run("case", "verify", "--help").out
    assert "--all" in text and "--json" in text
    assert "<bool>" not in text, text
    assert "[[" not in text and "]]" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "[ID]" in usage
    assert "<str>" in run("case", "open", "--help").out  # options that take a value still show their type


def test_signoff_lists_its_conditions():
    text = " ".join(run("case", "signoff", "--help", env={"COLUMNS": "300"}).out.split())
    for name in SIGNED_OFF:
        assert name in text


def test_version():
    r = run("--version")
    assert r.code == 0 and re.fullmatch(r"recover \d+\.\d+\.\d+\S*\n", r.out)


def test_messages_are_not_wrapped_and_tables_honour_columns(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "cases.db"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    r = run("case", "list", db=f"sqlite:///{deep}", env=env)
    assert r.code == 3
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert len(lines) == 1 and str(deep) in lines[0] and len(lines[0]) > 120
    assert not deep.parent.exists()  # a read-only command creates no database (nor its folder)
    narrow = run("networks", env={"COLUMNS": "70"}).out.splitlines()
    wide = run("networks", env={"COLUMNS": "250"}).out.splitlines()
    assert narrow and max(len(x) for x in narrow) <= 70
    assert max(len(x) for x in wide) > 70


def test_plurals(world):
    w = world
    assert "1 network\n" not in run("networks").out and re.search(r"\b\d+ networks\b", run("networks").out)
    assert re.search(r"\b0 cases\b", run("case", "list", db=w.db).out)
    receipt = send_eth(w.a.w3, w.user, w.deposit, 10**18)
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    cli(w, "case", "open", "--network", "anvil", "--tx", receipt["transactionHash"].to_0x_hex(),
        "--return-address", w.ret)
    listing = run("case", "list", db=w.db).out
    assert "1 case\n" in listing or re.search(r"\b1 case\b(?!s)", listing), listing
    assert "(s)" not in run("queue", "list", db=w.db).out + run("policy", "show", db=w.db).out


def test_case_show_of_a_native_deposit_on_a_conditional_network_unpriced(world):
    """Units with the symbol next to base units, no -1 index, the deposit address filled in from the
    facts, the conditions with the exact message to sign, and an unpriced quote said in words."""
    w = world
    env = _override_config(w, conditions=["ownership_proof"])
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    receipt = send_eth(w.a.w3, w.user, w.deposit, 10**18)
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", receipt["transactionHash"].to_0x_hex(),
              "--return-address", w.ret, env=env)["id"]
    before = run("case", "show", str(cid), db=w.db, env={**env, "COLUMNS": "250"}).out
    assert "(not verified yet)" in before
    cli(w, "case", "verify", str(cid), env=env)
    quote = cli(w, "case", "quote", str(cid), env=env)  # no ETH price: the fee is taken in kind
    assert quote["value_usd"] is None
    shown = run("case", "show", str(cid), db=w.db, env={**env, "COLUMNS": "250"})
    assert shown.code == 0, shown.err
    text = shown.out
    doc = cli(w, "case", "show", str(cid), env=env)
    assert "1.0 ETH (1000000000000000000)" in text
    assert "tx value" in text and not re.search(r"(^|\s)-1(\s|$)", text)
    assert re.search(rf"deposit address\s+{w.deposit}", text)  # not "(any)": the facts name it
    assert "None" not in text
    assert "not priced" in text and "top tier" in text
    gross = int(quote["gross"])
    assert f"{quote['fee']}" in text and gross == 10**18
    message = doc["conditions"]["ownership_message"]
    assert message and message in text  # the exact message, on one line
    assert "ownership_proof: required, not met yet" in text
    before = snapshot(w.db)
    err = cli(w, "case", "signoff", str(cid), "--condition", "bogus", "--reason", "x", expect=4, env=env)
    assert err["code"] == "invalid_condition" and all(name in err["message"] for name in SIGNED_OFF)
    assert snapshot(w.db) == before
    q = run("case", "quote", str(cid), db=w.db, env={**env, "COLUMNS": "250"})
    assert q.code == 0 and "not priced" in q.out and "value USD None" not in q.out and "ETH" in q.out


def test_case_show_lists_the_broadcast_transactions_and_sign_says_unapproved_first(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    env_no_seed = {"RECOVER_SEED": ""}  # no signer configured at all: the refusal must come first
    err = cli(w, "case", "sign", str(cid), expect=7, env=env_no_seed)
    assert err["code"] == "approvals_missing", err
    assert "seed" not in err["message"].lower() and "RECOVER_SEED" not in err["message"]
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    cli(w, "queue", "approve", str(cid), "--key", key("carol"))
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    txids = [t["txid"] for t in cli(w, "case", "show", str(cid))["transactions"]]
    assert len(txids) == 3
    text = run("case", "show", str(cid), db=w.db, env={"COLUMNS": "250"}).out
    assert "transactions" in text and all(t in text for t in txids)
    assert "2500.0 UNL (2500000000)" in text


def test_verify_all_shows_each_case(world):
    w = world
    register(w, [("anvil", w.deposit, "m/44'/60'/0'/0/20", "retired")])
    good = send_eth(w.a.w3, w.user, w.deposit, 10**18)
    stranger = send_eth(w.a.w3, w.user, derive(41), 10**18)  # not one of our addresses
    ids = [cli(w, "case", "open", "--network", "anvil", "--tx", r["transactionHash"].to_0x_hex(),
               "--return-address", w.ret)["id"] for r in (good, stranger)]
    r = run("case", "verify", "--all", db=w.db, env={"COLUMNS": "250"})
    assert r.code == 0, r.err
    assert "2 cases" in r.out and "1 verified" in r.out
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^│\s*(\d+)\s*│\s*(\w+)", r.out, re.M)}
    assert rows == {ids[0]: "verified", ids[1]: "retry"}, r.out  # not ours yet: stays open
