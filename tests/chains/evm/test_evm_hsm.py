"""Issue 26 on a real anvil node and a real SoftHSM2 token, through the installed ``recover``: the gas
station's key lives on the token (``gas_station_path = "hsm:<label>"``), the deposit key with the HD
seed.  A token sweep completes with its gas top-up signed by the token; a wrong PIN, a missing key
and a token key whose address differs from the network file's are refused with their exit codes,
with nothing sent and the database unchanged."""

from __future__ import annotations

import pytest

from clihelp import snapshot as _snapshot
from evmflow import approve, balances, cli, nothing_signed, token_case, world  # noqa: F401
from softhsm import SoftHsm, softhsm  # noqa: F401

LABEL = "evm-gas-station"


def _address(public_key: bytes) -> str:
    from chains.evm.keys import address_of_public_key

    return address_of_public_key("secp256k1", public_key)


def hsm_config(w, hsm: SoftHsm, *, label: str = LABEL, address: str, token: str | None = None) -> dict:
    """anvil.toml with its gas station on the token, in a RECOVER_CONFIG_DIR; the env of a signing host."""
    from paths import REPO

    folder = w.tmp / "conf"
    folder.mkdir(exist_ok=True)
    text = (REPO / "chain_configs" / "anvil.toml").read_text()
    text = text.replace("gas_station_path = \"m/44'/60'/1'/0/0\"", f'gas_station_path = "hsm:{label}"')
    text += f'\n[hsm]\ntoken = "{token or hsm.token}"\n\n[hsm.keys]\n{label} = "{address}"\n'
    (folder / "anvil.toml").write_text(text)
    return {"RECOVER_CONFIG_DIR": str(folder), **hsm.env}


def _station_ready(w, hsm):
    station = _address(hsm.add_key(LABEL))
    w.a.set_balance(station, 10**18)
    return station, hsm_config(w, hsm, address=station)


def test_token_sweep_gas_topup_signed_by_the_hsm_gas_station(world, softhsm):
    w = world
    station, env = _station_ready(w, softhsm)
    cid, token, deposit = token_case(w, env=env)
    shown = cli(w, "case", "show", str(cid), env=env)
    steps = shown["plan"]["plan"]["steps"]
    assert [s["role"] for s in steps] == ["gas_topup", "sweep_net", "sweep_fee"]
    assert steps[0]["signer_path"] == f"hsm:{LABEL}" and steps[0]["signer_address"] == station
    net_amount = int(shown["plan"]["plan"]["net"])
    approve(w, cid, "bob", "carol", env=env)
    before = w.a.w3.eth.get_balance(station)
    cli(w, "case", "sign", str(cid), env=env)
    cli(w, "case", "broadcast", str(cid), env=env)
    assert cli(w, "case", "track", str(cid), env=env)["status"] == "completed"
    txs = cli(w, "case", "show", str(cid), env=env)["transactions"]
    topup = w.a.w3.eth.get_transaction(txs[0]["txid"])
    receipt = w.a.w3.eth.get_transaction_receipt(txs[0]["txid"])
    assert topup["from"] == station and receipt["status"] == 1
    paid = topup["value"] + receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w.a.w3.eth.get_balance(station) == before - paid  # exactly the top-up and its own gas
    assert balances(w, token, w.ret, deposit) == [net_amount, 0]


def _refused(w, cid, env, code, exit_code, station):
    before, wei = _snapshot(w.db), w.a.w3.eth.get_balance(station)
    err = cli(w, "case", "sign", str(cid), env=env, expect=exit_code)
    assert err["code"] == code, err
    assert _snapshot(w.db) == before and nothing_signed(w, cid)
    assert w.a.w3.eth.get_balance(station) == wei and w.a.w3.eth.get_transaction_count(station) == 0
    return err


def test_wrong_pin_is_refused_and_never_shown(world, softhsm):
    w = world
    station, env = _station_ready(w, softhsm)
    cid, _token, _deposit = token_case(w, env=env)
    approve(w, cid, "bob", "carol", env=env)
    err = _refused(w, cid, {**env, "RECOVER_PKCS11_PIN": "999999"}, "hsm_pin_incorrect", 4, station)
    assert "999999" not in str(err)
    pin_file = w.tmp / "pin"
    pin_file.write_text("111111\n")
    no_pin = {k: v for k, v in env.items() if k != "RECOVER_PKCS11_PIN"}
    _refused(w, cid, {**no_pin, "RECOVER_PKCS11_PIN": "", "RECOVER_PKCS11_PIN_FILE": str(pin_file)},
             "hsm_pin_incorrect", 4, station)
    _refused(w, cid, {**no_pin, "RECOVER_PKCS11_PIN": ""}, "hsm_pin_missing", 4, station)
    pin_file.write_text(env["RECOVER_PKCS11_PIN"] + "\n")  # the right PIN from a file signs
    cli(w, "case", "sign", str(cid), env={**no_pin, "RECOVER_PKCS11_PIN": "", "RECOVER_PKCS11_PIN_FILE": str(pin_file)})


def test_missing_key_and_missing_token_are_refused(world, softhsm):
    w = world
    station = _address(softhsm.add_key("another-label"))  # the token holds a key, not the one named
    w.a.set_balance(station, 10**18)
    env = hsm_config(w, softhsm, address=station)
    cid, _token, _deposit = token_case(w, env=env)
    approve(w, cid, "bob", "carol", env=env)
    _refused(w, cid, env, "signer_missing_key", 7, station)
    _refused(w, cid, hsm_config(w, softhsm, address=station, token="no-such-token"), "hsm_token_missing", 4, station)


def test_token_key_whose_address_differs_is_refused(world, softhsm):
    """The network file (and so the plan) names one address; the token's key under that label controls
    another: nothing is signed with it."""
    w = world
    softhsm.add_key(LABEL)
    from evmflow import derive

    written = derive(7)  # a funded address that is not the token key's
    env = hsm_config(w, softhsm, address=written)
    cid, _token, _deposit = token_case(w, env=env)
    approve(w, cid, "bob", "carol", env=env)
    before, wei, nonce = _snapshot(w.db), w.a.w3.eth.get_balance(written), w.a.w3.eth.get_transaction_count(written)
    err = cli(w, "case", "sign", str(cid), env=env, expect=7)
    assert err["code"] == "signer_mismatch" and "token" in err["message"]
    assert _snapshot(w.db) == before and nothing_signed(w, cid)
    assert w.a.w3.eth.get_balance(written) == wei and w.a.w3.eth.get_transaction_count(written) == nonce


@pytest.mark.parametrize("bad", ["hsm:", "hsm:not listed", "hsm:missing-label"])
def test_network_file_must_list_the_hsm_key(tmp_path, bad):
    from chains.config import load_network_file
    from chains.errors import NetworkConfigError
    from paths import REPO

    text = (REPO / "chain_configs" / "anvil.toml").read_text()
    text = text.replace("gas_station_path = \"m/44'/60'/1'/0/0\"", f'gas_station_path = "{bad}"')
    text += '\n[hsm]\ntoken = "t"\n\n[hsm.keys]\nlisted = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"\n'
    with pytest.raises(NetworkConfigError) as exc:
        load_network_file("anvil.toml", text=text)
    assert "gas_station_path" in str(exc.value)


def test_the_hsm_gas_station_never_sweeps(world, softhsm):
    """A deposit row for the HSM gas station's own address at its key name, written straight into the
    table (no admin registered it): the case can be prepared, but the signer signs with the token's key
    for gas only, and nothing leaves the station."""
    from evm_devnet import deploy, fund_token, token_transfer
    from evmflow import sql

    w = world
    station, env = _station_ready(w, softhsm)
    sql(w, "INSERT INTO deposit_addresses (network, address, address_key, derivation_path, account, status, "
           "created_at) VALUES ('anvil', :a, :k, :p, 'thief', 'active', '2026-12-01 00:00:00')",
        a=station, k=station.lower(), p=f"hsm:{LABEL}")
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, station, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret, env=env)["id"]
    cli(w, "case", "verify", str(cid), env=env)
    cli(w, "prices", "set", f"anvil:{token.address}", "1", env=env)
    cli(w, "prices", "set", "ETH", "3000", env=env)
    cli(w, "case", "quote", str(cid), env=env)
    cli(w, "case", "prepare", str(cid), env=env)
    approve(w, cid, "bob", "carol", env=env)
    before, wei = _snapshot(w.db), w.a.w3.eth.get_balance(station)
    err = cli(w, "case", "sign", str(cid), env=env, expect=7)
    assert err["code"] == "deposit_not_registered" and f"hsm:{LABEL}" in err["message"], err
    assert _snapshot(w.db) == before and nothing_signed(w, cid)
    assert balances(w, token, station) == [2_500 * 10**6] and w.a.w3.eth.get_balance(station) == wei
