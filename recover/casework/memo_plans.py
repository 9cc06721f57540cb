"""The two resolutions of a shared-wallet (memo) deposit, for every memo family alike.

- *credit*: the deposit already sits in the exchange's shared wallet, so crediting the claimant's account
  moves nothing on chain.  Its plan has no steps: the approvers approve the credit itself (account,
  amount, fee), the signer records it once approved (``case sign``: approved -> completed) and
  ``credits export`` hands it to the ledger once, like any credit.
- *refund to source*: a payment from the shared wallet back to the deposit's sender, minus the fee,
  carrying the claimant's memo; built by the family's adapter (``SweepRequest.memo``) and approved,
  signed, broadcast and tracked like any sweep.  The fee is not moved: it stays in the shared wallet.

Also the rules both resolutions rest on, checked at prepare and again by the signer: a refund goes
back to the address that sent the deposit (sent from elsewhere it would pay a stranger), and never
without a memo to an address that credits only with one.
"""

from __future__ import annotations

from chains.base import HOT_WALLET, SweepPlan
from recover.errors import PolicyRefused

CREDIT_IN_PLACE = "credit_in_place"  # plan meta ``resolution`` of a credit that moves nothing on chain
REFUND = "refund_to_source"


def is_memo_network(net) -> bool:
    return net.deposit_model == "shared_memo"


def credit_plan(case, net, facts, *, quote, hot_wallet: str, fee_collector: str) -> SweepPlan:
    """The stepless plan of a credit: what the approvers approve and the signer re-checks."""
    return SweepPlan(network=net.key, family=net.family, case_id=case.id, asset=facts[0].asset,
                     gross=sum(f.amount for f in facts), net=quote.net, fee_total=quote.fee, native_cost=0,
                     destination=hot_wallet, fee_collector=fee_collector, steps=(),
                     meta={"destination_role": HOT_WALLET, "resolution": CREDIT_IN_PLACE,
                           "account": case.credit_account})


def credit_rows(plan: SweepPlan, symbol: str | None) -> list[dict]:
    """The one row people read of a credit plan (``case show``, the approval queue)."""
    unit = symbol or plan.asset
    return [{"seq": 0, "role": "credit", "signer": "", "after": [],
             "summary": f"credit {plan.net} base units of {unit} to account {plan.meta.get('account')}; the deposit "
                        f"stays in our shared wallet (fee {plan.fee_total} base units kept); nothing is sent on chain",
             "moves": [], "detail": {"account": plan.meta.get("account"), "resolution": CREDIT_IN_PLACE}}]


def refund_problem(destination: str, sender: str | None, key) -> str | None:
    """Why a refund to ``destination`` is not a refund to the deposit's sender, or None."""
    if sender is None:
        return "the deposit's sender is not known"
    if key(destination) != key(sender):
        return (f"a refund goes back to the address that sent the deposit ({sender}), not to {destination}; to pay "
                "the claimant elsewhere, credit their account")
    return None


def check_refund_to_sender(case_id: int, destination: str, sender: str | None, key) -> None:
    problem = refund_problem(destination, sender, key)
    if problem:
        raise PolicyRefused(f"case {case_id}: {problem}", code="refund_not_to_sender")
