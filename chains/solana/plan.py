"""The sweep plan, built purely from facts the node gave (:mod:`chains.solana.prepare` gathers them):
cost parameters, the checks that make the plan exact, and its instructions.

One transaction, two signatures: the gas station is the fee payer (and pays any rent), the deposit
owner signs for its funds.  The plan stores the *instructions* (JSON-safe), not a blockhash: the
plan hash covers the instructions; signing fetches a fresh blockhash.

Each deposit's money is its own without a gas book here (``SweepRequest.own_native`` is not needed):
a native sweep moves exactly its ``gross`` (net, fee, and in ``deduct`` mode the network cost back to
the gas station) and leaves any other lamports at the wallet; a token sweep moves ``gross`` of its
mint, and fees and rent are the gas station's, so the wallet's lamports (another deposit's, perhaps)
are never spent; a nested recovery hands the wallet back exactly the lamports it passes through.
Solana has no account nonces: nothing to reserve at the gas station either.
"""

from __future__ import annotations

from typing import Any

from chains.base import NATIVE, CostEstimate, PlanStep, SweepPlan, SweepRequest
from chains.errors import PermanentChainError, SweepRefused
from chains.solana import spl
from chains.solana.common import LAMPORTS_PER_SIGNATURE, PARAMS_VERSION, TX_FORMAT, encode_ix, pubkey

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.

SIGNATURES = 2  # the gas station (fee payer) and the deposit owner


# -- nested deposits (pure) ---------------------------------------------------------------------------
def nested_facts(request: SweepRequest, dep_acc: dict | None, program: str) -> dict | None:
    """None for an ordinary deposit; for a deposit address that is a token account (tokens sent to an
    ATA's address as if it were a wallet) the accounts of RecoverNested, checked to be recoverable."""
    parent = spl.token_account(dep_acc)
    if parent is None:
        return None
    deposit, wallet = request.deposit_address, parent["owner"]
    details = {"parent_token_account": deposit, "wallet": wallet, "parent_mint": parent["mint"],
               "nested_mint": request.asset}
    if parent["program"] != program:
        raise PermanentChainError(f"the nested mint {request.asset} belongs to {program}, the parent token account "
                                  f"{deposit} to {parent['program']}: RecoverNested needs one token program",
                                  code="nested_not_recoverable", details=details)
    if spl.ata(wallet, parent["mint"], program) != deposit:
        raise PermanentChainError(f"{deposit} is a token account of {wallet} but not its associated token account "
                                  f"for {parent['mint']}: RecoverNested cannot sign for it",
                                  code="nested_not_recoverable", details=details)
    if wallet in (request.gas_station_address, request.destination, request.fee_collector):
        raise SweepRefused(f"the nested deposit's wallet {wallet} is also the gas station, destination or fee "
                           "collector", code="destination_unusable", details=details)
    return {**details, "token_program": program, "token_account": spl.ata(deposit, request.asset, program),
            "wallet_ata": spl.ata(wallet, request.asset, program)}


def nested_accounts(request: SweepRequest, nested: dict, nested_acc: dict | None, wallet_ata_acc: dict | None,
                    rent_ata: int) -> None:
    """Fill ``nested`` with the balances that decide the plan: what RecoverNested moves, whether the
    wallet's ATA for the mint must be created (and closes again), the rent returned to the wallet."""
    info = spl.token_account(nested_acc)
    if info is None or info["mint"] != request.asset or info["owner"] != request.deposit_address:
        raise PermanentChainError(f"there is no nested token account {nested['token_account']} of "
                                  f"{request.deposit_address} for {request.asset} any more",
                                  code="funds_missing", details={"token_account": nested["token_account"]})
    wallet_ata = spl.token_account(wallet_ata_acc)
    if wallet_ata_acc is not None and (wallet_ata is None or wallet_ata["mint"] != request.asset
                                       or wallet_ata["owner"] != nested["wallet"]):
        raise SweepRefused(f"the wallet's associated token account {nested['wallet_ata']} exists but is not a "
                           f"token account of {nested['wallet']} for {request.asset}", code="destination_unusable")
    held_before = wallet_ata["amount"] if wallet_ata else 0
    # closed at the end when it is left empty: it then ends as it began (absent, or never holding more)
    close = held_before + info["amount"] == request.gross
    create = wallet_ata_acc is None
    nested.update({"nested_amount": info["amount"], "nested_lamports": int(nested_acc["lamports"]),
                   "wallet_ata_amount": held_before, "create_wallet_ata": create, "close_wallet_ata": close,
                   # created and closed in the same transaction: the gas station gets its rent back
                   "temporary_rent": rent_ata if create and close else 0,
                   "kept_rent": rent_ata if create and not close else 0})


# -- cost (pure) --------------------------------------------------------------------------------------
def cost_estimate(request: SweepRequest, facts: dict) -> CostEstimate:
    """``LAMPORTS_PER_SIGNATURE`` x 2 signatures, plus for SPL the rent of each ATA the sweep creates
    (and of the wallet's ATA a nested sweep leaves holding other tokens)."""
    is_native = request.asset == NATIVE
    nested = facts.get("nested")
    fee = SIGNATURES * LAMPORTS_PER_SIGNATURE
    rent = 0 if is_native else len(facts["missing"]) * facts["rent_ata"] + (nested["kept_rent"] if nested else 0)
    params = {
        "version": PARAMS_VERSION,
        "kind": "native" if is_native else "token",
        "signatures": SIGNATURES,
        "lamports_per_signature": str(LAMPORTS_PER_SIGNATURE),
        "fee": str(fee),
        "rent": str(rent),
        "create_atas": [] if is_native else list(facts["missing"]),
        "token_program": None if is_native else facts["program"],
        "cost_mode": request.cost_mode,
    }
    if nested:
        params["nested"] = {"wallet": nested["wallet"], "token_account": nested["token_account"],
                            "create_wallet_ata": nested["create_wallet_ata"],
                            "close_wallet_ata": nested["close_wallet_ata"],
                            "temporary_rent": str(nested["temporary_rent"]),
                            "kept_rent": str(nested["kept_rent"])}
    return CostEstimate(native_cost=fee + rent, params=params)


def check_quote(request: SweepRequest, cost: CostEstimate) -> None:
    """The quote's parameters fit this request, and the gas station is known."""
    params = cost.params
    if int(params.get("version", 0)) != PARAMS_VERSION or params.get("kind") != (
            "native" if request.asset == NATIVE else "token"):
        raise SweepRefused("the quote's cost parameters are from another version or asset kind: re-quote",
                           code="requote")
    if int(params["fee"]) + int(params["rent"]) != cost.native_cost:
        raise SweepRefused("the quote's native cost does not match its parameters: re-quote", code="requote")
    if not request.gas_station_address or not request.gas_station_path:
        raise SweepRefused("the gas station pays every Solana sweep's fee: its address and path must be known "
                           "(configure gas_station_path and the signer, or RECOVER_GAS_STATION_ADDRESS)",
                           code="gas_station_unknown")
    for addr, what in ((request.deposit_address, "deposit address"), (request.gas_station_address, "gas station"),
                       (request.destination, "destination"), (request.fee_collector, "fee collector")):
        pubkey(addr, what)
    if request.gas_station_address == request.deposit_address:
        raise SweepRefused("the gas station cannot be the deposit address", code="gas_station_unknown")


# -- the plan (pure) ----------------------------------------------------------------------------------
def build_plan(network: str, request: SweepRequest, cost: CostEstimate, facts: dict, *, deposit_lamports: int | None,
               station_lamports: int, holdings: list[tuple[str, dict]]) -> SweepPlan:
    """The unsigned plan (not simulated yet) from the quote's ``cost`` and the facts read now."""
    params = cost.params
    deposit, station = request.deposit_address, request.gas_station_address
    is_native = request.asset == NATIVE
    signer, temporary = deposit, 0
    meta: dict[str, Any] = {"lamports_per_signature": str(LAMPORTS_PER_SIGNATURE), "signatures": SIGNATURES,
                            "blockhash": "fetched at signing"}
    if is_native:
        reimburse = cost.native_cost if request.cost_mode == "deduct" else 0
        if request.net < 0 or request.fee_total < 0 or request.net + request.fee_total + reimburse != request.gross:
            raise SweepRefused(
                f"amounts do not add up: net {request.net} + fee {request.fee_total} + network cost paid by the "
                f"deposit {reimburse} != gross {request.gross}", code="amounts_mismatch")
        if deposit_lamports < request.gross:
            raise PermanentChainError(f"the deposit address {deposit} holds {deposit_lamports} lamports, less than "
                                      f"the {request.gross} to sweep", code="funds_missing",
                                      details={"held": str(deposit_lamports), "gross": str(request.gross)})
        residue = deposit_lamports - request.gross
        if 0 < residue < facts["rent0"]:
            raise SweepRefused(
                f"the deposit address holds {deposit_lamports} lamports; moving {request.gross} would leave {residue}, "
                f"above 0 but below the rent-exempt minimum {facts['rent0']}, which the runtime refuses: sweep "
                "the whole balance (re-verify/re-quote) or decide by hand", code="rent_residue",
                details={"held": str(deposit_lamports), "gross": str(request.gross), "rent_min": str(facts["rent0"])})
        instructions = native_instructions(deposit, request, station, reimburse)
        meta.update({"deposit_lamports_before": str(deposit_lamports), "closes_deposit": residue == 0,
                     "reimburse_gas_station": str(reimburse)})
    else:
        nested = _check_token_facts(request, params, facts)
        if nested:
            if nested["nested_amount"] < request.gross:
                raise PermanentChainError(
                    f"the nested token account {nested['token_account']} holds {nested['nested_amount']} of "
                    f"{request.asset}, less than the {request.gross} to sweep", code="funds_missing",
                    details={"held": str(nested["nested_amount"]), "gross": str(request.gross)})
            signer = nested["wallet"]
            instructions = nested_instructions(request, station, nested, facts["atas"])
            temporary = nested["temporary_rent"]
            meta.update({"token_program": facts["program"], "source_token_account": nested["wallet_ata"],
                         "close_source": nested["close_wallet_ata"], "create_atas": list(facts["missing"]),
                         "nested": {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                                    for k, v in nested.items()}})
        else:
            ata = spl.ata(deposit, request.asset, facts["program"])
            by_addr = dict(holdings)
            source = ata if by_addr.get(ata, {}).get("amount", 0) >= request.gross else next(
                (a for a, i in holdings if i["amount"] >= request.gross), None)
            held = sum(i["amount"] for _, i in holdings)
            if source is None:
                raise PermanentChainError(
                    f"no token account of {deposit} for {request.asset} holds {request.gross} "
                    f"(total held {held} in {len(holdings)} account{'' if len(holdings) == 1 else 's'})", code="funds_missing",
                    details={"held": str(held), "gross": str(request.gross)})
            close = by_addr[source]["amount"] == request.gross
            instructions = token_instructions(deposit, request, station, facts["program"], source, facts["atas"], close)
            meta.update({"token_program": facts["program"], "source_token_account": source, "close_source": close,
                         "create_atas": list(facts["missing"])})
    needed = cost.native_cost + temporary
    if station_lamports < needed:
        raise SweepRefused(f"the gas station {station} holds {station_lamports} lamports, less than the "
                           f"{needed} the sweep needs: fund it", code="gas_station_underfunded",
                           details={"address": station, "balance": str(station_lamports), "needed": str(needed)})
    step = PlanStep(seq=0, role="sweep", signer_address=signer, signer_path=request.deposit_path,
                    tx={"format": TX_FORMAT, "fee_payer": station, "fee_payer_path": request.gas_station_path,
                        "instructions": instructions})
    return SweepPlan(network=network, family="solana", case_id=request.case_id, asset=request.asset,
                     gross=request.gross, net=request.net, fee_total=request.fee_total, native_cost=cost.native_cost,
                     destination=request.destination, fee_collector=request.fee_collector, steps=(step,),
                     meta={**meta, **request.role_meta()})


def _check_token_facts(request: SweepRequest, params: dict, facts: dict) -> dict | None:
    """A token sweep's amounts, decimals, program and accounts still fit the quote; its nested facts."""
    if request.net < 0 or request.fee_total < 0 or request.net + request.fee_total != request.gross:
        raise SweepRefused(f"amounts do not add up: net {request.net} + fee {request.fee_total} != gross "
                           f"{request.gross}", code="amounts_mismatch")
    if facts["decimals"] != request.decimals:
        raise PermanentChainError(f"mint {request.asset} has {facts['decimals']} decimals, not the "
                                  f"{request.decimals} verified", code="decimals_mismatch")
    if params.get("token_program") != facts["program"]:
        raise SweepRefused("the mint's token program differs from the quote's: re-quote", code="requote")
    more = [r for r in facts["missing"] if r not in params.get("create_atas", [])]
    if more:
        raise SweepRefused(f"the sweep now has to create {', '.join(more)} token account{'' if len(more) == 1 else 's'} the quote did not "
                           "pay rent for: re-quote", code="requote")
    for role, addr in facts["atas"].items():
        acc = facts["ata_accounts"][addr]
        info = spl.token_account(acc)
        if acc is not None and (info is None or info["mint"] != request.asset):
            raise SweepRefused(f"the {role}'s associated token account {addr} exists but is not a token "
                               f"account of {request.asset}", code="destination_unusable")
    nested, quoted = facts.get("nested"), params.get("nested")
    if bool(nested) != bool(quoted) or (nested and (
            quoted.get("wallet") != nested["wallet"] or quoted.get("kept_rent") != str(nested["kept_rent"]))):
        raise SweepRefused("the deposit's nested token account (or the wallet's associated token account) "
                           "changed since the quote: re-quote", code="requote")
    return nested


# -- instructions (pure) ----------------------------------------------------------------------------
def native_instructions(deposit: str, request: SweepRequest, station: str, reimburse: int) -> list[dict]:
    """System transfers of ``net``, ``fee_total`` and (deduct mode) the network cost to the gas station."""
    from solders.system_program import TransferParams, transfer

    legs = [(request.destination, request.net), (request.fee_collector, request.fee_total), (station, reimburse)]
    return [encode_ix(transfer(TransferParams(from_pubkey=pubkey(deposit), to_pubkey=pubkey(to), lamports=lamports)))
            for to, lamports in legs if lamports > 0]


def token_instructions(owner: str, request: SweepRequest, station: str, program: str, source: str, atas: dict,
                       close: bool) -> list[dict]:
    legs = [(request.destination, atas["destination"], request.net)]
    if request.fee_total > 0:
        legs.append((request.fee_collector, atas["fee_collector"], request.fee_total))
    return spl.token_sweep_instructions(owner, mint=request.asset, decimals=request.decimals, program=program,
                                        source=source, payer=station, legs=legs, close=close)


def nested_instructions(request: SweepRequest, station: str, nested: dict, atas: dict) -> list[dict]:
    """RecoverNested into the wallet's ATA for the mint (created idempotently by the gas station),
    the nested account's rent (closed to the wallet) on to the gas station, then the usual SPL
    sweep from the wallet's ATA, signed by the wallet."""
    from solders.system_program import TransferParams, transfer

    program, wallet = nested["token_program"], nested["wallet"]
    out = [spl.create_ata_instruction(station, wallet, request.asset, program),
           spl.recover_nested_instruction(nested=nested["token_account"], nested_mint=request.asset,
                                          destination=nested["wallet_ata"], owner_ata=nested["parent_token_account"],
                                          owner_mint=nested["parent_mint"], wallet=wallet, program=program)]
    if nested["nested_lamports"] > 0:  # the wallet ends with what it had: no lamports stranded there
        out.append(encode_ix(transfer(TransferParams(from_pubkey=pubkey(wallet), to_pubkey=pubkey(station),
                                                     lamports=nested["nested_lamports"]))))
    out += token_instructions(wallet, request, station, program, nested["wallet_ata"], atas,
                              nested["close_wallet_ata"])
    return out
