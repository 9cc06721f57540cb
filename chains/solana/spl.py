"""SPL Token and Token-2022 accounts: parsing (solana-py's ``spl.token`` layouts), associated token
addresses, token balances of a transaction, and the instructions of a token sweep (``spl.token``
instruction builders; the associated-token program's RecoverNested)."""

from __future__ import annotations

import base64
from typing import Any

from chains.errors import InvalidAddress, PermanentChainError
from chains.solana.common import MINT_SIZE, RECOVER_NESTED, TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAMS, encode_ix, guard, pubkey

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.

ACCOUNT_TYPE_MINT = 1      # Token-2022: the byte after the base layout says what the account is
ACCOUNT_TYPE_ACCOUNT = 2


def account_data(acc: dict | None) -> bytes | None:
    """The data of an account answered with ``encoding: base64``."""
    if acc is None:
        return None
    data = acc.get("data")
    if isinstance(data, list) and len(data) == 2 and data[1] == "base64":
        return base64.b64decode(data[0])
    if isinstance(data, str):
        return base64.b64decode(data)
    return None


def token_account(acc: dict | None) -> dict | None:
    """``{"mint", "owner", "amount", "program"}`` of an initialised token account (an RPC account)."""
    from solders.pubkey import Pubkey
    from spl.token._layouts import ACCOUNT_LAYOUT

    if acc is None or acc.get("owner") not in TOKEN_PROGRAMS:
        return None
    data = account_data(acc)
    if data is None or len(data) < TOKEN_ACCOUNT_SIZE:
        return None
    if len(data) > TOKEN_ACCOUNT_SIZE and data[TOKEN_ACCOUNT_SIZE] != ACCOUNT_TYPE_ACCOUNT:
        return None
    parsed = ACCOUNT_LAYOUT.parse(data[:TOKEN_ACCOUNT_SIZE])
    if parsed.state == 0:  # uninitialised
        return None
    return {"mint": str(Pubkey.from_bytes(parsed.mint)), "owner": str(Pubkey.from_bytes(parsed.owner)),
            "amount": int(parsed.amount), "program": acc["owner"]}


def mint_decimals(acc: dict | None) -> int | None:
    """The decimals of an initialised mint (an RPC account), else None."""
    from spl.token._layouts import MINT_LAYOUT

    if acc is None or acc.get("owner") not in TOKEN_PROGRAMS:
        return None
    data = account_data(acc)
    if data is None or len(data) < MINT_SIZE or MINT_SIZE < len(data) <= TOKEN_ACCOUNT_SIZE:
        return None
    if len(data) > TOKEN_ACCOUNT_SIZE and data[TOKEN_ACCOUNT_SIZE] != ACCOUNT_TYPE_MINT:
        return None
    parsed = MINT_LAYOUT.parse(data[:MINT_SIZE])
    if not parsed.is_initialized:
        return None
    return int(parsed.decimals)


def unknown_mint(mint: str, network: str) -> PermanentChainError:
    return PermanentChainError(f"{mint} is not an SPL Token or Token-2022 mint on {network}",
                               code="unknown_mint", details={"asset": mint})


def ata(owner: str, mint: str, program: str) -> str:
    """The associated token address of ``owner`` for ``mint`` under ``program``."""
    from spl.token.instructions import get_associated_token_address

    return str(guard("associated token address", lambda: get_associated_token_address(
        pubkey(owner), pubkey(mint, "mint"), pubkey(program)), code="invalid_address", exc_type=InvalidAddress))


def token_sums(entries: list[dict] | None) -> dict[tuple[str, str], tuple[int, int, list[int]]]:
    """A transaction's ``pre/postTokenBalances``: (owner, mint) -> (sum of amounts, decimals, account indexes)."""
    out: dict[tuple[str, str], tuple[int, int, list[int]]] = {}
    for e in entries or ():
        owner = e.get("owner")
        if not owner:
            continue
        key = (owner, e["mint"])
        amount = int(e["uiTokenAmount"]["amount"])
        decimals = int(e["uiTokenAmount"]["decimals"])
        total, _, idx = out.get(key, (0, decimals, []))
        out[key] = (total + amount, decimals, idx + [int(e["accountIndex"])])
    return out


def holdings(answer: Any, owner: str, mint: str) -> list[tuple[str, dict]]:
    """``getTokenAccountsByOwner``'s value as ``[(address, token_account)]`` of ``owner`` for ``mint``."""
    out = []
    for item in answer or ():
        info = token_account(item.get("account"))
        if info is not None and info["owner"] == owner and info["mint"] == mint:
            out.append((item["pubkey"], info))
    return out


# -- instructions (pure) ---------------------------------------------------------------------------
def token_sweep_instructions(owner: str, *, mint: str, decimals: int, program: str, source: str, payer: str,
                             legs: list[tuple[str, str, int]], close: bool) -> list[dict]:
    """For each ``(wallet, its ATA, amount)`` leg: create the ATA idempotently (payer: ``payer``) and
    ``transfer_checked`` the amount from ``source``; then close ``source`` (rent to ``payer``)."""
    from spl.token.instructions import close_account, create_idempotent_associated_token_account, transfer_checked
    from spl.token.models import CloseAccountParams, TransferCheckedParams

    prog, mint_pk, owner_pk, payer_pk = pubkey(program), pubkey(mint), pubkey(owner), pubkey(payer)
    out = []
    for wallet, dest, amount in legs:
        out.append(encode_ix(create_idempotent_associated_token_account(payer_pk, pubkey(wallet), mint_pk, prog)))
        if amount > 0:
            out.append(encode_ix(transfer_checked(TransferCheckedParams(
                program_id=prog, source=pubkey(source), mint=mint_pk, dest=pubkey(dest), owner=owner_pk,
                amount=amount, decimals=decimals))))
    if close:
        out.append(encode_ix(close_account(CloseAccountParams(program_id=prog, account=pubkey(source),
                                                               dest=payer_pk, owner=owner_pk))))
    return out


def create_ata_instruction(payer: str, wallet: str, mint: str, program: str) -> dict:
    from spl.token.instructions import create_idempotent_associated_token_account

    return encode_ix(create_idempotent_associated_token_account(pubkey(payer), pubkey(wallet), pubkey(mint),
                                                                pubkey(program)))


def recover_nested_instruction(*, nested: str, nested_mint: str, destination: str, owner_ata: str, owner_mint: str,
                               wallet: str, program: str) -> dict:
    """The associated-token program's RecoverNested (data ``[2]``): moves the nested ATA's tokens to
    ``destination`` (the wallet's ATA) and closes the nested ATA, its rent to the wallet (the signer)."""
    from solders.instruction import AccountMeta, Instruction
    from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID

    return encode_ix(Instruction(ASSOCIATED_TOKEN_PROGRAM_ID, bytes([RECOVER_NESTED]), [
        AccountMeta(pubkey(nested), False, True),        # nested ATA (closed)
        AccountMeta(pubkey(nested_mint), False, False),  # nested mint
        AccountMeta(pubkey(destination), False, True),   # destination: wallet's ATA
        AccountMeta(pubkey(owner_ata), False, False),    # owner ATA (the deposit address)
        AccountMeta(pubkey(owner_mint), False, False),   # owner ATA's mint
        AccountMeta(pubkey(wallet), True, True),         # wallet: signs, gets the rent
        AccountMeta(pubkey(program), False, False),      # token program
    ]))
