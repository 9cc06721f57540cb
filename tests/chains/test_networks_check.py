"""Issue 15, item 2: `recover networks check KEY` lists every missing or invalid setting at once."""

from __future__ import annotations

from clihelp import run


def test_check_lists_every_missing_setting_in_one_pass():
    env = {"RECOVER_SEED": "", "RECOVER_KEYSTORE_DIR": "", "RECOVER_ETHEREUM_RPC_URL": "",
           "RECOVER_ETHEREUM_FEE_COLLECTOR": "", "RECOVER_ETHEREUM_HOT_WALLET": ""}
    r = run("networks", "check", "ethereum", "--json", env=env)
    assert r.code == 4, r.err
    assert r.error["code"] == "config_error" and "3 problems" in r.error["message"]  # the failure on stderr too
    problems = {p["setting"]: p for p in r.json["problems"]}
    assert set(problems) == {"rpc_urls[0]", "fee_collector", "hot_wallet"}  # no signer needed: not --signer
    r = run("networks", "check", "ethereum", "--signer", "--json", env=env)
    assert {p["setting"] for p in r.json["problems"]} == {*problems, "RECOVER_SEED"}
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


# -- issue 23, item 2: `networks check KEY --live` asks the node; the host's role decides what counts ----
STATION_PATH = "m/44'/60'/1'/0/0"  # chain_configs/anvil.toml gas_station_path


def _station() -> str:
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC

    return derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address


def test_a_read_only_host_needs_no_seed_but_a_signer_host_does():
    env = {"ANVIL_URL": "http://127.0.0.1:8545", "RECOVER_SEED": "", "RECOVER_KEYSTORE_DIR": ""}
    r = run("networks", "check", "anvil", "--json", env=env)
    assert r.code == 0, (r.out, r.err)
    assert r.json["ok"] is True and r.json["role"] == "read-only" and r.json["problems"] == []
    r = run("networks", "check", "anvil", "--signer", "--json", env=env)
    assert r.code == 4, (r.out, r.err)
    [problem] = r.json["problems"]
    assert problem["setting"] == "RECOVER_SEED" and "RECOVER_KEYSTORE_DIR" in problem["problem"]
    assert "sign" in problem["needed_by"] and r.json["role"] == "signer"
    text = run("networks", "check", "anvil", "--signer", env=env)
    assert text.code == 4 and "RECOVER_SEED" in text.out and "blocks" in text.out


def test_live_a_dead_rpc_url_is_a_problem_naming_the_redacted_url_and_what_it_blocks():
    from nodeproc import free_port

    url = f"http://desk:hunter2@127.0.0.1:{free_port()}/"
    r = run("networks", "check", "anvil", "--live", "--json", env={"ANVIL_URL": url})
    assert r.code == 8, (r.out, r.err)  # node unreachable: never "0 problems"
    assert r.json["ok"] is False and r.json["live"] is True
    assert r.error["code"] == "node_unreachable" and r.error["details"]["problems"] == r.json["problems"]
    [problem] = r.json["problems"]
    assert problem["setting"] == "rpc_urls" and problem["code"] == "node_unreachable"
    assert "***@127.0.0.1" in problem["problem"] and "hunter2" not in r.out + r.err
    assert {"verify", "prepare", "sign", "broadcast"} <= set(problem["needed_by"].split(", "))
    text = run("networks", "check", "anvil", "--live", env={"ANVIL_URL": url})
    assert text.code == 8 and "***@127.0.0.1" in text.out and "hunter2" not in text.out + text.err
    assert "1 problem" in text.out and "blocks" in text.out
    # without --live the node is not asked, and the output says so
    offline = run("networks", "check", "anvil", "--json", env={"ANVIL_URL": url})
    assert offline.code == 0 and offline.json["live"] is False


def test_live_a_node_of_another_chain_is_a_configuration_problem(evm):
    a, b = evm
    r = run("networks", "check", "anvil", "--live", "--json", env={"ANVIL_URL": b.url})
    assert r.code == 4, (r.out, r.err)
    [problem] = r.json["problems"]
    assert problem["setting"] == "chain_id" and problem["code"] == "wrong_chain"
    assert "31338" in problem["problem"] and "31337" in problem["problem"]
    assert "verify" in problem["needed_by"]


def test_live_a_funded_desk_passes_and_says_what_it_read(evm):
    a, _ = evm
    r = run("networks", "check", "anvil", "--live", "--json")
    assert r.code == 0, (r.out, r.err)
    node = r.json["node"]
    assert node["chain"] == "chain id 31337" and node["latest_block"] >= 0
    assert isinstance(node["block_age_s"], int)
    station = node["gas_station"]
    assert station["address"] == _station() and station["balance"] == str(100 * 10**18)
    assert int(station["needs"]) > 0 and station["decimals"] == 18
    assert node["hot_wallet"]["address"] == "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
    assert int(node["hot_wallet"]["balance"]) > 0
    assert node["fee_collector"] == "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"


def test_live_an_unfunded_gas_station_is_reported_with_the_amount_needed(evm):
    a, _ = evm
    a.set_balance(_station(), 1234)
    r = run("networks", "check", "anvil", "--live", "--json")
    assert r.code == 4, (r.out, r.err)
    [problem] = r.json["problems"]
    assert problem["setting"] == "gas_station" and problem["code"] == "gas_station_unfunded"
    needs = int(r.json["node"]["gas_station"]["needs"])
    assert needs > 1234 and _station() in problem["problem"]
    assert "0.000000000000001234 ETH" in problem["problem"]  # what it holds, in units
    assert problem["needed_by"].startswith("prepare")
    text = run("networks", "check", "anvil", "--live")
    assert text.code == 4 and "blocks" in text.out and "prepare" in text.out
    # a read-only host without the seed or RECOVER_GAS_STATION_ADDRESS cannot know the station: a note, no problem
    r = run("networks", "check", "anvil", "--live", "--json", env={"RECOVER_SEED": ""})
    assert r.code == 0, (r.out, r.err)
    assert r.json["node"]["gas_station"] is None
    assert any("RECOVER_GAS_STATION_ADDRESS" in n for n in r.json["notes"])
    # ... and with the address named, the balance is checked again
    r = run("networks", "check", "anvil", "--live", "--json",
            env={"RECOVER_SEED": "", "RECOVER_GAS_STATION_ADDRESS": _station()})
    assert r.code == 4 and r.json["problems"][0]["code"] == "gas_station_unfunded"
