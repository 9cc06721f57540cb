"""The shared-wallet (memo) model's pure rules, without a node: which transfer a claim names, how a
deposit to our shared address is classified, who may be refunded, and which conditions a credit or a
refund waits for.  The model is the domain's, for every memo family: these tests use an EVM-shaped
network file set to ``shared_memo`` on purpose (nothing in the rules asks which family it is)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.config import NetworkConfig
from chains.errors import NetworkConfigError
from recover.authority.approval_state import required_conditions
from recover.casework.classify import Registration
from recover.casework.memo_classify import decide_memo, memo_classification, pick_transfers
from recover.casework.memo_plans import refund_problem
from recover.networks.memos import MemoEntry

SHARED = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
SENDER = "0x" + "ef" * 20
TOKEN = "0x" + "12" * 20


def memo_net(**kw) -> NetworkConfig:
    base = dict(key="memo-test", name="memo test", family="evm", chain_id=999, recovery_class="conditional",
                conditions=("shared_address_memo", "ownership_proof"), reason="shared wallet",
                rpc_urls=("http://127.0.0.1:1",), confirmations=1, native_symbol="COIN", native_decimals=6,
                native_min_deposit=1_000, fee_collector=OTHER, hot_wallet=SHARED, deposit_model="shared_memo",
                memo_pattern="^[0-9]{1,10}$",
                listed_tokens=({"symbol": "USD", "address": TOKEN, "decimals": 6, "min_deposit": 500},))
    base.update(kw)
    return NetworkConfig(**base)


def transfer(index=0, memo="42", asset=NATIVE, to=SHARED, amount=5_000) -> Transfer:
    return Transfer(index=index, asset=asset, sender=SENDER, recipient=to, amount=amount, memo=memo)


def obs(*transfers) -> TxObservation:
    return TxObservation(txid="AA" * 32, found=True, success=True, block_number=10, confirmations=3,
                         sender=SENDER, transfers=tuple(transfers))


SHARED_REGS = {SHARED: Registration("memo-test", "active", "m/44'/60'/0'/0/0", "shared")}


def test_a_network_file_says_its_deposit_model_and_memo_rules():
    assert memo_net().deposit_model == "shared_memo"
    assert NetworkConfig(**{**memo_net().model_dump(exclude={"source"}), "deposit_model": "per_address",
                            "memo_pattern": None}).deposit_model == "per_address"
    with pytest.raises(ValueError, match="shared_address_memo"):
        memo_net(conditions=("ownership_proof",))
    with pytest.raises(ValueError, match="memo_pattern: not a regular expression"):
        memo_net(memo_pattern="([0-9")
    with pytest.raises(ValueError, match="only for deposit_model"):
        memo_net(deposit_model="per_address")


def test_a_file_with_memo_settings_on_a_per_address_network_is_refused(tmp_path):
    from chains.config import load_network_file

    text = (tmp_path / "x.toml")
    text.write_text('key = "x"\nname = "x"\nfamily = "evm"\nchain_id = 5\nrecovery_class = "direct"\n'
                    'rpc_urls = ["http://127.0.0.1:1"]\nconfirmations = 1\nnative_symbol = "E"\nnative_decimals = 18\n'
                    f'fee_collector = "{OTHER}"\nhot_wallet = "{SHARED}"\nmemo_pattern = "^[0-9]+$"\n')
    with pytest.raises(NetworkConfigError, match="only for deposit_model"):
        load_network_file(text)


def test_pick_names_one_transfer_to_our_shared_address():
    o = obs(transfer(0), transfer(1, memo=None), transfer(2, to=OTHER))
    key = str.lower
    assert pick_transfers(o, msg_index=1, asset=None, deposit_address=None, shared=SHARED_REGS,
                          address_key=key)[0].index == 1
    ambiguous = pick_transfers(o, msg_index=None, asset=None, deposit_address=None, shared=SHARED_REGS,
                               address_key=key)
    assert (ambiguous.outcome, ambiguous.code) == ("retry", "ambiguous_claim") and "0, 1" in ambiguous.message
    not_ours = pick_transfers(o, msg_index=2, asset=None, deposit_address=None, shared=SHARED_REGS, address_key=key)
    assert (not_ours.outcome, not_ours.code) == ("retry", "not_ours")
    none = pick_transfers(o, msg_index=7, asset=None, deposit_address=None, shared=SHARED_REGS, address_key=key)
    assert (none.outcome, none.code) == ("refused", "no_matching_transfer")
    token_only = pick_transfers(obs(transfer(0), transfer(1, asset=TOKEN)), msg_index=None, asset=TOKEN,
                                deposit_address=None, shared=SHARED_REGS, address_key=key)
    assert [t.index for t in token_only] == [1]


@pytest.mark.parametrize("t,entry,credit,expected", [
    (transfer(memo=None), None, None, "missing_memo"),
    (transfer(memo="   "), None, None, "missing_memo"),
    (transfer(memo="abc"), None, None, "unknown_memo"),              # not of the exchange's form
    (transfer(memo="42"), None, None, "unknown_memo"),               # names nobody
    (transfer(memo="42"), MemoEntry("42", "acct-1", "closed"), None, "unknown_memo"),
    (transfer(memo="42", amount=999), MemoEntry("42", "acct-1", "active"), "acct-9", "below_minimum"),
    (transfer(memo="42"), MemoEntry("42", "acct-1", "active"), "acct-9", "wrong_memo"),
    (transfer(memo="42"), MemoEntry("42", "acct-1", "active"), None, "wrong_memo"),  # a refund asked instead
    (transfer(memo="42"), MemoEntry("42", "acct-1", "active"), "acct-1", "listed_asset"),
    (transfer(memo=None, asset="0x" + "99" * 20), None, None, "unlisted_asset"),
    (transfer(memo="42", asset=TOKEN, amount=400), MemoEntry("42", "acct-1", "active"), "acct-2", "below_minimum"),
])
def test_classification_of_a_deposit_to_the_shared_wallet(t, entry, credit, expected):
    assert memo_classification(memo_net(), t, t.amount, entry, credit)[0] == expected


def proof(t: Transfer) -> BalanceProof:
    return BalanceProof(transfer=t, before=None, after=None, now=10**9, decimals=6, symbol="COIN",
                        recipient_has_code=False)


def test_decide_keeps_what_the_ledger_delivered_and_the_memo():
    t = transfer(memo=None, amount=7_777)
    d = decide_memo(memo_net(), obs(t), proof(t), SHARED_REGS[SHARED], None, credit_account="acct-5")
    assert (d.outcome, d.classification) == ("verified", "missing_memo")
    dep = d.deposits[0]
    assert (dep.amount, dep.sender, dep.index, dep.details["memo"], dep.details["memo_model"]) == \
        (7_777, SENDER, 0, None, True)
    own = transfer(memo="42")
    normal = decide_memo(memo_net(), obs(own), proof(own), SHARED_REGS[SHARED], MemoEntry("42", "acct-5", "active"),
                         credit_account="acct-5")
    assert (normal.outcome, normal.code) == ("refused", "listed_asset")
    nothing = transfer(amount=0)
    assert decide_memo(memo_net(), obs(nothing), proof(nothing), SHARED_REGS[SHARED], None,
                       credit_account=None).code == "no_deposit"


def test_a_refund_goes_back_to_the_sender_only():
    assert refund_problem(SENDER.upper().replace("0X", "0x"), SENDER, str.lower) is None
    assert "goes back to the address that sent" in refund_problem(OTHER, SENDER, str.lower)
    assert "not known" in refund_problem(OTHER, None, str.lower)


def signed_case(*, credit=None, ret=None, conditions=(), flags=()):
    return SimpleNamespace(claim_fields={"credit_account": credit, "return_address": ret},
                           conditions={c: object() for c in conditions}, flags=set(flags))


def test_a_credit_waits_for_the_senders_proof_or_a_review_and_a_refund_for_neither():
    net = memo_net()
    assert required_conditions(net, signed_case(credit="acct-1")) == ["ownership_proof"]
    assert required_conditions(net, signed_case(credit="acct-1", conditions=("manual_review",))) == ["manual_review"]
    assert required_conditions(net, signed_case(ret=SENDER)) == []
    # a wrong memo (flagged) always waits for a reviewer
    assert "manual_review" in required_conditions(net, signed_case(ret=SENDER, flags=("memo_names_another_account",)))
    # another condition of the network still applies to both
    more = memo_net(conditions=("shared_address_memo", "ownership_proof", "min_value"))
    assert required_conditions(more, signed_case(ret=SENDER)) == ["min_value"]
    # a per-address network is unchanged: its conditions as listed
    per = NetworkConfig(**{**net.model_dump(exclude={"source"}), "deposit_model": "per_address", "memo_pattern": None,
                           "conditions": ("ownership_proof",)})
    assert required_conditions(per, signed_case(ret=SENDER)) == ["ownership_proof"]
