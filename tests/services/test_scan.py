"""Issue 13, item 3: `recover scan` finds stranded deposits on anvil and opens each once."""

from __future__ import annotations

from clihelp import run
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import _override_config, cli, derive, register, world_both  # noqa: F401


def test_scan_opens_one_case_per_stranded_deposit_and_resumes(world_both):
    w = world_both
    active, retired, stranger = derive(20), derive(21), derive(40)
    unlisted = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    listed = deploy(w.a.w3, "StandardToken", "Listed", "LST", 6)
    env = _override_config(w, listed=listed.address)
    csv = w.tmp / "addresses.csv"
    csv.write_text("network,address,derivation_path,account,status\n"
                   f"anvil,{active},m/44'/60'/0'/0/20,acct-active,active\n"
                   f"anvil,{retired},m/44'/60'/0'/0/21,acct-retired,retired\n")
    assert run("addresses", "import", str(csv), db=w.db, env=env).code == 0
    start = w.a.w3.eth.block_number + 1
    for token in (unlisted, listed):
        fund_token(w.a.w3, token, w.user, 10**12)
    planted = {
        token_transfer(w.a.w3, unlisted, w.user, active, 10**6)["transactionHash"].to_0x_hex(): "acct-active",
        token_transfer(w.a.w3, unlisted, w.user, retired, 2 * 10**6)["transactionHash"].to_0x_hex(): "acct-retired",
        token_transfer(w.a.w3, listed, w.user, retired, 3 * 10**6)["transactionHash"].to_0x_hex(): "acct-retired",
        w.a.w3.eth.send_transaction({"from": w.user, "to": retired, "value": 10**17}).to_0x_hex(): "acct-retired",
    }
    token_transfer(w.a.w3, unlisted, w.user, stranger, 10**6)  # not ours
    token_transfer(w.a.w3, listed, w.user, active, 10**6)  # a listed token to an active address: a normal deposit
    w.a.w3.eth.send_transaction({"from": w.user, "to": active, "value": 10**17})  # native to active: normal
    first = cli(w, "scan", "--network", "anvil", "--from-block", str(start), env=env)
    assert first["found"] == 4 and len(first["opened"]) == 4 and first["already_cases"] == 0, first
    cases = {c["txid"]: c for c in cli(w, "case", "list", env=env)}
    assert {t: c["destination"]["credit_account"] for t, c in cases.items()} == planted
    assert all(c["status"] == "open" for c in cases.values())
    # an overlapping scan finds the same deposits and opens nothing
    again = cli(w, "scan", "--network", "anvil", "--from-block", str(start - 1), env=env)
    assert again["found"] == 4 and again["opened"] == [] and again["already_cases"] == 4
    # resume after the last block scanned: only what is new
    late = token_transfer(w.a.w3, unlisted, w.user, active, 5 * 10**6)["transactionHash"].to_0x_hex()
    resumed = cli(w, "scan", "--network", "anvil", env=env)
    assert resumed["from_block"] == again["to_block"] + 1 and len(resumed["opened"]) == 1
    assert cli(w, "case", "show", str(resumed["opened"][0]), env=env)["txid"] == late
    nothing = cli(w, "scan", "--network", "anvil", env=env, expect=4)
    assert nothing["code"] == "empty_range"
    # the cases are real: they verify on chain
    summary = cli(w, "case", "verify", "--all", env=env)
    assert summary["verified"] == 5, summary


def test_scan_needs_a_start_and_a_specialist(world_both):
    w = world_both
    assert cli(w, "scan", "--network", "anvil", expect=4)["code"] == "no_scan_state"
    from team import team

    r = run("scan", "--network", "anvil", "--from-block", "0", "--json", "--key", team().key("bob"), db=w.db)
    assert r.code == 7 and r.error["code"] == "role_missing"
    # every shipped family can scan now (UTXO and Solana by holdings: tests/services/test_scan_utxo.py, test_scan_solana.py)
