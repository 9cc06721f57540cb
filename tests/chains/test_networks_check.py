"""Issue 15, item 2: `recover networks check KEY` lists every missing or invalid setting at once."""

from __future__ import annotations

from clihelp import run


def test_check_lists_every_missing_setting_in_one_pass():
    env = {"RECOVER_SEED": "", "RECOVER_KEYSTORE_DIR": "", "RECOVER_ETHEREUM_RPC_URL": "",
           "RECOVER_ETHEREUM_FEE_COLLECTOR": "", "RECOVER_ETHEREUM_HOT_WALLET": ""}
    r = run("networks", "check", "ethereum", "--json", env=env)
    assert r.code == 4, r.err
    problems = {p["setting"]: p for p in r.json["problems"]}
    assert set(problems) == {"rpc_urls[0]", "fee_collector", "hot_wallet", "RECOVER_SEED"}
    assert "${RECOVER_ETHEREUM_RPC_URL}" in problems["rpc_urls[0]"]["problem"]
    assert "verify" in problems["rpc_urls[0]"]["needed_by"] and "sign" in problems["fee_collector"]["needed_by"]


def test_an_invalid_wallet_names_the_variable_it_came_from_and_a_good_config_passes():
    good = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
    env = {"RECOVER_ETHEREUM_RPC_URL": "https://rpc.example", "RECOVER_ETHEREUM_FEE_COLLECTOR": good.lower(),
           "RECOVER_ETHEREUM_HOT_WALLET": "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
           "RECOVER_SEED": "test test test test test test test test test test test junk"}
    r = run("networks", "check", "ethereum", "--json", env=env)
    assert r.code == 4
    [problem] = r.json["problems"]
    assert problem["setting"] == "fee_collector" and "${RECOVER_ETHEREUM_FEE_COLLECTOR}" in problem["problem"]
    r = run("networks", "check", "ethereum", "--json", env={**env, "RECOVER_ETHEREUM_FEE_COLLECTOR": good})
    assert r.code == 0 and r.json["ok"] is True and r.json["problems"] == []
    assert run("networks", "check", "nowhere", "--json").code == 4
    listed = run("networks", "--class", "direct", "--json")  # the list is still the group's default
    assert listed.code == 0 and all(n["recovery_class"] == "direct" for n in listed.json)
