"""A wrong network file is refused with its file and key named; overrides replace bundled files."""

from __future__ import annotations

import pytest

from chains.config import load_network_file, load_networks
from chains.errors import NetworkConfigError

GOOD = """
key = "devx"
name = "Dev X"
family = "evm"
chain_id = 999001
recovery_class = "direct"
rpc_urls = ["${DEVX_URL}"]
confirmations = 2
native_symbol = "ETH"
native_decimals = 18
fee_collector = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
hot_wallet = "${DEVX_HOT}"
gas_station_path = "m/44'/60'/1'/0/0"
"""


def write(tmp_path, text, name="devx.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_file_loads_and_resolves(tmp_path):
    net = load_network_file(write(tmp_path, GOOD))
    assert net.key == "devx" and net.placeholders() == {"DEVX_URL", "DEVX_HOT"}
    res = net.resolved({"DEVX_URL": "http://127.0.0.1:1", "DEVX_HOT": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"})
    assert res.rpc_urls == ("http://127.0.0.1:1",)
    assert res.hot_wallet == "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, GOOD + 'colour = "blue"\n')
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert str(p) in str(info.value) and "colour" in str(info.value)


def test_unknown_key_in_nested_table(tmp_path):
    p = write(tmp_path, GOOD + '[[listed_tokens]]\nsymbol = "USDC"\naddress = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"\n'
                               'decimals = 6\nwebsite = "x"\n')
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert "listed_tokens.0.website" in str(info.value)


def test_wrong_family(tmp_path):
    p = write(tmp_path, GOOD.replace('family = "evm"', 'family = "cosmos"'))
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert str(p) in str(info.value) and "family" in str(info.value)


def test_chain_id_on_utxo_network_is_refused(tmp_path):
    p = write(tmp_path, GOOD.replace('family = "evm"', 'family = "utxo"') + '[utxo]\naddress_network = "bitcoin"\n')
    with pytest.raises(NetworkConfigError, match="chain_id"):
        load_network_file(p)


def test_unset_variable_is_an_error_only_when_used(tmp_path):
    net = load_network_file(write(tmp_path, GOOD))  # loading is fine
    with pytest.raises(NetworkConfigError) as info:
        net.resolved({"DEVX_URL": "http://127.0.0.1:1"})
    msg = str(info.value)
    assert str(tmp_path / "devx.toml") in msg and "hot_wallet" in msg and "DEVX_HOT" in msg


def test_float_is_a_config_error(tmp_path):
    p = write(tmp_path, GOOD + "[fee]\npercent = 5.0\n")
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert "fee.percent" in str(info.value) and "float" in str(info.value)


def test_bad_fee_policy_key_is_refused(tmp_path):
    from fees.errors import InvalidFeePolicy

    p = write(tmp_path, GOOD + '[fee]\npercentage = "5"\n')
    with pytest.raises(InvalidFeePolicy) as info:
        load_network_file(p)
    assert "percentage" in str(info.value) and str(p) in str(info.value)


def test_conditional_needs_conditions_and_reason(tmp_path):
    p = write(tmp_path, GOOD.replace('"direct"', '"conditional"'))
    with pytest.raises(NetworkConfigError, match="conditions"):
        load_network_file(p)
    p = write(tmp_path, GOOD.replace('"direct"', '"conditional"') + 'conditions = ["manual_review"]\n')
    with pytest.raises(NetworkConfigError, match="reason"):
        load_network_file(p)
    p = write(tmp_path, GOOD.replace('"direct"', '"conditional"') + 'conditions = ["telepathy"]\nreason = "x"\n')
    with pytest.raises(NetworkConfigError, match="telepathy"):
        load_network_file(p)


def test_bad_checksum_wallet_refused_on_resolve(tmp_path):
    net = load_network_file(write(tmp_path, GOOD))
    with pytest.raises(NetworkConfigError) as info:
        net.resolved({"DEVX_URL": "http://x", "DEVX_HOT": "0xfb6916095ca1df60bB79Ce92cE3Ea74c37c5d359"})
    assert "hot_wallet" in str(info.value)


def test_override_dir_replaces_bundled_and_adds(tmp_path, monkeypatch):
    bundled = load_networks()
    assert "ethereum" in bundled and "devx" not in bundled
    write(tmp_path, GOOD)
    eth = (GOOD.replace('key = "devx"', 'key = "ethereum"').replace("Dev X", "My Ethereum")
           .replace("999001", "1"))
    write(tmp_path, eth, "my-eth.toml")
    monkeypatch.setenv("RECOVER_CONFIG_DIR", str(tmp_path))
    nets = load_networks()
    assert nets["devx"].name == "Dev X"
    assert nets["ethereum"].name == "My Ethereum" and nets["ethereum"].confirmations == 2
    assert len(nets) == len(bundled) + 1


def test_same_key_twice_in_override_dir(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(NetworkConfigError, match="already defined"):
        load_networks(tmp_path)


def test_unknown_key_via_cli(tmp_path):
    from clihelp import run

    write(tmp_path, GOOD + "bogus = 1\n")
    r = run("networks", "--json", env={"RECOVER_CONFIG_DIR": str(tmp_path)})
    assert r.code == 4 and "bogus" in r.error["message"] and "devx.toml" in r.error["message"]


def test_evm_checksum_rules():
    from chains.errors import InvalidAddress
    from chains.evm.addresses import validate_address as validate_evm_address

    # The correct EIP-55 form of this address happens to be all lowercase: it must be accepted.
    assert validate_evm_address("0x4d56ac9b6682029618a0429426b419c830576d96")
    with pytest.raises(InvalidAddress, match="no EIP-55 checksum"):
        validate_evm_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    with pytest.raises(InvalidAddress, match="fails its EIP-55 checksum"):
        validate_evm_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")


def test_fork_chains_refuse_segwit_addresses():
    from chains.errors import InvalidAddress
    from recover.networks.registry import get_network

    bch = get_network("bitcoin-cash")
    assert bch.validate_address("1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
    with pytest.raises(InvalidAddress, match="segwit"):
        bch.validate_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    assert get_network("bitcoin").validate_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")


@pytest.mark.parametrize("old,new,key", [
    ("confirmations = 2", 'confirmations = "2"', "confirmations"),
    ("chain_id = 999001", 'chain_id = "999001"', "chain_id"),
    ("native_decimals = 18", "native_decimals = true", "native_decimals"),
    ('name = "Dev X"', "name = 7", "name"),
])
def test_a_value_of_the_wrong_type_is_refused_not_coerced(tmp_path, old, new, key):
    p = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert str(p) in str(info.value) and f"key '{key}'" in str(info.value)
    assert info.value.exit_code == 4


@pytest.mark.parametrize("value,why", [
    ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "checksum"),
    ("0x0000000000000000000000000000000000000000", "zero address"),
])
def test_a_lowercase_or_zero_fee_collector_is_refused_naming_file_and_key(tmp_path, value, why):
    p = write(tmp_path, GOOD.replace("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", value))
    net = load_network_file(p)
    with pytest.raises(NetworkConfigError) as info:
        net.resolved({"DEVX_URL": "http://127.0.0.1:1", "DEVX_HOT": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"})
    assert str(p) in str(info.value) and "fee_collector" in str(info.value) and why in str(info.value)


def test_a_policy_tier_with_approvers_true_is_refused(tmp_path, sqlite_db_url):
    from clihelp import run, snapshot
    from recover.authority.policy import parse_policy
    from recover.errors import ConfigError

    policy = tmp_path / "approvals.toml"
    policy.write_text("[[tiers]]\napprovers = true\n")
    with pytest.raises(ConfigError) as info:
        parse_policy(policy.read_text(), str(policy))
    assert str(policy) in str(info.value) and "approvers" in str(info.value) and info.value.exit_code == 4
    # through the CLI: refused before any admin signs, nothing stored, the bundled policy still in force
    before = snapshot(sqlite_db_url)
    r = run("policy", "set", str(policy), "--json", db=sqlite_db_url)
    assert r.code == 4 and str(policy) in r.error["message"] and "approvers" in r.error["message"]
    assert snapshot(sqlite_db_url) == before
    assert run("policy", "show", "--json", db=sqlite_db_url).json["source"] == "chain_configs/policies/approvals.toml"


@pytest.mark.parametrize("line,key", [
    ('deposit_path_prefix = "44/60/0"', "deposit_path_prefix"),
    ("deposit_path_prefix = []", "deposit_path_prefix"),
    ('deposit_path_prefix = ["m/84\'/1\'/0\'/0", "m/x"]', "deposit_path_prefix"),
    ("deposit_path_prefix = 7", "deposit_path_prefix"),
])
def test_a_deposit_path_prefix_that_is_no_hd_path_is_refused(tmp_path, line, key):
    p = write(tmp_path, GOOD + line + "\n")
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert str(p) in str(info.value) and key in str(info.value) and info.value.exit_code == 4


def test_a_gas_station_path_that_is_no_hd_path_is_refused(tmp_path):
    p = write(tmp_path, GOOD.replace('gas_station_path = "m/44\'/60\'/1\'/0/0"', 'gas_station_path = "station"'))
    with pytest.raises(NetworkConfigError) as info:
        load_network_file(p)
    assert str(p) in str(info.value) and "gas_station_path" in str(info.value)


def test_deposit_paths_lie_strictly_below_a_prefix_and_never_at_the_gas_station(tmp_path):
    net = load_network_file(write(tmp_path, GOOD + 'deposit_path_prefix = ["m/44\'/60\'/0\'/0", "m/44\'/60\'/1\'"]\n'))
    assert net.deposit_prefixes == ("m/44'/60'/0'/0", "m/44'/60'/1'")
    assert net.deposit_path_allowed("m/44'/60'/0'/0/7") and net.deposit_path_allowed("m/44'/60'/1'/2/3")
    for path in ("m/44'/60'/0'/0", "m/44'/60'/0'/00/7", "m/44'/60'/0'/1/7", "m/44'/60'/1'/0/0", "m/44'/60'/0'/0/x",
                 "", "m/44'/60'/0'/0/"):
        assert not net.deposit_path_allowed(path), path
    assert load_network_file(write(tmp_path, GOOD, "plain.toml")).deposit_prefixes == ()
