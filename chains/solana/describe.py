"""A plan's steps as people read them (``case show``, the approval queue): each instruction in words,
decoded by the libraries that built it (solders' system program, ``spl.token``'s decoders), and the
moves of the net, fee and network-cost legs."""

from __future__ import annotations

from chains.base import NATIVE, StepView, SweepPlan, plan_net_label
from chains.errors import ChainError
from chains.solana.common import ASSOCIATED_TOKEN_PROGRAM, RECOVER_NESTED, SYSTEM_PROGRAM, TOKEN_PROGRAMS, decode_ix

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.

CREATE_IDEMPOTENT = 1  # the associated-token program's CreateIdempotent


def _try(fn, ix):
    try:
        return fn(ix)
    except ChainError:
        raise
    except BaseException as exc:  # noqa: BLE001 - not this instruction (ValueError) or a pyo3 panic
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        return None


def _instruction(d: dict, owners: dict[str, str]) -> tuple[str, tuple[str, str, int] | None]:
    """(words, (kind, recipient wallet, amount) for a move or None); ``owners`` maps ATAs to wallets."""
    from solders.system_program import decode_transfer
    from spl.token.instructions import decode_close_account, decode_transfer_checked

    ix = decode_ix(d)
    program = d["program_id"]
    accounts = [a["pubkey"] for a in d["accounts"]]
    data = bytes(ix.data)
    if program == SYSTEM_PROGRAM:
        t = _try(decode_transfer, ix)
        if t is not None:
            to = str(t["to_pubkey"])
            return f"system transfer {t['lamports']} lamports from {t['from_pubkey']} to {to}", ("native", to,
                                                                                                 int(t["lamports"]))
    elif program == ASSOCIATED_TOKEN_PROGRAM and data[:1] == bytes([CREATE_IDEMPOTENT]) and len(accounts) >= 4:
        owners[accounts[1]] = accounts[2]
        return (f"create associated token account {accounts[1]} of {accounts[2]} for mint {accounts[3]} "
                f"(rent paid by {accounts[0]}, if it does not exist)"), None
    elif program == ASSOCIATED_TOKEN_PROGRAM and data[:1] == bytes([RECOVER_NESTED]) and len(accounts) >= 7:
        return (f"RecoverNested: move the tokens of nested account {accounts[0]} (mint {accounts[1]}, owned by "
                f"{accounts[3]}) to {accounts[2]} and close it, rent to {accounts[5]}"), None
    elif program in TOKEN_PROGRAMS:
        t = _try(decode_transfer_checked, ix)
        if t is not None:
            dest = str(t.dest)
            wallet = owners.get(dest, dest)
            to = f"{wallet} (token account {dest})" if wallet != dest else dest
            return (f"transfer_checked {t.amount} base units of {t.mint} ({t.decimals} decimals) from {t.source} "
                    f"to {to}"), ("token", wallet, int(t.amount))
        c = _try(decode_close_account, ix)
        if c is not None:
            return f"close account {c.account}, its rent to {c.dest}", None
    return f"instruction of program {program} ({len(accounts)} accounts, {len(data)} bytes of data)", None


def describe_plan(plan: SweepPlan) -> list[StepView]:
    views = []
    for step in plan.steps:
        station = step.tx.get("fee_payer")
        owners: dict[str, str] = {}
        words, moves = [], []
        for d in step.tx.get("instructions") or []:
            text, move = _instruction(d, owners)
            words.append(text)
            if move is None:
                continue
            kind, to, amount = move
            if kind == "native" and plan.asset != NATIVE:
                continue  # a nested account's rent passed on to the gas station: not a leg of the sweep
            if to == plan.destination:
                what = plan_net_label(plan)
            elif to == plan.fee_collector:
                what = "fee to the fee collector"
            elif to == station:
                what = "network cost back to the gas station"
            else:
                what = "transfer"
            moves.append({"to": to, "amount": str(amount), "asset": plan.asset, "what": what})
        summary = (f"one Solana transaction of {len(words)} instruction{'' if len(words) == 1 else 's'} signed by {step.signer_address}, "
                   f"fee paid by the gas station {station}")
        detail = {"fee payer": station, "fee payer path": step.tx.get("fee_payer_path"),
                  "signer path": step.signer_path, "instructions": words,
                  "network cost": f"{plan.native_cost} lamports",
                  "simulated": bool(step.simulation.get("ok"))}
        views.append(StepView(seq=step.seq, role=step.role, signer=step.signer_address, summary=summary,
                              moves=tuple(moves), after=tuple(step.after), detail=detail))
    return views
