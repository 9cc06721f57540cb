"""`recover keys hsm list` names the XRP Ledger and Stellar addresses of a real SoftHSM2 token's keys (the
shared wallets those families may keep there): XRPL for both curves, Stellar for Ed25519 only."""

from __future__ import annotations

from clihelp import run
from softhsm import softhsm  # noqa: F401


def test_list_shows_xrpl_and_stellar_addresses(tmp_path, softhsm):  # noqa: F811
    from stellar_sdk import Keypair

    from chains.xrpl.keys import address_of_public_key
    from paths import REPO

    ed = softhsm.add_key("shared-ed", "ed25519")
    k1 = softhsm.add_key("shared-k1", "secp256k1")
    xrpl_ed, xrpl_k1 = address_of_public_key("ed25519", ed), address_of_public_key("secp256k1", k1)
    stellar_ed = Keypair.from_raw_ed25519_public_key(ed).public_key
    folder = tmp_path / "conf"
    folder.mkdir()
    tables = {"xrpl-replay": {"shared-ed": xrpl_ed, "shared-k1": xrpl_k1}, "stellar-replay": {"shared-ed": stellar_ed}}
    for key, keys in tables.items():
        text = (REPO / "chain_configs" / f"{key}.toml").read_text()
        text += f'\n[hsm]\ntoken = "{softhsm.token}"\n\n[hsm.keys]\n'
        text += "".join(f'{label} = "{address}"\n' for label, address in keys.items())
        (folder / f"{key}.toml").write_text(text)
    env = {"RECOVER_CONFIG_DIR": str(folder), "XRPL_REPLAY_URL": "http://127.0.0.1:9", "STELLAR_REPLAY_URL":
           "http://127.0.0.1:9", "XRPL_REPLAY_FEE_COLLECTOR": xrpl_k1, "XRPL_REPLAY_HOT_WALLET": xrpl_k1,
           "STELLAR_REPLAY_FEE_COLLECTOR": stellar_ed, "STELLAR_REPLAY_HOT_WALLET": stellar_ed, **softhsm.env}
    seen = {}
    for network in tables:
        r = run("keys", "hsm", "list", "--network", network, "--json", env=env)
        assert r.code == 0, r.err
        [token] = r.json["tokens"]
        assert token["missing"] == []
        for k in token["keys"]:
            for n in k["networks"]:
                seen[(n["network"], k["label"])] = (n["address"], n["matches"])
    assert seen == {("xrpl-replay", "shared-ed"): (xrpl_ed, True), ("xrpl-replay", "shared-k1"): (xrpl_k1, True),
                    ("stellar-replay", "shared-ed"): (stellar_ed, True)}  # no Stellar address for secp256k1
