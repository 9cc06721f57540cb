"""From a case to the adapter's ``SweepRequest``: who gets what, from which key.

Destinations are the user's return address (net) or, for a credit-account case, the network's hot
wallet; the fee collector gets the fee plus any network cost deducted in the asset.  The request also
says how much native at the deposit address is ours to burn for gas (everything else there belongs
to deposits) and which gas-station nonces other live plans hold (:mod:`recover.casework.gasbook`).
"""

from __future__ import annotations

from sqlmodel import Session, select

from chains.base import HOT_WALLET, RETURN_ADDRESS, SweepRequest
from chains.config import NetworkConfig
from recover.errors import IllegalTransition, InvalidInput, VerificationRefused
from recover.networks.addresses import find_address, find_address_any_network
from recover.networks.chainio import resolved
from recover.networks.registry import family_networks
from recover.storage.models import Case, DepositFact


def destination_role(case: Case) -> str:
    """Where the case's net goes, as its plan's rows say it: the user's return address, or our hot
    wallet for a credit to the user's exchange account."""
    return RETURN_ADDRESS if case.return_address else HOT_WALLET


def case_facts(session: Session, case: Case) -> list[DepositFact]:
    facts = list(session.exec(select(DepositFact).where(DepositFact.case_id == case.id)
                              .order_by(DepositFact.deposit_index)))
    if not facts:
        raise IllegalTransition(f"case {case.id} has no verified deposit: run `recover case verify {case.id}`",
                                code="not_verified")
    assets = {f.asset for f in facts}
    if len(assets) != 1:
        raise InvalidInput(f"case {case.id} mixes assets {sorted(assets)}; one case recovers one asset")
    return facts


def build_request(session: Session, case: Case, net: NetworkConfig, facts: list[DepositFact], *,
                  net_amount: int, fee_total: int, cost_mode: str, gas_station_address: str | None,
                  own_native: int = 0, station_reserved: tuple[int, ...] = ()) -> SweepRequest:
    """``own_native``: the native at the deposit address that is ours to burn for gas (the gas book,
    :mod:`recover.casework.gasbook`); ``station_reserved``: gas-station nonces other live plans hold."""
    # the wallets may be ${ENV} placeholders until the network is used: the fee collector is always
    # paid, the hot wallet only by a credit-account case
    net = resolved(net, wallets=("fee_collector",) if case.return_address else ("fee_collector", "hot_wallet"))
    deposit = facts[0].receiving_address
    details = facts[0].details or {}
    # Solana nested token account: the deposit sits under our wallet's token account; the key is the wallet's.
    owner = details.get("wallet") if details.get("nested") else None
    registered = find_address(session, net.key, net.family, owner or deposit)
    if registered is None:  # wrong_network: ours on a sibling network of the family, same key
        family = family_networks(net.family)
        registered = next((r for r in find_address_any_network(session, net.family, owner or deposit)
                           if r.network in family), None)
    if registered is None:
        raise VerificationRefused(f"{deposit} is not in our address registry for {net.key}", code="not_ours")
    destination = case.return_address or net.hot_wallet
    return SweepRequest(
        case_id=case.id,
        deposit_address=deposit,
        deposit_path=registered.derivation_path,
        asset=facts[0].asset,
        decimals=facts[0].decimals,
        gross=sum(f.amount for f in facts),
        net=net_amount,
        fee_total=fee_total,
        destination=destination,
        destination_role=destination_role(case),
        fee_collector=net.fee_collector,
        gas_station_path=net.gas_station_path,
        gas_station_address=gas_station_address,
        cost_mode=cost_mode,
        own_native=own_native,
        station_reserved=tuple(station_reserved),
        memo=case.return_memo,  # shared-wallet refunds: the memo the payment carries
        # the exact deposits proven on chain: output-based families spend exactly these
        outputs=tuple({"txid": f.txid, "index": f.deposit_index, "amount": str(f.amount),
                       **({"script_type": f.details.get("script_type")} if f.details.get("script_type") else {})}
                      for f in facts),
    )
