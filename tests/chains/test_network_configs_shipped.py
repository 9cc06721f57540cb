"""The network files shipped in ``chain_configs/``: they load, they are real, and they resolve.

These tests read the bundled files through ``chains.config.load_networks()`` (the installed package
``chains.configs``), never a ``RECOVER_CONFIG_DIR`` override, and need no node.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from chains.config import CONDITIONS, NetworkConfig, load_networks
from chains.errors import NetworkConfigError

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
EVM_ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 specification example

# UTXO address networks that bitcoinlib does not ship; the UTXO adapter is to define them.  Until it
# does, resolving the networks that use them is skipped (not failed), and only for these names: any
# other unknown name is a typo and fails.

# Facts checked against the public chain registries, so a typo in a file cannot pass.
EXPECTED_EVM = {
    # key: (chain_id, native_symbol)
    "ethereum": (1, "ETH"),
    "bsc": (56, "BNB"),
    "polygon": (137, "POL"),
    "arbitrum": (42161, "ETH"),
    "optimism": (10, "ETH"),
    "base": (8453, "ETH"),
    "avalanche": (43114, "AVAX"),
    "linea": (59144, "ETH"),
    "scroll": (534352, "ETH"),
    "gnosis": (100, "XDAI"),
    "opbnb": (204, "BNB"),
    "mantle": (5000, "MNT"),
    "ethereum-classic": (61, "ETC"),
    "fantom": (250, "FTM"),
    "cronos": (25, "CRO"),
    "celo": (42220, "CELO"),
    "kaia": (8217, "KAIA"),
    "moonbeam": (1284, "GLMR"),
    "moonriver": (1285, "MOVR"),
    "metis": (1088, "METIS"),
    "zksync-era": (324, "ETH"),
    "blast": (81457, "ETH"),
    "polygon-zkevm": (1101, "ETH"),
    "harmony": (1666600000, "ONE"),
    "sonic": (146, "S"),
    "core": (1116, "CORE"),
    "aurora": (1313161554, "ETH"),
    "anvil": (31337, "ETH"),
    "anvil-b": (31338, "ETH"),
    "anvil-legacy": (31339, "ETH"),
}
EXPECTED_NON_EVM = {
    # key: (family, native_symbol, native_decimals, address_network or None, gas_station_path)
    "bitcoin": ("utxo", "BTC", 8, "bitcoin", "m/84'/0'/1'/0/0"),
    "litecoin": ("utxo", "LTC", 8, "litecoin", "m/84'/2'/1'/0/0"),
    "dogecoin": ("utxo", "DOGE", 8, "dogecoin", "m/44'/3'/1'/0/0"),
    "dash": ("utxo", "DASH", 8, "dash", "m/44'/5'/1'/0/0"),
    "bitcoin-cash": ("utxo", "BCH", 8, "bitcoin", "m/44'/145'/1'/0/0"),
    "bitcoin-sv": ("utxo", "BSV", 8, "bitcoin", "m/44'/236'/1'/0/0"),
    "solana": ("solana", "SOL", 9, None, "m/44'/501'/1'/0'"),
    "ltc-regtest": ("utxo", "LTC", 8, "litecoin_regtest", None),
    "bsv-regtest": ("utxo", "BSV", 8, "testnet", None),
    "solana-litesvm": ("solana", "SOL", 9, None, "m/44'/501'/1'/0'"),
    # Cosmos: shared-memo networks refund from the shared hot wallet: no gas station
    "cosmoshub": ("cosmos", "ATOM", 6, None, None),
    "injective": ("cosmos", "INJ", 18, None, None),
    "osmosis": ("cosmos", "OSMO", 6, None, None),
    "inj-devnet": ("cosmos", "INJ", 18, None, None),
    # Stellar: refunds from the shared wallet, which pays its own fee: no gas station
    "stellar": ("stellar", "XLM", 7, None, None),
    "stellar-replay": ("stellar", "XLM", 7, None, None),
    # XRPL: shared-memo networks refund from the shared wallet: no gas station
    "xrpl": ("xrpl", "XRP", 6, None, None),
    "xrpl-replay": ("xrpl", "XRP", 6, None, None),
}
EXPECTED_XRPL = {
    # key: (key_type, network_id, deposit_path_prefix): coin type 144 (SLIP-44); mainnet needs no NetworkID
    "xrpl": ("secp256k1", None, "m/44'/144'/0'/0"),
    "xrpl-replay": ("secp256k1", None, "m/44'/144'/0'/0"),
}
EXPECTED_COSMOS = {
    # key: (chain_id, bech32_prefix, key_type, native_denom, deposit_path_prefix), from the chain registry
    "cosmoshub": ("cosmoshub-4", "cosmos", "secp256k1", "uatom", "m/44'/118'/0'/0"),
    "injective": ("injective-1", "inj", "eth_secp256k1", "inj", "m/44'/60'/0'/0"),
    "osmosis": ("osmosis-1", "osmo", "secp256k1", "uosmo", "m/44'/118'/0'/0"),
    "inj-devnet": ("recover-devnet-1", "inj", "eth_secp256k1", "inj", "m/44'/60'/0'/0"),
}
REQUIRED_DIRECT = {
    "ethereum", "bsc", "polygon", "arbitrum", "optimism", "base", "avalanche", "linea", "scroll",
    "gnosis", "opbnb", "mantle", "bitcoin", "litecoin", "dogecoin", "solana",
}
REQUIRED_CONDITIONAL = {
    "ethereum-classic", "bitcoin-cash", "bitcoin-sv", "dash", "fantom", "cronos", "celo", "kaia",
    "moonbeam", "metis", "zksync-era", "blast", "polygon-zkevm", "harmony", "sonic", "core",
}
DEVNETS = {"anvil", "anvil-b", "anvil-legacy", "ethtester", "ltc-regtest", "bsv-regtest", "solana-litesvm",
           "inj-devnet", "stellar-replay", "xrpl-replay"}


def _bundled() -> dict[str, NetworkConfig]:
    # config_dir="" means "no override folder", whatever RECOVER_CONFIG_DIR says.
    return load_networks(config_dir="")


NETWORKS = _bundled()
KEYS = sorted(NETWORKS)
REAL = {k: n for k, n in NETWORKS.items() if not n.devnet}


def _env_name(key: str, what: str) -> str:
    return "RECOVER_" + key.upper().replace("-", "_") + "_" + what


# -- the files ---------------------------------------------------------------------------------

def test_every_bundled_file_is_a_loaded_network():
    files = sorted(e.name for e in resources.files("chains.configs").iterdir() if e.name.endswith(".toml"))
    assert len(files) == len(NETWORKS), "two files define the same key, or a file failed to load"
    assert sorted(f"{k}.toml" for k in NETWORKS) == files, "each file is named after its key"
    for key, net in NETWORKS.items():
        assert net.source == f"chain_configs/{key}.toml"


def test_required_networks_ship_with_their_class():
    for key in REQUIRED_DIRECT:
        assert key in REAL, f"missing direct network {key}"
        assert REAL[key].recovery_class == "direct", key
    for key in REQUIRED_CONDITIONAL:
        assert key in REAL, f"missing conditional network {key}"
        assert REAL[key].recovery_class == "conditional", key
    assert DEVNETS <= {k for k, n in NETWORKS.items() if n.devnet}


def test_at_least_sixteen_direct_and_sixteen_conditional_real_networks():
    direct = [k for k, n in REAL.items() if n.recovery_class == "direct"]
    conditional = [k for k, n in REAL.items() if n.recovery_class == "conditional"]
    assert len(direct) >= 16, direct
    assert len(conditional) >= 16, conditional


def test_devnets_are_marked_and_only_devnets_are():
    for key in DEVNETS:
        assert NETWORKS[key].devnet, key
        assert NETWORKS[key].confirmations == 1, key
    assert not any(n.devnet for k, n in NETWORKS.items() if k not in DEVNETS)


# -- chain parameters --------------------------------------------------------------------------

def test_evm_chain_ids_are_unique():
    seen: dict[int, str] = {}
    for key, net in NETWORKS.items():
        if net.family != "evm":
            continue
        assert net.chain_id not in seen, f"{key} and {seen.get(net.chain_id)} share chain id {net.chain_id}"
        seen[net.chain_id] = key


@pytest.mark.parametrize("key", sorted(EXPECTED_EVM))
def test_evm_chain_id_and_native_asset(key):
    net = NETWORKS[key]
    chain_id, symbol = EXPECTED_EVM[key]
    assert net.family == "evm"
    assert net.chain_id == chain_id
    assert net.native_symbol == symbol
    assert net.native_decimals == 18
    assert net.gas_station_path == "m/44'/60'/1'/0/0"


def test_every_evm_network_has_its_facts_checked():
    evm = {k for k, n in NETWORKS.items() if n.family == "evm"} - {"ethtester"}
    assert evm <= set(EXPECTED_EVM), f"add {sorted(evm - set(EXPECTED_EVM))} to EXPECTED_EVM"


@pytest.mark.parametrize("key", sorted(EXPECTED_NON_EVM))
def test_non_evm_parameters(key):
    family, symbol, decimals, address_network, path = EXPECTED_NON_EVM[key]
    net = NETWORKS[key]
    assert (net.family, net.native_symbol, net.native_decimals) == (family, symbol, decimals)
    assert net.chain_id is None
    if path is not None:
        assert net.gas_station_path == path
    if family == "utxo":
        assert net.utxo.address_network == address_network
        assert net.utxo.fee_rate_floor <= net.utxo.fee_rate_ceiling
        assert net.utxo.fork_id is (key in {"bitcoin-cash", "bitcoin-sv", "bsv-regtest"})


def test_every_non_evm_network_has_its_facts_checked():
    others = {k for k, n in NETWORKS.items() if n.family != "evm"}
    assert others <= set(EXPECTED_NON_EVM), f"add {sorted(others - set(EXPECTED_NON_EVM))} to EXPECTED_NON_EVM"


@pytest.mark.parametrize("key", sorted(EXPECTED_COSMOS))
def test_cosmos_parameters(key):
    chain_id, prefix, key_type, denom, path = EXPECTED_COSMOS[key]
    net = NETWORKS[key]
    assert (net.cosmos.chain_id, net.cosmos.bech32_prefix, net.cosmos.key_type, net.cosmos.native_denom) == \
        (chain_id, prefix, key_type, denom)
    assert net.deposit_prefixes == (path,)
    assert net.deposit_model == "shared_memo" and net.memo_pattern == "^[0-9]{1,20}$"
    assert {"shared_address_memo", "ownership_proof"} <= set(net.conditions)
    assert net.gas_station_path is None


def test_every_cosmos_network_has_its_facts_checked():
    cosmos = {k for k, n in NETWORKS.items() if n.family == "cosmos"}
    assert cosmos <= set(EXPECTED_COSMOS), f"add {sorted(cosmos - set(EXPECTED_COSMOS))} to EXPECTED_COSMOS"


EXPECTED_STELLAR = {
    # key: network passphrase (stellar-sdk's Network constants)
    "stellar": "Public Global Stellar Network ; September 2015",
    "stellar-replay": "Test SDF Network ; September 2015",
}


@pytest.mark.parametrize("key", sorted(EXPECTED_STELLAR))
def test_stellar_parameters(key):
    from stellar_sdk import Network

    net = NETWORKS[key]
    assert net.stellar.network_passphrase == EXPECTED_STELLAR[key]
    assert EXPECTED_STELLAR[key] in (Network.PUBLIC_NETWORK_PASSPHRASE, Network.TESTNET_NETWORK_PASSPHRASE)
    assert net.deposit_prefixes == ("m/44'/148'",)
    assert net.deposit_path_allowed("m/44'/148'/0'") and not net.deposit_path_allowed("m/44'/148'")
    assert net.deposit_model == "shared_memo" and net.memo_pattern == "^[0-9]{1,19}$"
    assert {"shared_address_memo", "ownership_proof"} <= set(net.conditions)
    assert net.gas_station_path is None and net.confirmations == 1 and net.stellar.base_fee == 100


def test_every_stellar_network_has_its_facts_checked():
    stellar = {k for k, n in NETWORKS.items() if n.family == "stellar"}
    assert stellar <= set(EXPECTED_STELLAR), f"add {sorted(stellar - set(EXPECTED_STELLAR))} to EXPECTED_STELLAR"
@pytest.mark.parametrize("key", sorted(EXPECTED_XRPL))
def test_xrpl_parameters(key):
    key_type, network_id, path = EXPECTED_XRPL[key]
    net = NETWORKS[key]
    assert (net.xrpl.key_type, net.xrpl.network_id, net.deposit_path_prefix) == (key_type, network_id, path)
    assert net.deposit_model == "shared_memo" and net.memo_pattern == "^[0-9]{1,10}$"


def test_every_xrpl_network_has_its_facts_checked():
    xrpl = {k for k, n in NETWORKS.items() if n.family == "xrpl"}
    assert xrpl <= set(EXPECTED_XRPL), f"add {sorted(xrpl - set(EXPECTED_XRPL))} to EXPECTED_XRPL"


def test_cosmos_devnet_file_is_the_test_chain():
    from cosmos_devnet import CHAIN_ID, DECIMALS, DENOM, GAS_PRICE

    opts = NETWORKS["inj-devnet"].cosmos
    assert (opts.chain_id, opts.native_denom, opts.gas_price) == (CHAIN_ID, DENOM, str(GAS_PRICE))
    assert NETWORKS["inj-devnet"].native_decimals == DECIMALS
    assert NETWORKS["inj-devnet"].rpc_urls == ("${INJ_DEVNET_URL}",)


def test_ethtester_chain_id_is_the_in_process_chain():
    from web3 import EthereumTesterProvider, Web3

    assert NETWORKS["ethtester"].chain_id == Web3(EthereumTesterProvider()).eth.chain_id
    assert NETWORKS["ethtester"].rpc_urls == ("eth-tester://",)


def test_legacy_transaction_networks():
    legacy = {k for k, n in NETWORKS.items() if n.family == "evm" and n.evm_options.legacy_tx}
    # networks known to have no EIP-1559 (type-2) transactions must sign type-0
    assert {"ethereum-classic", "harmony", "anvil-legacy"} <= legacy
    assert "anvil" not in legacy and "ethereum" not in legacy


def test_deep_confirmations_where_reorgs_happened():
    assert NETWORKS["ethereum-classic"].confirmations >= 5000
    assert NETWORKS["bitcoin-sv"].confirmations >= 100
    assert NETWORKS["bitcoin"].confirmations >= 6
    assert NETWORKS["ethereum"].confirmations >= 12


@pytest.mark.parametrize("key", sorted(k for k, n in NETWORKS.items() if n.family == "utxo"))
def test_utxo_address_network_is_known_to_bitcoinlib(key):
    from bitcoinlib.networks import Network

    from chains.utxo.networks import register_networks; register_networks()  # the networks bitcoinlib lacks

    name = NETWORKS[key].utxo.address_network
    assert Network(name).name == name


# -- recovery classes --------------------------------------------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_conditions_and_reason(key):
    net = NETWORKS[key]
    if net.recovery_class == "conditional":
        assert net.conditions and set(net.conditions) <= set(CONDITIONS)
        assert net.reason and net.reason.strip() == net.reason and "\n" not in net.reason
    else:
        assert net.conditions == () and net.reason is None


def test_min_value_networks_set_their_threshold():
    for key, net in REAL.items():
        if "min_value" in net.conditions:
            assert net.fee is not None and net.fee.get("min_value_usd"), f"{key}: min_value without min_value_usd"


def test_fee_tables_parse():
    from fees import FeePolicy

    with_table = [k for k, n in NETWORKS.items() if n.fee is not None]
    assert with_table, "some networks carry a [fee] table"
    for key in with_table:
        FeePolicy.from_table(NETWORKS[key].fee, source=key)


# -- addresses ---------------------------------------------------------------------------------

def _literal_evm_addresses(net: NetworkConfig) -> list[tuple[str, str]]:
    out = [(f"listed_tokens[{i}]", t.address) for i, t in enumerate(net.listed_tokens)]
    out += [(k, getattr(net, k)) for k in ("fee_collector", "hot_wallet") if "${" not in getattr(net, k)]
    return out


@pytest.mark.parametrize("key", sorted(k for k, n in NETWORKS.items() if n.family == "evm"))
def test_literal_evm_addresses_are_eip55(key):
    from eth_utils import is_checksum_address

    for where, address in _literal_evm_addresses(NETWORKS[key]):
        assert is_checksum_address(address), f"{key} {where}: {address} is not EIP-55 checksummed"


def test_listed_tokens_are_unique_and_sane():
    for key, net in NETWORKS.items():
        addresses = [t.address.lower() if net.family == "evm" else t.address for t in net.listed_tokens]
        assert len(addresses) == len(set(addresses)), key
        for t in net.listed_tokens:
            assert t.min_deposit < 10 ** (t.decimals + 3), f"{key} {t.symbol}: min_deposit over 1000 tokens"


def test_solana_listed_mints_are_canonical():
    from solders.pubkey import Pubkey

    for key, net in NETWORKS.items():
        if net.family == "solana":
            for t in net.listed_tokens:
                assert str(Pubkey.from_string(t.address)) == t.address, f"{key} {t.symbol}"


def test_devnet_wallets_are_the_anvil_mnemonic_accounts():
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    collector = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/8").address
    hot = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/9").address
    for key in ("anvil", "anvil-b", "anvil-legacy", "ethtester"):
        assert NETWORKS[key].fee_collector == collector, key
        assert NETWORKS[key].hot_wallet == hot, key


@pytest.mark.parametrize("key", sorted(REAL))
def test_real_networks_take_endpoints_and_wallets_from_the_environment(key):
    net = REAL[key]
    assert net.rpc_urls == ("${" + _env_name(key, "RPC_URL") + "}",)
    assert net.fee_collector == "${" + _env_name(key, "FEE_COLLECTOR") + "}"
    assert net.hot_wallet == "${" + _env_name(key, "HOT_WALLET") + "}"


# -- resolving ---------------------------------------------------------------------------------

def _valid_address(net: NetworkConfig) -> str:
    if net.family == "evm":
        # Fixed EIP-55 test vectors, mixed case.  (A random address is not used: about one in
        # several thousand has an all-lowercase checksummed form, which chains.addresses refuses.)
        return EVM_ADDRESS
    if net.family == "solana":
        from solders.keypair import Keypair

        return str(Keypair().pubkey())
    if net.family == "cosmos":
        from chains.cosmos.addresses import encode

        return encode(net.cosmos.bech32_prefix, bytes(range(20)))
    if net.family == "xrpl":
        return "rJUr92pXcNtH6PtFfbRhHCo469XmPrbTJU"  # xrpl.js Wallet.fromMnemonic test vector's address
    if net.family == "stellar":
        from stellar_sdk import Keypair

        return Keypair.random().public_key
    from bitcoinlib.keys import Key

    from chains.utxo.networks import register_networks; register_networks()

    return Key(network=net.utxo.address_network).address()


def _env_for(net: NetworkConfig) -> dict[str, str]:
    env = {}
    for name in net.placeholders():
        env[name] = "http://127.0.0.1:8545" if name.endswith("URL") else _valid_address(net)
    return env


@pytest.mark.parametrize("key", KEYS)
def test_resolves_with_valid_environment(key):
    net = NETWORKS[key]
    env = _env_for(net)
    resolved = net.resolved(env)
    assert "${" not in resolved.model_dump_json()
    assert resolved.placeholders() == set()
    assert resolved.key == net.key and resolved.chain_id == net.chain_id
    for name in net.placeholders():
        assert env[name] in resolved.model_dump_json()


def test_unset_variable_names_file_key_and_variable():
    net = NETWORKS["ethereum"]
    env = _env_for(net)
    del env[_env_name("ethereum", "HOT_WALLET")]
    with pytest.raises(NetworkConfigError) as exc:
        net.resolved(env)
    assert "chain_configs/ethereum.toml" in str(exc.value)
    assert exc.value.details["variable"] == _env_name("ethereum", "HOT_WALLET")


@pytest.mark.parametrize(
    "key, wrong",
    [
        ("ethereum", "0x" + "ab" * 20),  # no EIP-55 checksum
        ("bitcoin", "0x52908400098527886E0F7030069857D2E4169EE7"),  # an EVM address
        ("solana", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),  # a Bitcoin address
        ("osmosis", "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5"),  # a Cosmos Hub address
    ],
)
def test_placeholders_sit_where_addresses_are_validated(key, wrong):
    net = NETWORKS[key]
    env = _env_for(net)
    env[_env_name(key, "FEE_COLLECTOR")] = wrong
    with pytest.raises(NetworkConfigError, match="fee_collector"):
        net.resolved(env)


def test_litecoin_address_does_not_resolve_on_bitcoin_fork_networks():
    from bitcoinlib.keys import Key

    ltc = Key(network="litecoin").address()
    for key in ("bitcoin", "bitcoin-cash", "bitcoin-sv"):
        net = NETWORKS[key]
        env = _env_for(net)
        env[_env_name(key, "HOT_WALLET")] = ltc
        with pytest.raises(NetworkConfigError):
            net.resolved(env)


def test_placeholder_names_are_well_formed():
    pattern = re.compile(r"^[A-Z][A-Z0-9_]*$")
    for key, net in NETWORKS.items():
        for name in net.placeholders():
            assert pattern.match(name), f"{key}: {name}"


STATIONED = sorted(k for k, n in NETWORKS.items() if n.gas_station_path)


def test_most_shipped_networks_have_a_gas_station():
    # shared-memo networks refund from the shared hot wallet, which pays its own network fee: no station
    per_address = {k for k, n in REAL.items() if n.deposit_model == "per_address"}
    assert per_address <= set(STATIONED) and {"anvil", "solana-litesvm"} <= set(STATIONED)
    assert not any(NETWORKS[k].deposit_model == "shared_memo" for k in STATIONED)


@pytest.mark.parametrize("key", STATIONED)
def test_the_deposit_subtree_never_contains_the_gas_station(key):
    """Deposit addresses are registered only strictly below ``deposit_path_prefix``: a prefix that held
    the gas station's path would let its key be registered, and swept, as a "deposit address"."""
    net = NETWORKS[key]
    station = net.gas_station_path
    assert net.deposit_prefixes, f"{net.source}: a network with a gas station names its deposit_path_prefix"
    for prefix in net.deposit_prefixes:
        assert re.fullmatch(r"m(/[0-9]+'?)+", prefix), (key, prefix)
        assert station != prefix and not station.startswith(prefix.rstrip("/") + "/"), \
            f"{net.source}: deposit_path_prefix {prefix} contains the gas station's path {station}"
        assert not prefix.startswith(station + "/"), f"{net.source}: {prefix} lies below the gas station {station}"
    assert not net.deposit_path_allowed(station)
    assert not any(net.deposit_path_allowed(station + tail) for tail in ("/0", "/7", "/0'"))
    assert any(net.deposit_path_allowed(prefix + "/7") for prefix in net.deposit_prefixes)
