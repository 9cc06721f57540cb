"""Issue 26 for the XRP Ledger: the shared wallet that pays memo refunds kept on a real SoftHSM2 token
(``deposit_path = "hsm:<label>"``), secp256k1 or Ed25519.  The refund is planned against the loopback
rippled (tests/support/xrpl_replay.py), its key found through the signer's own route (the network file's
``[hsm.keys]``, ``keys_for_plan``), signed by the token, read back with xrpl-py and submitted (the
replay verifies the signature as rippled does)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from xrpl.core import binarycodec, keypairs

from chains.base import NATIVE, SweepRequest, adapter_for
from chains.config import HsmOptions, load_networks
from chains.errors import ChainError
from chains.hsm import SECP256K1_N
from chains.xrpl.sign import SIGNED_FIELDS
from recover.casework.signing import NoDepositKeys, keys_for_plan
from softhsm_inprocess import token, token_key  # noqa: F401 - the in-process token fixture
from xrpl_replay import XrplReplay

NETWORKS = load_networks(config_dir="")
LABEL = "xrpl-shared"
SENDER = "rGFuMiw48HdbnrUbkRYuitXTmfrDBNTCnX"  # a real mainnet account, the refund's destination


@pytest.fixture
def replay():
    node = XrplReplay()
    node.fund(SENDER, 1_930_599_790)
    yield node
    node.stop()


def _adapter(replay, address: str, hsm, keys: dict[str, str]):
    net = NETWORKS["xrpl-replay"].resolved({"XRPL_REPLAY_URL": replay.url, "XRPL_REPLAY_FEE_COLLECTOR": address,
                                            "XRPL_REPLAY_HOT_WALLET": address})
    return adapter_for(net.model_copy(update={"hsm": HsmOptions(token=hsm.token, keys=keys)}))


def _world(replay, hsm, curve: str, *, address: str | None = None):
    """The token's key under LABEL; the shared wallet (the key's address unless ``address`` says another)
    funded on the replay, the network file naming it for LABEL, its adapter and a refund plan from it."""
    public = hsm.add_key(LABEL, curve)
    address = address or _adapter(replay, SENDER, hsm, {}).address_of_public_key(curve, public)
    replay.fund(address, 100_000_000, sequence=5)
    adapter = _adapter(replay, address, hsm, {LABEL: address})
    req = SweepRequest(case_id=1, deposit_address=address, deposit_path=f"hsm:{LABEL}", asset=NATIVE, decimals=6,
                       gross=5_001_000, net=5_000_000, fee_total=1_000, destination=SENDER, fee_collector=address,
                       gas_station_path=None, cost_mode="absorb", memo="77", destination_role="return_address")
    return public, address, adapter, adapter.prepare(req, adapter.estimate_cost(req))


@pytest.mark.parametrize("curve", ["secp256k1", "ed25519"])
def test_refund_from_an_hsm_shared_wallet_is_exactly_the_plan_signed_by_the_token(replay, token, curve):
    public, address, adapter, plan = _world(replay, token, curve)
    (step,) = plan.steps
    assert step.signer_path == f"hsm:{LABEL}" and step.signer_address == address
    (raw,) = adapter.sign(plan, keys_for_plan(adapter, plan, NoDepositKeys(), env=token.env))
    fields = binarycodec.decode(raw)
    assert {k: v for k, v in fields.items() if k not in SIGNED_FIELDS} == step.tx  # the payment, nothing more
    assert fields["Account"] == address and fields["DestinationTag"] == 77 and fields["Amount"] == "5000000"
    pub = fields["SigningPubKey"]
    assert pub == ("ED" + public.hex().upper() if curve == "ed25519" else public.hex().upper())
    assert keypairs.derive_classic_address(pub) == address
    unsigned = {k: v for k, v in fields.items() if k != "TxnSignature"}
    signature = bytes.fromhex(fields["TxnSignature"])
    assert keypairs.is_valid_message(bytes.fromhex(binarycodec.encode_for_signing(unsigned)), signature, pub)
    if curve == "secp256k1":
        _r, s = decode_dss_signature(signature)  # DER, canonical (low s) as rippled requires
        assert s <= SECP256K1_N // 2
    else:
        assert len(signature) == 64
    assert adapter.signed_step_problem(step, raw) is None
    txid = adapter.broadcast(raw)  # the replay checks the signature as rippled does
    replay.close()
    assert adapter.tx_status(txid).success
    assert replay.balance(address) == 100_000_000 - 5_000_000 - 10


def test_token_key_of_another_curve_than_the_file_says_is_refused(replay, token):
    """The file (and the plan) name the address of an Ed25519 key; the token's key under the label is
    secp256k1, whose address differs: nothing is signed with it."""
    ed = _adapter(replay, SENDER, token, {}).address_of_public_key("ed25519", token.add_key("ed-key", "ed25519"))
    _public, address, adapter, plan = _world(replay, token, "secp256k1", address=ed)
    assert address == ed == plan.steps[0].signer_address
    with pytest.raises(Exception) as err:
        adapter.sign(plan, keys_for_plan(adapter, plan, NoDepositKeys(), env=token.env))
    assert err.value.code == "signer_mismatch" and "controls" in str(err.value)
    # a token key handed to the family directly is checked against the step's account too
    with pytest.raises(ChainError) as err:
        adapter.sign(plan, lambda path: token_key(token, LABEL))
    assert err.value.code == "signer_mismatch"
    assert adapter.sign(plan, lambda path: token_key(token, "ed-key"))  # the key the file names signs


def test_address_of_public_key_refuses_other_curves_and_malformed_keys(replay, token):
    _public, _address, adapter, _plan = _world(replay, token, "ed25519")
    with pytest.raises(ChainError) as err:
        adapter.address_of_public_key("p256", bytes(33))
    assert err.value.code == "hsm_wrong_curve"
    for curve, key in (("secp256k1", bytes(32)), ("ed25519", bytes(33))):
        with pytest.raises(ChainError) as err:
            adapter.address_of_public_key(curve, key)
        assert err.value.code == "bad_key"


@pytest.mark.parametrize("curve", ["secp256k1", "ed25519"])
def test_a_token_signature_that_does_not_verify_is_never_returned(replay, token, curve):
    """A token that signs with another key than the one it shows: xrpl-py's verification refuses the
    signature before any blob exists (hsm_bad_signature)."""
    import dataclasses

    from chains.xrpl.sign import sign_with_token

    _public, _address, _adapter, plan = _world(replay, token, curve)
    shown = dataclasses.replace(token_key(token, LABEL), public_key=token.add_key("another", curve))
    with pytest.raises(ChainError) as err:
        sign_with_token(plan.steps[0].tx, shown)
    assert err.value.code == "hsm_bad_signature"
