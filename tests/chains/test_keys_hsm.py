"""Issue 26, item 3: `recover keys hsm list` shows what a real SoftHSM2 token holds, and `networks check`
reports a missing token, a wrong PIN, a missing key and a key whose address differs from the file's."""

from __future__ import annotations

from clihelp import run
from softhsm import SoftHsm, softhsm  # noqa: F401


def _evm_address(public_key: bytes) -> str:
    from chains.evm.keys import address_of_public_key

    return address_of_public_key("secp256k1", public_key)


def _config(tmp_path, hsm: SoftHsm, keys: dict[str, str], *, token: str | None = None) -> dict:
    """anvil.toml naming the token's keys, in a RECOVER_CONFIG_DIR; the env of a signing host."""
    from paths import REPO

    folder = tmp_path / "conf"
    folder.mkdir(exist_ok=True)
    text = (REPO / "chain_configs" / "anvil.toml").read_text()
    text += f'\n[hsm]\ntoken = "{token or hsm.token}"\n\n[hsm.keys]\n'
    text += "".join(f'{label} = "{address}"\n' for label, address in keys.items())
    (folder / "anvil.toml").write_text(text)
    return {"RECOVER_CONFIG_DIR": str(folder), "ANVIL_URL": "http://127.0.0.1:8545", **hsm.env}


def test_list_shows_labels_curves_and_addresses_per_network(tmp_path, softhsm):
    gas = _evm_address(softhsm.add_key("evm-gas-station"))
    fee_payer = softhsm.add_key("sol-fee-payer", "ed25519")
    env = _config(tmp_path, softhsm, {"evm-gas-station": gas})
    r = run("keys", "hsm", "list", "--network", "anvil", "--json", env=env)
    assert r.code == 0, r.err
    [token] = r.json["tokens"]
    assert token["token"] == softhsm.token and token["missing"] == []
    keys = {k["label"]: k for k in token["keys"]}
    assert keys["evm-gas-station"]["curve"] == "secp256k1"
    assert keys["evm-gas-station"]["networks"] == [{"network": "anvil", "address": gas, "configured": gas,
                                                     "matches": True}]
    assert keys["sol-fee-payer"]["curve"] == "ed25519" and keys["sol-fee-payer"]["public_key"] == fee_payer.hex()
    assert keys["sol-fee-payer"]["networks"] == []  # no EVM address for an Ed25519 key
    text = run("keys", "hsm", "list", "--network", "anvil", env={**env, "COLUMNS": "250"})  # one line per row
    assert text.code == 0 and gas in text.out and "matches" in text.out and env["RECOVER_PKCS11_PIN"] not in text.out


def test_list_and_check_say_what_differs(tmp_path, softhsm):
    gas = _evm_address(softhsm.add_key("evm-gas-station"))
    other = _evm_address(softhsm.add_key("other"))
    env = _config(tmp_path, softhsm, {"evm-gas-station": other, "not-on-token": gas})
    r = run("keys", "hsm", "list", "--network", "anvil", "--json", env=env)
    assert r.code == 0, r.err
    [token] = r.json["tokens"]
    station = next(k for k in token["keys"] if k["label"] == "evm-gas-station")
    assert station["networks"][0]["matches"] is False and station["networks"][0]["configured"] == other
    assert token["missing"] == [{"network": "anvil", "label": "not-on-token"}]
    r = run("networks", "check", "anvil", "--signer", "--json", env=env)
    assert r.code == 4
    found = {p["setting"]: p["code"] for p in r.json["problems"]}
    assert found["hsm.keys.evm-gas-station"] == "hsm_address_mismatch"
    assert found["hsm.keys.not-on-token"] == "signer_missing_key"


def test_check_passes_with_the_right_token_and_reports_pin_and_token_problems(tmp_path, softhsm):
    gas = _evm_address(softhsm.add_key("evm-gas-station"))
    env = _config(tmp_path, softhsm, {"evm-gas-station": gas})

    def hsm_codes(extra):
        r = run("networks", "check", "anvil", "--signer", "--json", env={**env, **extra})
        return r.code, [p["code"] for p in r.json["problems"] if p["setting"].startswith("hsm")], r

    code, codes, _ = hsm_codes({})
    assert codes == [] and code == 0
    code, codes, r = hsm_codes({"RECOVER_PKCS11_PIN": "000000"})
    assert (code, codes) == (4, ["hsm_pin_incorrect"]) and "000000" not in r.out + r.err
    code, codes, _ = hsm_codes({"RECOVER_PKCS11_PIN": ""})
    assert (code, codes) == (4, ["hsm_pin_missing"])
    env = _config(tmp_path, softhsm, {"evm-gas-station": gas}, token="no-such-token")
    code, codes, _ = hsm_codes({})
    assert (code, codes) == (4, ["hsm_token_missing"])
    r = run("keys", "hsm", "list", "--network", "anvil", "--json", env=env)
    assert r.code == 4 and r.error["code"] == "hsm_token_missing"
    read_only = run("networks", "check", "anvil", "--json", env={**env, "RECOVER_PKCS11_PIN": ""})
    assert read_only.code == 0 and any("HSM" in n for n in read_only.json["notes"])  # a desk need not hold the PIN
