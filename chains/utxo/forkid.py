"""SIGHASH_FORKID signing for the Bitcoin fork chains (Bitcoin Cash, Bitcoin SV), with bitcoinlib.

A BCH/BSV deposit at a legacy (base58 P2PKH) address is spent with the same key as on Bitcoin, but
the signature commits to a different digest: the BIP-143 algorithm (hashPrevouts, hashSequence,
the spent output's value, hashOutputs) applied to *legacy* transactions, with the hash type
``SIGHASH_ALL | SIGHASH_FORKID`` (``0x41``; the fork id, 0 on both chains, sits in bits 8..31 of the
4-byte hash type of the preimage).  A node of either chain rejects a signature without the FORKID
bit, and Bitcoin rejects one with it: this is the replay protection of the 2017 split.

Libraries do all of it:

* the preimage is bitcoinlib's BIP-143 serialization (``Transaction.signature_segwit``) with the
  hash type ``0x41 | fork_id << 8`` and the spent value; bitcoinlib only offers it for a transaction
  it calls "segwit", so :func:`forkid_preimage` asks it with that flag set for the one call (the
  algorithm does not depend on the flag; the legacy transaction's bytes are untouched);
* the ECDSA signature is bitcoinlib's ``keys.sign`` (RFC 6979 deterministic, low-S, DER) over the
  double SHA-256 of the preimage with the hash type byte ``0x41``, and the scriptSig is built by
  bitcoinlib's ``Input.update_scripts``; verification is bitcoinlib's ``Signature.verify``.

``bitcash`` signs FORKID too, but only transactions it builds itself (version 1, its own inputs and
outputs); our plans are fixed transactions approved by hash.  The tests check the digest against the
published BIP-143 vector, the bytes against bitcash's for a version-1 transaction, and a real Bitcoin
SV node accepting the result (and rejecting a signature without FORKID).

Only ``SIGHASH_ALL | SIGHASH_FORKID`` over P2PKH inputs with compressed keys is produced.
"""

from __future__ import annotations

from typing import Sequence

from chains.utxo.tx import parse_raw

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = [
    "SIGHASH_ALL",
    "SIGHASH_FORKID",
    "SIGHASH_ALL_FORKID",
    "forkid_preimage",
    "forkid_sighash",
    "p2pkh_script",
    "sign_p2pkh_forkid",
    "verify_p2pkh_forkid",
]

SIGHASH_ALL = 0x01
SIGHASH_FORKID = 0x40
SIGHASH_ALL_FORKID = SIGHASH_ALL | SIGHASH_FORKID


def _tx(tx):
    return parse_raw(tx) if isinstance(tx, (str, bytes, bytearray)) else tx


def p2pkh_script(public_key: bytes) -> bytes:
    """The P2PKH locking script (and BIP-143 scriptCode) of a public key (bitcoinlib ``Output``)."""
    from bitcoinlib.transactions import Output

    return bytes(Output(0, public_key=bytes(public_key), script_type="p2pkh").lock_script)


def forkid_preimage(tx, index: int, script_code: bytes, amount: int, *,
                    hash_type: int = SIGHASH_ALL_FORKID, fork_id: int = 0) -> bytes:
    """The BIP-143 style preimage of input ``index`` of ``tx`` (raw hex/bytes or a bitcoinlib
    ``Transaction``) spending an output of ``amount`` base units locked by ``script_code``.
    ``hash_type`` must be SIGHASH_ALL with or without FORKID (with ``0x01`` this is BIP-143 itself)."""
    if hash_type & 0x1F != SIGHASH_ALL or hash_type & 0x80:
        raise ValueError("only SIGHASH_ALL (with or without FORKID) is supported")
    t = _tx(tx)
    if not 0 <= index < len(t.inputs):
        raise ValueError(f"input {index} out of range")
    if amount < 0:
        raise ValueError("negative amount")
    inp = t.inputs[index]
    saved = (t.witness_type, inp.value, inp.redeemscript)
    inp.value, inp.redeemscript = int(amount), bytes(script_code)
    t.witness_type = "segwit"  # bitcoinlib's BIP-143 serializer asserts this flag (see the docstring)
    try:
        return t.signature_segwit(index, (hash_type & 0xFF) | ((fork_id & 0xFFFFFF) << 8))
    finally:
        t.witness_type, inp.value, inp.redeemscript = saved


def forkid_sighash(tx, index: int, script_code: bytes, amount: int, *,
                   hash_type: int = SIGHASH_ALL_FORKID, fork_id: int = 0) -> bytes:
    """The 32-byte digest the signature of input ``index`` commits to (double SHA-256 of the preimage)."""
    from bitcoinlib.encoding import double_sha256

    return double_sha256(forkid_preimage(tx, index, script_code, amount, hash_type=hash_type, fork_id=fork_id))


def sign_p2pkh_forkid(unsigned, amounts: Sequence[int], secret: bytes, *, fork_id: int = 0) -> str:
    """Sign every input of ``unsigned`` (raw hex/bytes or a bitcoinlib ``Transaction``; all P2PKH
    inputs of the compressed key ``secret``) with SIGHASH_ALL|SIGHASH_FORKID; ``amounts[i]`` is the
    value of the output input ``i`` spends (the signature commits to it: give the node's value, never
    a claimed one).  Returns the signed transaction hex."""
    from bitcoinlib.keys import Key, sign

    t = _tx(unsigned)
    if t.witness_type != "legacy" or any(i.witnesses and any(i.witnesses) for i in t.inputs):
        raise ValueError("a fork-chain transaction has no witness")
    if len(amounts) != len(t.inputs):
        raise ValueError(f"{len(amounts)} amounts for {len(t.inputs)} inputs")
    if len(secret) != 32:
        raise ValueError("a private key is 32 bytes")
    key = Key(bytes(secret).hex(), compressed=True, is_private=True)
    script_code = p2pkh_script(key.public_byte)
    for n, amount in enumerate(amounts):
        digest = forkid_sighash(t, n, script_code, int(amount), fork_id=fork_id)
        inp = t.inputs[n]
        inp.keys, inp.script_type, inp.witness_type, inp.value = [key], "sig_pubkey", "legacy", int(amount)
        inp.public_hash, inp.unlocking_script = key.hash160, b""
        inp.signatures = [sign(digest, key, hash_type=SIGHASH_ALL_FORKID)]
        inp.update_scripts(hash_type=SIGHASH_ALL_FORKID)
    return t.raw_hex(witness_type="legacy")


def verify_p2pkh_forkid(raw, prevouts: Sequence[tuple[int, bytes]], *, fork_id: int = 0) -> list[str]:
    """Check every input of signed ``raw`` locally: a P2PKH scriptSig whose public key hashes to the
    spent output's script (``prevouts[i] = (amount, script_pubkey)``) and whose signature is valid,
    with hash type SIGHASH_ALL|SIGHASH_FORKID over the FORKID digest.  Returns the problems (empty
    when all is well)."""
    try:
        t = _tx(raw)
    except ValueError as exc:
        return [str(exc)]
    if len(prevouts) != len(t.inputs):
        return [f"{len(prevouts)} previous outputs for {len(t.inputs)} inputs"]
    problems = []
    for n, (inp, (amount, spk)) in enumerate(zip(t.inputs, prevouts)):
        if not inp.signatures or not inp.keys or len(inp.signatures) != 1 or len(inp.keys) != 1:
            problems.append(f"input {n}: not a signed P2PKH scriptSig")
            continue
        key, sig = inp.keys[0], inp.signatures[0]
        if p2pkh_script(key.public_byte) != bytes(spk):
            problems.append(f"input {n}: the public key does not match the spent output")
            continue
        if sig.hash_type != SIGHASH_ALL_FORKID:
            problems.append(f"input {n}: hash type {sig.hash_type:#04x}, not SIGHASH_ALL|SIGHASH_FORKID")
            continue
        digest = forkid_sighash(t, n, bytes(spk), int(amount), fork_id=fork_id)
        try:
            ok = sig.verify(digest, key)
        except Exception:
            ok = False
        if not ok:
            problems.append(f"input {n}: the signature does not verify")
    return problems
