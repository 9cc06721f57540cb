"""BIP-174 PSBTs of UTXO plan steps, with ``embit`` (bitcoinlib 0.7 has no PSBT).

:func:`build_psbt` gives the offline signer the step's unsigned transaction and, per input, what
BIP-174 asks for: the previous output (``witness_utxo``) for segwit inputs, the whole previous
transaction (``non_witness_utxo``) for P2PKH ones, and the sighash type (SIGHASH_ALL, or
SIGHASH_ALL|SIGHASH_FORKID on fork chains).  :func:`parse_psbt` reads one back and
:func:`finalize_psbt` extracts the signed transaction of a finalized PSBT (every input with its final
scriptSig or scriptWitness), by embit's finalizer.
"""

from __future__ import annotations

import base64
import binascii

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = ["build_psbt", "parse_psbt", "finalize_psbt", "psbt_unsigned_hex"]


def build_psbt(tx: dict, prev_txs: dict[str, str]) -> str:
    """A BIP-174 PSBT (base64) of plan step ``tx``; ``prev_txs`` holds the raw previous transactions
    of P2PKH inputs (required there by BIP-174)."""
    from embit.psbt import PSBT
    from embit.script import Script
    from embit.transaction import Transaction, TransactionOutput

    psbt = PSBT(Transaction.parse(bytes.fromhex(tx["unsigned_hex"])))
    sighash = 0x41 if tx.get("fork_id") else 0x01
    for scope, i in zip(psbt.inputs, tx["inputs"]):
        if i["script_type"] == "p2pkh":
            scope.non_witness_utxo = Transaction.parse(bytes.fromhex(prev_txs[i["txid"]]))
        else:
            scope.witness_utxo = TransactionOutput(int(i["amount"]), Script(bytes.fromhex(i["script_pubkey"])))
        scope.sighash_type = sighash
    return psbt.to_string()


def parse_psbt(psbt: str | bytes):
    """An embit ``PSBT`` from base64 text or raw bytes (ValueError when it is not one)."""
    from embit.psbt import PSBT

    try:
        data = bytes(psbt) if isinstance(psbt, (bytes, bytearray)) else base64.b64decode(psbt, validate=True)
        return PSBT.parse(data)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError(f"not a PSBT ({exc})") from None
    except Exception as exc:  # embit's own errors on a malformed map
        raise ValueError(f"not a PSBT ({type(exc).__name__}: {exc})") from None


def psbt_unsigned_hex(psbt: str | bytes) -> str:
    """The unsigned transaction a PSBT carries."""
    return parse_psbt(psbt).tx.serialize().hex()


def finalize_psbt(psbt: str | bytes) -> str:
    """The signed transaction hex of a finalized PSBT, as an offline signer returns it."""
    from embit.finalizer import finalize_psbt as embit_finalize

    p = parse_psbt(psbt)
    if any(not (i.final_scriptsig or i.final_scriptwitness) for i in p.inputs):
        raise ValueError("the PSBT is not finalized (an input has no final scriptSig/scriptWitness)")
    signed = embit_finalize(p)
    if signed is None:
        raise ValueError("the PSBT is not finalized")
    return signed.serialize().hex()
