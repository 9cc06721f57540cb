"""Pure verification decisions: from what the chain said (observation, balance proofs) and what
our registry says (whose address, which network, active or retired), decide whether a claim is a
recoverable misdeposit, which kind, and exactly how much, or why not.

No I/O here: ``recover.casework.verification`` gathers the inputs and persists the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.config import NetworkConfig

def symbol_lookalike(net: NetworkConfig, asset: str, symbol: str | None) -> bool:
    """Whether a token the exchange does not list names itself like the network's own coin or one of
    its listed tokens (an unlisted token can call itself "USDT"): people who read the symbol alone
    would take it for the real one, so the case is flagged and reads show its contract too."""
    if asset == NATIVE or not symbol or net.listed_token(asset) is not None:
        return False
    names = {net.native_symbol, *(t.symbol for t in net.listed_tokens)}
    return symbol.strip().casefold() in {n.strip().casefold() for n in names if n}


INTERNAL_NATIVE_INDEX = -2  # native value moved by an internal call (not the transaction's own value)


@dataclass(frozen=True)
class Registration:
    network: str
    status: str  # active | retired
    derivation_path: str
    account: str


@dataclass(frozen=True)
class ProvenDeposit:
    index: int
    sender: str | None
    recipient: str
    asset: str
    symbol: str | None
    decimals: int
    amount: int
    details: dict


@dataclass(frozen=True)
class Decision:
    """``outcome``: verified | refused (final: the case becomes unrecoverable) | retry (stays open)."""

    outcome: str
    code: str
    message: str
    classification: str | None = None
    deposits: tuple[ProvenDeposit, ...] = ()
    extra: dict = field(default_factory=dict)


def retry(code: str, message: str) -> Decision:
    return Decision("retry", code, message)


def refuse(code: str, message: str) -> Decision:
    return Decision("refused", code, message)


def check_transaction(obs: TxObservation, net: NetworkConfig) -> Decision | None:
    """Refusals that need only the transaction: missing, failed, not confirmed enough."""
    if not obs.found:
        return retry("tx_not_found", f"transaction {obs.txid} is not known to the {net.key} node "
                                     "(wrong network or txid, or not propagated yet)")
    if obs.block_number is None:
        return retry("unconfirmed", f"0 of {net.confirmations} confirmations: the transaction is still pending")
    if obs.success is False:
        return refuse("tx_failed", f"the transaction failed on-chain ({obs.failure_reason or 'reverted'}): "
                                   "nothing was deposited")
    if obs.confirmations < net.confirmations:
        return retry("unconfirmed", f"{obs.confirmations} of {net.confirmations} confirmations")
    return None


def candidate_transfers(obs: TxObservation, deposit_address: str | None, asset: str | None,
                        address_key: Callable[[str], str]) -> list[Transfer]:
    """Transfers matching what the claim names (address and asset), in log order; ``address_key``
    is the family's comparison form of an address (the adapter's)."""

    def same(a: str, b: str) -> bool:
        return address_key(a) == address_key(b)

    out = []
    for t in obs.transfers:
        if deposit_address and not same(t.recipient, deposit_address):
            continue
        if asset:
            if asset == NATIVE and t.asset != NATIVE:
                continue
            if asset != NATIVE and (t.asset == NATIVE or not same(t.asset, asset)):
                continue
        out.append(t)
    return out


def decide(net: NetworkConfig, obs: TxObservation, proofs: list[BalanceProof],
           here: Registration | None, elsewhere: list[Registration]) -> Decision:
    """Decide one claim whose transfers all go to one recipient in one asset."""
    if not proofs:
        return refuse("no_deposit", "the transaction moves nothing matching the claim")
    recipient = proofs[0].transfer.recipient
    if here is None and not elsewhere:
        return retry("not_ours", f"{recipient} is not one of our deposit addresses (yet: the case stays open and "
                                 "can be verified again once the address is imported)")
    asset = proofs[0].transfer.asset
    deposits: list[ProvenDeposit] = []
    for p in proofs:
        t = p.transfer
        if t.asset == NATIVE and t.index != INTERNAL_NATIVE_INDEX:
            amount = t.amount  # a successful transaction's own value cannot be faked
            note = "native value of the transaction"
        elif t.asset == NATIVE:
            # moved by the claimed transaction's own internal calls (its trace), never by the balance
            # change across the block: another transaction of the block may have paid the address
            amount = t.amount
            note = "internal transfers in the transaction's call trace"
        else:
            received = p.received
            if received is None:
                return retry("no_historic_state",
                             f"the node cannot answer balances at block {obs.block_number}: a "
                             f"{'token transfer' if t.asset != NATIVE else 'internal transfer'} "
                             "can only be proven by balances (use an archive node)")
            if received <= 0:
                claimed = f" although its Transfer event claims {t.amount}" if t.asset != NATIVE else ""
                return refuse("balance_not_moved",
                              f"the balance of {t.recipient} did not rise across block {obs.block_number}{claimed}: "
                              "nothing was deposited (fake-event token?)")
            amount = received if t.asset == NATIVE else min(received, t.amount)
            note = ("balance change across the block" if t.asset == NATIVE else
                    "fee-on-transfer: received less than the event says" if received < t.amount else
                    "event confirmed by balances")
        extra = {k: (v if isinstance(v, (str, int, bool)) or v is None else str(v))
                 for k, v in (getattr(p, "details", None) or {}).items()}
        deposits.append(ProvenDeposit(t.index, t.sender, t.recipient, t.asset, p.symbol, p.decimals, amount,
                                      {**extra, "event_amount": str(t.amount), "balance_before": _s(p.before),
                                       "balance_after": _s(p.after), "balance_now": str(p.now), "proof": note}))
    total = sum(d.amount for d in deposits)
    now = proofs[-1].now
    if now < total:
        return refuse("funds_gone", f"{recipient} now holds {now} base units of the asset, less than the "
                                    f"{total} deposited: the funds have moved")
    nested = any((getattr(p, "details", None) or {}).get("nested") for p in proofs)
    classification = _classify(net, asset, total, proofs[0].recipient_has_code, here, elsewhere, nested=nested)
    if classification == "listed_asset":
        return refuse("listed_asset", "this is a normal deposit of a listed asset to an active address: "
                                      "send it to the normal credit flow, not recovery")
    return Decision("verified", "verified", f"{classification}: {total} base units proven", classification,
                    tuple(deposits), {"registration": (here or elsewhere[0]).__dict__})


def _classify(net: NetworkConfig, asset: str, amount: int, has_code: bool, here: Registration | None,
              elsewhere: list[Registration], *, nested: bool = False) -> str:
    if here is None:
        return "wrong_network"
    if nested:  # Solana: tokens in an ATA owned by our wallet's ATA (recovered with RecoverNested)
        return "nested_token_account"
    if has_code:
        return "to_contract"
    if here.status == "retired":
        return "retired_address"
    if asset == NATIVE:
        return "below_minimum" if amount < net.native_min_deposit else "listed_asset"
    token = net.listed_token(asset)
    if token is None:
        return "unlisted_token"
    return "below_minimum" if amount < token.min_deposit else "listed_asset"


def _s(v: int | None) -> str | None:
    return None if v is None else str(v)
