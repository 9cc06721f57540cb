"""Constants and small helpers every Solana module shares: solders calls guarded against panics,
addresses and signatures parsed by solders, instructions as JSON-safe data, failure reasons."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

from chains.errors import (
    ChainError,
    InvalidAddress,
    InvalidTxid,
    PermanentChainError,
    SweepRefused,
)
from chains.transport import reads_node  # noqa: F401 - the family's adapters import it from here

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.

TOKEN_INDEX_BASE = 1000
LAMPORTS_PER_SIGNATURE = 5000
FINALIZED_CONFIRMATIONS = 32
PARAMS_VERSION = 1
TX_FORMAT = "solana-v0-instructions"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
SYSTEM_PROGRAM = "11111111111111111111111111111111"
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
TOKEN_ACCOUNT_SIZE = 165
ATA_SIZE = {TOKEN_PROGRAM: 165, TOKEN_2022_PROGRAM: 170}
MINT_SIZE = 82
GENESIS = {
    "mainnet-beta": "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
    "devnet": "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",
    "testnet": "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY",
}
RECOVER_NESTED = 2  # the associated-token program's RecoverNested instruction


def fatal(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


def guard(what: str, fn: Callable[[], Any], *, code: str = "solana_error", exc_type=PermanentChainError) -> Any:
    """Run a solders call; a ``ValueError`` or a pyo3 panic (a ``BaseException``) becomes a clear
    ``ChainError`` instead of a crash."""
    try:
        return fn()
    except ChainError:
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3_runtime.PanicException is a BaseException
        if fatal(exc):
            raise
        kind = "panic in solders" if type(exc).__name__ == "PanicException" else type(exc).__name__
        raise exc_type(f"{what}: {kind}: {exc}", code=code, details={"what": what}) from None


def pubkey(value: str, what: str = "address"):
    from solders.pubkey import Pubkey

    return guard(f"{what} {value!r} is not a Solana address", lambda: Pubkey.from_string(value),
                 code="invalid_address", exc_type=InvalidAddress)


def signature(value: str):
    from solders.signature import Signature

    return guard(f"{value!r} is not a Solana transaction signature", lambda: Signature.from_string(value),
                 code="invalid_txid", exc_type=InvalidTxid)


def encode_ix(ix: Any) -> dict:
    """A solders ``Instruction`` as JSON-safe data (the plan stores these)."""
    return {"program_id": str(ix.program_id),
            "accounts": [{"pubkey": str(a.pubkey), "is_signer": bool(a.is_signer), "is_writable": bool(a.is_writable)}
                         for a in ix.accounts],
            "data": base64.b64encode(bytes(ix.data)).decode()}


def decode_ix(d: dict) -> Any:
    from solders.instruction import AccountMeta, Instruction

    def build():
        return Instruction(pubkey(d["program_id"], "program id"), base64.b64decode(d["data"]),
                           [AccountMeta(pubkey(a["pubkey"]), bool(a["is_signer"]), bool(a["is_writable"]))
                            for a in d["accounts"]])

    return guard("malformed instruction in the plan", build, code="plan_malformed", exc_type=SweepRefused)


def reason(err: Any, logs: list[str] | None) -> str:
    """A transaction error (the RPC's JSON) as people read it, with the last telling log line."""
    text = json.dumps(err) if not isinstance(err, str) else err
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        return (f"{text}: an account would be left with lamports below the rent-exempt minimum "
                "(a new recipient must receive at least the rent-exempt minimum)")
    interesting = [line for line in (logs or []) if "rror" in line or "failed" in line or "insufficient" in line]
    return f"{text}" + (f" ({interesting[-1]})" if interesting else "")


