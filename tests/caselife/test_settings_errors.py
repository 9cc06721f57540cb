"""Issue 23, item 3: a missing setting is exit 4 naming the setting (environment variable or TOML key),
never an internal name or a policy refusal; and an operation demands only the settings it uses (anvil,
through the installed CLI)."""

from __future__ import annotations

from clihelp import snapshot
from evmflow import cli, derive, register, world  # noqa: F401
from evm_devnet import deploy, fund_token, token_transfer
from paths import REPO


def _quoted_token_case(w, env=None):
    """An unlisted-token deposit of 2,500 UNL, opened, verified and quoted (a sweep that needs a gas top-up)."""
    register(w, [("anvil", derive(20), "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, derive(20), 2_500 * 10**6)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret, env=env)["id"]
    cli(w, "case", "verify", str(cid), env=env)
    cli(w, "prices", "set", f"anvil:{token.address}", "1", env=env)
    cli(w, "prices", "set", "ETH", "3000", env=env)
    return cid, cli(w, "case", "quote", str(cid), env=env)


def _anvil_config(w, **replace) -> dict:
    folder = w.tmp / "conf"
    folder.mkdir(exist_ok=True)
    text = (REPO / "chain_configs" / "anvil.toml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (folder / "anvil.toml").write_text(text)
    return {"RECOVER_CONFIG_DIR": str(folder)}


def test_prepare_without_the_gas_station_address_is_exit_4_naming_the_variables(world):
    w = world
    cid, quote = _quoted_token_case(w)
    before = snapshot(w.db)
    err = cli(w, "case", "prepare", str(cid), env={"RECOVER_SEED": "", "RECOVER_GAS_STATION_ADDRESS": ""}, expect=4)
    assert err["code"] == "gas_station_not_configured", err
    assert "RECOVER_GAS_STATION_ADDRESS" in err["message"] and "RECOVER_SEED" in err["message"]
    assert "SweepRequest" not in err["message"] and "gas_station_address" not in err["message"]
    assert snapshot(w.db) == before  # nothing changed
    # a malformed address in the variable is named too
    err = cli(w, "case", "prepare", str(cid), env={"RECOVER_SEED": "", "RECOVER_GAS_STATION_ADDRESS": "0x1234"},
              expect=4)
    assert "RECOVER_GAS_STATION_ADDRESS" in err["message"]
    assert snapshot(w.db) == before
    done = cli(w, "case", "prepare", str(cid))  # with the seed: prepared
    assert done["plan"]["steps"][0]["role"] == "gas_topup"


def test_prepare_on_a_network_without_gas_station_path_names_the_key(world):
    w = world
    env = _anvil_config(w, **{"gas_station_path = \"m/44'/60'/1'/0/0\"": ""})
    cid, _ = _quoted_token_case(w, env=env)
    before = snapshot(w.db)
    err = cli(w, "case", "prepare", str(cid), env=env, expect=4)
    assert err["code"] == "gas_station_not_configured" and "gas_station_path" in err["message"], err
    assert "anvil.toml" in err["message"]
    assert snapshot(w.db) == before


def test_verify_needs_no_fee_collector_or_hot_wallet_and_quote_names_the_one_it_needs(world):
    w = world
    env = _anvil_config(w, **{'fee_collector = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"':
                              'fee_collector = "${ANVIL_FEE_COLLECTOR}"',
                              'hot_wallet = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"':
                              'hot_wallet = "${ANVIL_HOT_WALLET}"'})
    env |= {"ANVIL_FEE_COLLECTOR": "", "ANVIL_HOT_WALLET": ""}
    register(w, [("anvil", derive(20), "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, derive(20), 2_500 * 10**6)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret, env=env)["id"]
    # a wallet that is set but wrong is refused wherever the network is used, verify included
    bad = {**env, "ANVIL_HOT_WALLET": "0xa0ee7a142d267c1f36714e4a8f75612f20a79720"}  # no EIP-55 checksum
    err = cli(w, "case", "verify", str(cid), env=bad, expect=4)
    assert "hot_wallet" in err["message"] and err["code"] == "config_error"
    assert cli(w, "case", "verify", str(cid), env=env)["status"] == "verified"  # unset: verify reads neither
    cli(w, "prices", "set", f"anvil:{token.address}", "1", env=env)
    cli(w, "prices", "set", "ETH", "3000", env=env)
    before = snapshot(w.db)
    err = cli(w, "case", "quote", str(cid), env=env, expect=4)
    assert err["code"] == "config_error" and "ANVIL_FEE_COLLECTOR" in err["message"]
    assert "fee_collector" in err["message"]
    assert "ANVIL_HOT_WALLET" not in err["message"]
    assert snapshot(w.db) == before
    # a return-address case never pays the hot wallet: quote and prepare go on without it
    env["ANVIL_FEE_COLLECTOR"] = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
    assert cli(w, "case", "quote", str(cid), env=env)["economical"] is True
    assert cli(w, "case", "prepare", str(cid), env=env)["plan"]["fee_collector"] == env["ANVIL_FEE_COLLECTOR"]
