"""Issue 26 on a real injectived devnet and a real SoftHSM2 token, through the installed ``recover``: the
shared wallet of the memo network ``inj-devnet`` keeps its key on the token (registered at
``hsm:<label>``, the network file's ``[hsm.keys]`` naming its address), and the signing host holds no seed.

A deposit without a memo is refunded to its sender, signed by the token (SIGN_MODE_DIRECT, Keccak-256
for ``eth_secp256k1``), broadcast and tracked to ``completed``, to the base unit.  A wrong PIN, a token
key that controls another address than the network file says, and a signer whose own network file
lists the key with another address are refused with nothing moved and the database unchanged; so is
registering an HSM key for a user's deposit address, or one the network file does not list.
"""

from __future__ import annotations

import base64

import pytest

from clihelp import snapshot
from cosmos_devnet import start_injectived
from softhsm import SoftHsm, softhsm  # noqa: F401
from test_memo_cases import NETWORK, WITHDRAWAL_FEE, World, approve, network_file, sign_until_completed

LABEL = "inj-shared"
KEY_NAME = f"hsm:{LABEL}"


@pytest.fixture(scope="module")
def chain():
    node = start_injectived()
    yield node
    node.stop()


def inj_address(public_key: bytes) -> str:
    from chains.cosmos.keys import address_of

    return address_of(public_key, "eth_secp256k1", "inj")


def hsm_network_file(tmp, hsm: SoftHsm, listed: str, *, label: str = LABEL) -> None:
    """The tests' inj-devnet file (RECOVER_CONFIG_DIR) with an ``[hsm]`` table listing ``label`` at ``listed``."""
    network_file(tmp, "native_min_deposit = 1000000000000000")
    path = tmp / "networks" / "inj-devnet.toml"
    path.write_text(path.read_text() + f'\n[hsm]\ntoken = "{hsm.token}"\n\n[hsm.keys]\n{label} = "{listed}"\n')


def hsm_world(chain, db, tmp, hsm: SoftHsm, *, shared: str, listed: str | None = None) -> World:
    """A desk whose shared wallet ``shared`` is registered at ``hsm:<LABEL>``; the signing host has the
    token's PIN and no seed."""
    hsm_network_file(tmp, hsm, listed or shared)
    w = World(chain, db, tmp)
    w.shared = shared
    w.env = {**{k: v for k, v in w.env.items() if k != "RECOVER_SEED"}, **hsm.env}
    assert w.run("init").code == 0
    (tmp / "addresses.csv").write_text("network,address,derivation_path,account,kind\n"
                                       f"{NETWORK},{shared},{KEY_NAME},exchange-shared,shared\n")
    w.cli("addresses", "import", str(tmp / "addresses.csv"))
    return w


@pytest.fixture
def w(chain, sqlite_db_url, tmp_path, softhsm):  # noqa: F811
    public_key = softhsm.add_key(LABEL)
    shared = inj_address(public_key)
    chain.send("exchange", shared, 20 * 10**18)  # a genesis account funds the token's wallet
    world = hsm_world(chain, sqlite_db_url, tmp_path, softhsm, shared=shared)
    world.public_key = public_key
    return world


def approved_refund(w, amount: int = 3 * 10**18) -> tuple[int, dict]:
    """A deposit without a memo to the shared wallet, claimed back to its sender: prepared and approved."""
    tx = w.chain.send("user", w.shared, amount)
    cid = w.cli("case", "open", "--network", NETWORK, "--tx", tx, "--return-address", w.user)["id"]
    w.cli("case", "verify", str(cid))
    assert w.cli("case", "show", str(cid))["classification"] == "missing_memo"
    w.cli("case", "quote", str(cid))
    plan = w.cli("case", "prepare", str(cid))["plan"]
    approve(w, cid, "bob", "carol", "sam")
    assert w.cli("case", "show", str(cid))["status"] == "approved"
    return cid, plan


def test_refund_from_the_hsm_shared_wallet_completes_to_the_base_unit(w):
    cid, plan = approved_refund(w)
    step = plan["steps"][0]
    assert (step["signer_path"], step["signer_address"]) == (KEY_NAME, w.shared)
    shared0, user0 = w.balance(w.shared), w.balance(w.user)
    case = sign_until_completed(w, cid)
    assert case["status"] == "completed"
    landed = w.chain.tx(case["transactions"][0]["txid"])
    assert landed["code"] == 0
    signer = landed["raw"]["tx"]["auth_info"]["signer_infos"][0]["public_key"]
    assert signer["@type"] == "/injective.crypto.v1beta1.ethsecp256k1.PubKey"
    assert base64.b64decode(signer["key"]) == w.public_key  # the token's key signed it
    refund, fee_paid = int(plan["net"]), int(landed["fee"][0]["amount"])
    assert refund == 3 * 10**18 - 5 * WITHDRAWAL_FEE and fee_paid == int(plan["native_cost"])
    assert w.balance(w.user) - user0 == refund
    assert shared0 - w.balance(w.shared) == refund + fee_paid
    assert [(m["to_address"], m["amount"]) for m in landed["messages"]] == [(w.user, [{"denom": "inj",
                                                                                       "amount": str(refund)}])]


def refused_sign(w, cid, exit_code, code):
    """``case sign`` refused: nothing written, nothing sent, the shared wallet's sequence unmoved."""
    before, shared0, user0 = snapshot(w.db), w.balance(w.shared), w.balance(w.user)
    seq0 = w.chain.account(w.shared)["sequence"]
    r = w.run("case", "sign", str(cid), "--json")
    assert (r.code, r.error["code"]) == (exit_code, code), (r.out, r.err)
    assert snapshot(w.db) == before
    assert (w.balance(w.shared), w.balance(w.user)) == (shared0, user0)
    assert w.chain.account(w.shared)["sequence"] == seq0
    assert w.cli("case", "show", str(cid))["status"] == "approved"
    return r.error


def test_wrong_pin_is_refused_and_nothing_moves(w):
    cid, _plan = approved_refund(w)
    w.env = {**w.env, "RECOVER_PKCS11_PIN": "999999"}
    err = refused_sign(w, cid, 4, "hsm_pin_incorrect")
    assert "999999" not in str(err)


def test_token_key_controlling_another_address_is_refused(chain, sqlite_db_url, tmp_path, softhsm):  # noqa: F811
    """The network file (and so the registration and the plan) says the key controls the devnet's
    ``exchange`` account; the token's key under that label controls another address."""
    softhsm.add_key(LABEL)
    w = hsm_world(chain, sqlite_db_url, tmp_path, softhsm, shared=chain.address("exchange"))
    cid, _plan = approved_refund(w)
    err = refused_sign(w, cid, 7, "signer_mismatch")
    assert "token" in err["message"]


def test_signer_whose_network_file_lists_another_address_refuses(w):
    """Registered and planned while the file listed the token's address; the signing host's own file
    lists the label with another address: the signer trusts its file, not the registration."""
    cid, _plan = approved_refund(w)
    conf = w.tmp / "networks" / "inj-devnet.toml"
    conf.write_text(conf.read_text().replace(f'{LABEL} = "{w.shared}"', f'{LABEL} = "{w.other}"'))
    err = refused_sign(w, cid, 7, "signer_mismatch")
    assert w.other in err["message"]


def test_hsm_key_only_for_a_listed_shared_wallet(chain, sqlite_db_url, tmp_path, softhsm):  # noqa: F811
    listed = chain.address("exchange")
    hsm_network_file(tmp_path, softhsm, listed)
    w = World(chain, sqlite_db_url, tmp_path)
    assert w.run("init").code == 0

    def refused(name: str, rows: str, code: str):
        path = tmp_path / name
        path.write_text("network,address,derivation_path,account,kind\n" + rows)
        before = snapshot(w.db)
        r = w.run("addresses", "import", str(path), "--json")
        assert (r.code, r.error["code"]) == (4, code), (r.out, r.err)
        assert snapshot(w.db) == before
        return r.error

    # a user's deposit address never names an HSM key (on a memo network, and on a per-address one)
    refused("deposit.csv", f"{NETWORK},{listed},{KEY_NAME},x,deposit\n", "hsm_key_not_shared")
    refused("anvil.csv", f"anvil,0x70997970C51812dc3A010C7d01b50e0d17dc79C8,{KEY_NAME},x,\n", "hsm_key_not_shared")
    # a label the file does not list, and a listed label for another address
    err = refused("unlisted.csv", f"{NETWORK},{listed},hsm:no-such-key,x,shared\n", "hsm_key_not_listed")
    assert "no-such-key" in err["message"]
    err = refused("other.csv", f"{NETWORK},{chain.address('other')},{KEY_NAME},x,shared\n", "hsm_key_not_listed")
    assert listed in err["message"]
    # the listed label at its own address registers (kind shared is the memo network's default)
    (tmp_path / "ok.csv").write_text(f"network,address,derivation_path,account\n{NETWORK},{listed},{KEY_NAME},ex\n")
    assert w.cli("addresses", "import", str(tmp_path / "ok.csv"))["added"] == 1


@pytest.mark.parametrize("kind, listed, code", [(None, "same", "deposit_not_registered"),
                                                ("deposit", "same", "deposit_not_registered"),
                                                ("shared", "other", "signer_mismatch"),
                                                ("shared", "same", None)])
def test_the_signer_takes_an_hsm_key_only_for_a_shared_wallet_its_file_lists(kind, listed, code):
    """The signer's own check of a plan's ``hsm:<label>`` key (no node): a registration of a user's
    deposit address at that name (as a forged or older statement could say) is refused, and so is a
    shared wallet the signer's network file lists at another address."""
    from types import SimpleNamespace

    from coincurve import PrivateKey

    from chains.config import load_network_file
    from recover.casework.signer_check import _check_keys
    from recover.errors import PolicyRefused

    shared, other = (inj_address(PrivateKey(bytes([i]) * 32).public_key.format()) for i in (1, 2))
    text = resources_text("inj-devnet.toml") + f'\n[hsm]\ntoken = "t"\n\n[hsm.keys]\n{LABEL} = ' \
        f'"{shared if listed == "same" else other}"\n'
    net = load_network_file("inj-devnet.toml", text=text)
    body = {"network": NETWORK, "address": shared, "derivation_path": KEY_NAME, **({"kind": kind} if kind else {})}
    verifier = SimpleNamespace(statements=lambda subject, kinds: ([SimpleNamespace(body=body)], []))
    plan = SimpleNamespace(steps=[SimpleNamespace(seq=0, role="refund", signer_path=KEY_NAME)])
    if code is None:
        _check_keys(verifier, 1, net, {KEY_NAME: shared}, plan)
        return
    with pytest.raises(PolicyRefused) as exc:
        _check_keys(verifier, 1, net, {KEY_NAME: shared}, plan)
    assert exc.value.code == code and exc.value.exit_code == 7


def resources_text(name: str) -> str:
    from importlib import resources

    return resources.files("chains.configs").joinpath(name).read_text()
