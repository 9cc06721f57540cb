"""Issue 26 for Stellar: the shared wallet that pays memo refunds kept on a real SoftHSM2 token as an Ed25519
key (``deposit_path = "hsm:<label>"``).  The refund is planned against the loopback Horizon
(tests/support/horizon_replay.py), its key found through the signer's own route (the network file's
``[hsm.keys]``, ``keys_for_plan``), signed by the token, read back with stellar-sdk and sent (the replay
checks the source's signature as Stellar Core does).  A secp256k1 key is refused: no Stellar account is one."""

from __future__ import annotations

import pytest
from stellar_sdk import Keypair, TransactionEnvelope

from chains.base import NATIVE, SweepRequest, adapter_for
from chains.config import HsmOptions, load_networks
from chains.errors import ChainError
from chains.stellar import txbuild
from horizon_replay import HorizonReplay
from recover.casework.signing import NoDepositKeys, keys_for_plan
from softhsm_inprocess import token, token_key  # noqa: F401 - the in-process token fixture

NETWORKS = load_networks(config_dir="")
TESTNET = "Test SDF Network ; September 2015"
LABEL = "stellar-shared"
XLM = 10**7
NOW = 1_900_000_000


@pytest.fixture
def horizon():
    replay = HorizonReplay(TESTNET).start()
    yield replay
    replay.stop()


def _world(horizon, hsm, address: str):
    """The shared wallet ``address`` (funded), the network file naming it for LABEL on the token, its adapter,
    the user and a refund plan of 7 XLM with memo id 1042 to the user."""
    user = Keypair.random().public_key
    horizon.fund(address, 1_000 * XLM)
    horizon.fund(user, 500 * XLM)
    net = NETWORKS["stellar-replay"].resolved({"STELLAR_REPLAY_URL": horizon.url,
                                               "STELLAR_REPLAY_FEE_COLLECTOR": address,
                                               "STELLAR_REPLAY_HOT_WALLET": address})
    adapter = adapter_for(net.model_copy(update={"hsm": HsmOptions(token=hsm.token, keys={LABEL: address})}))
    req = SweepRequest(case_id=1, deposit_address=address, deposit_path=f"hsm:{LABEL}", asset=NATIVE, decimals=7,
                       gross=8 * XLM, net=7 * XLM, fee_total=XLM, destination=user, fee_collector=address,
                       gas_station_path=None, cost_mode="deduct", memo="1042", destination_role="return_address")
    return adapter, user, adapter.prepare(req, adapter.estimate_cost(req), now=NOW)


def test_refund_from_an_hsm_shared_wallet_is_exactly_the_plan_signed_by_the_token(horizon, token):
    public = token.add_key(LABEL, "ed25519")
    address = Keypair.from_raw_ed25519_public_key(public).public_key
    adapter, user, plan = _world(horizon, token, address)
    assert adapter.address_of_public_key("ed25519", public) == address
    (step,) = plan.steps
    assert step.signer_path == f"hsm:{LABEL}" and step.signer_address == address
    (raw,) = adapter.sign(plan, keys_for_plan(adapter, plan, NoDepositKeys(), env=token.env))
    env, fields = txbuild.decode(raw, TESTNET)
    assert fields == {k: str(v) for k, v in step.tx.items()}  # the planned payment, every field
    assert env.hash() == txbuild.envelope(step.tx).hash()  # the very transaction the plan built
    assert (fields["source"], fields["destination"], fields["amount"], fields["memo"]) == (address, user, str(7 * XLM),
                                                                                           "1042")
    (sig,) = TransactionEnvelope.from_xdr(raw, TESTNET).signatures
    signer = Keypair.from_raw_ed25519_public_key(public)
    assert sig.signature_hint == signer.signature_hint()
    signer.verify(env.hash(), sig.signature)  # stellar-sdk's own check; raises when it does not hold
    assert adapter.signed_step_problem(step, raw) is None
    horizon.now = NOW + 10
    assert adapter.broadcast(raw, now=NOW + 10) == env.hash_hex()  # the replay checks the signature too
    assert horizon.balance(user) == 507 * XLM and horizon.balance(address) == 1_000 * XLM - 7 * XLM - 100


def test_secp256k1_token_key_is_refused_and_nothing_is_signed(horizon, token):
    public = token.add_key(LABEL, "secp256k1")
    adapter, _user, plan = _world(horizon, token, Keypair.random().public_key)  # the file's address for LABEL
    with pytest.raises(ChainError) as err:
        adapter.address_of_public_key("secp256k1", public)
    assert err.value.code == "hsm_wrong_curve"
    for key_for_path in (keys_for_plan(adapter, plan, NoDepositKeys(), env=token.env),
                         lambda path: token_key(token, LABEL)):
        with pytest.raises(ChainError) as err:
            adapter.sign(plan, key_for_path)
        assert err.value.code == "hsm_wrong_curve"
    assert horizon.submitted == []


def test_ed25519_token_key_of_another_account_is_refused(horizon, token):
    token.add_key(LABEL, "ed25519")
    adapter, _user, plan = _world(horizon, token, Keypair.random().public_key)
    with pytest.raises(Exception) as err:
        adapter.sign(plan, keys_for_plan(adapter, plan, NoDepositKeys(), env=token.env))
    assert err.value.code == "signer_mismatch"
    with pytest.raises(ChainError) as err:
        adapter.sign(plan, lambda path: token_key(token, LABEL))
    assert err.value.code == "signer_mismatch"


def test_a_token_signature_that_does_not_verify_is_never_attached(horizon, token):
    """A token that signs with another key than the one it shows: stellar-sdk's verification refuses the
    signature before it is attached (hsm_bad_signature)."""
    import dataclasses

    from chains.stellar.sign import sign_with_token

    public = token.add_key(LABEL, "ed25519")
    _adapter, _user, plan = _world(horizon, token, Keypair.from_raw_ed25519_public_key(public).public_key)
    shown = dataclasses.replace(token_key(token, LABEL), public_key=token.add_key("another", "ed25519"))
    env = txbuild.envelope(plan.steps[0].tx)
    with pytest.raises(ChainError) as err:
        sign_with_token(env, shown)
    assert err.value.code == "hsm_bad_signature" and env.signatures == []
