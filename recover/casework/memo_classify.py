"""Pure decisions for shared-wallet (memo) networks: which transfer a claim names, and what kind of
misdeposit it is, from what the ledger recorded and what the exchange's signed memo registry says.

On a ``shared_memo`` network every user pays the exchange's shared address and the memo says whose
deposit it is.  The chain's own record of a successful bank transfer is the amount delivered (no
token contract can fake it), so the proof is the transaction's success and its transfer, not a
balance change of a pooled wallet that moves all day.

Classifications (``MEMO_CLASSIFICATIONS``):

- ``unlisted_asset``: a denomination the exchange does not list, whatever the memo;
- ``missing_memo``: no memo at all;
- ``unknown_memo``: a memo that names no account (or a closed one, or one not of the exchange's form);
- ``below_minimum``: a valid memo, but less than the minimum deposit (the exchange did not credit it);
- ``wrong_memo``: a memo naming another account than the claimant's: that account was credited, so a
  reviewer must look (``WRONG_MEMO_FLAG`` on the case) and the deposit is never paid twice;
- a valid memo naming the claimant's own account is a normal deposit: refused (``listed_asset``).

No I/O: ``recover.casework.verification`` gathers the inputs and persists the outcome.
"""

from __future__ import annotations

import re

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.config import NetworkConfig
from recover.casework.classify import Decision, ProvenDeposit, Registration, refuse, retry
from recover.networks.memos import MemoEntry

MEMO_CLASSIFICATIONS = ("missing_memo", "unknown_memo", "wrong_memo", "below_minimum", "unlisted_asset")
#: the case flag of a deposit whose memo names another account: a reviewer's sign-off before approval
WRONG_MEMO_FLAG = "memo_names_another_account"


def pick_transfers(obs: TxObservation, *, msg_index: int | None, asset: str | None, deposit_address: str | None,
                   shared: dict[str, Registration], address_key) -> list[Transfer] | Decision:
    """The one transfer of ``obs`` the claim names that reaches one of our shared addresses
    (``shared``: address key -> its registration), or the decision why there is none."""
    key = address_key
    out = [t for t in obs.transfers
           if (msg_index is None or t.index == msg_index)
           and (asset is None or (t.asset == NATIVE if asset == NATIVE else t.asset != NATIVE and key(t.asset) == key(asset)))
           and (deposit_address is None or key(t.recipient) == key(deposit_address))]
    if not out:
        return refuse("no_matching_transfer", "the transaction moves nothing"
                      + (f" at message index {msg_index}" if msg_index is not None else "")
                      + (f" to {deposit_address}" if deposit_address else "") + (f" in {asset}" if asset else ""))
    ours = [t for t in out if key(t.recipient) in shared]
    if not ours:  # not final: the address may simply not be imported yet
        what = f"{out[0].recipient} is" if len({t.recipient for t in out}) == 1 else "none of the recipients is"
        return retry("not_ours", f"{what} not one of our shared deposit addresses (the case stays open: import the "
                                 "address and verify it again)")
    if len(ours) > 1:
        return retry("ambiguous_claim", f"the transaction makes {len(ours)} transfers to our shared addresses "
                     f"(indexes {', '.join(str(t.index) for t in ours)}); open the case with --msg-index to say "
                     "which deposit it claims")
    return ours


def memo_classification(net: NetworkConfig, transfer: Transfer, amount: int, entry: MemoEntry | None,
                        credit_account: str | None) -> tuple[str, str]:
    """``(classification, why)`` of a deposit to our shared address; ``listed_asset`` for a normal one."""
    listed = transfer.asset == NATIVE or net.listed_token(transfer.asset) is not None
    if not listed:
        return "unlisted_asset", f"{transfer.asset} is not an asset the exchange lists on {net.key}"
    memo = transfer.memo
    if memo is None or memo.strip() == "":
        return "missing_memo", "the deposit carries no memo"
    if net.memo_pattern and not re.fullmatch(net.memo_pattern, memo):
        return "unknown_memo", f"memo {memo!r} is not of the exchange's form"
    if entry is None:
        return "unknown_memo", f"memo {memo!r} names no account"
    if entry.status != "active":
        return "unknown_memo", f"memo {memo!r} names account {entry.account}, which is {entry.status}"
    minimum = net.native_min_deposit if transfer.asset == NATIVE else net.listed_token(transfer.asset).min_deposit
    if amount < minimum:
        return "below_minimum", f"{amount} base units is below the minimum deposit of {minimum}"
    if credit_account is not None and credit_account == entry.account:
        return "listed_asset", f"memo {memo!r} names the claimant's own account {entry.account}"
    return "wrong_memo", f"memo {memo!r} names account {entry.account}, not the claimant's"


def decide_memo(net: NetworkConfig, obs: TxObservation, proof: BalanceProof, here: Registration,
                entry: MemoEntry | None, *, credit_account: str | None) -> Decision:
    """Decide one claim of a deposit to our shared address (the transaction already checked: found,
    successful, confirmed)."""
    t = proof.transfer
    amount = t.amount  # what the ledger delivered in a successful bank transfer
    if amount <= 0:
        return refuse("no_deposit", "the transfer moves nothing")
    classification, why = memo_classification(net, t, amount, entry, credit_account)
    if classification == "listed_asset":
        return refuse("listed_asset", f"this is a normal deposit ({why}): send it to the normal credit flow, "
                                      "not recovery")
    details = {"memo_model": True, "memo": t.memo, "memo_account": entry.account if entry else None,
               "memo_status": entry.status if entry else None, "why": why,
               "proof": "transfer of a successful transaction, as the ledger recorded it",
               "event_amount": str(t.amount), "balance_now": str(proof.now)}
    deposit = ProvenDeposit(t.index, t.sender, t.recipient, t.asset, proof.symbol, proof.decimals, amount, details)
    return Decision("verified", "verified", f"{classification}: {amount} base units proven ({why})", classification,
                    (deposit,), {"registration": here.__dict__})
