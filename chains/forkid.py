"""SIGHASH_FORKID signing for the Bitcoin fork chains (Bitcoin Cash, Bitcoin SV).

A BCH/BSV deposit at a legacy (base58 P2PKH) address is spent with the same key as on Bitcoin, but
the signature commits to a different digest: the BIP-143 algorithm (hashPrevouts, hashSequence,
the spent output's value, hashOutputs) applied to *legacy* transactions, with the hash type
``SIGHASH_ALL | SIGHASH_FORKID`` (``0x41``; the fork id, 0 on both chains, sits in bits 8..31 of the
4-byte hash type of the preimage).  A node of either chain rejects a signature without the FORKID
bit, and Bitcoin rejects one with it: this is the replay protection of the 2017 split.

``bitcash`` does this for BCH, but only for transactions it builds itself (version 1, its own
input and output objects); our plans are fixed transactions (version, inputs, outputs, approved by
hash), so the digest is computed here and the ECDSA signature is made with bitcash's key primitive
(``bitcash.PrivateKey.sign``: coincurve/libsecp256k1, RFC 6979 deterministic, low-S, DER; it hashes
its input once more with SHA-256, so it is given ``sha256(preimage)`` exactly as bitcash's own
``create_p2pkh_transaction`` does).  The tests check these bytes equal bitcash's for a version-1
transaction, the digest against the published BIP-143 vector, and a real Bitcoin SV node accepting
the result (and rejecting a signature without FORKID).

Only ``SIGHASH_ALL | SIGHASH_FORKID`` over P2PKH inputs with compressed keys is produced.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from chains.utxo import _serialize, _sha256d, _varint, parse_tx

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


def _hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def p2pkh_script(public_key: bytes) -> bytes:
    """The P2PKH locking script (and BIP-143 scriptCode) of a public key."""
    return b"\x76\xa9\x14" + _hash160(public_key) + b"\x88\xac"


def forkid_preimage(tx: dict, index: int, script_code: bytes, amount: int, *,
                    hash_type: int = SIGHASH_ALL_FORKID, fork_id: int = 0) -> bytes:
    """The BIP-143 style preimage of input ``index`` of parsed transaction ``tx`` (from
    :func:`chains.utxo.parse_tx`) spending an output of ``amount`` base units locked by
    ``script_code``.  ``hash_type`` must be SIGHASH_ALL with or without FORKID (the digest algorithm
    is the same; only the hash type field differs: with ``hash_type=0x01`` this is BIP-143 itself)."""
    if hash_type & 0x1F != SIGHASH_ALL or hash_type & 0x80:
        raise ValueError("only SIGHASH_ALL (with or without FORKID) is supported")
    inputs, outputs = tx["inputs"], tx["outputs"]
    if not 0 <= index < len(inputs):
        raise ValueError(f"input {index} out of range")
    if amount < 0:
        raise ValueError("negative amount")
    prevouts = b"".join(bytes.fromhex(i["txid"])[::-1] + int(i["vout"]).to_bytes(4, "little") for i in inputs)
    sequences = b"".join(int(i["sequence"]).to_bytes(4, "little") for i in inputs)
    outs = b"".join(int(o["value"]).to_bytes(8, "little") + _varint(len(bytes.fromhex(o["script"])))
                    + bytes.fromhex(o["script"]) for o in outputs)
    me = inputs[index]
    full_type = (hash_type & 0xFF) | ((fork_id & 0xFFFFFF) << 8)
    return (int(tx["version"]).to_bytes(4, "little")
            + _sha256d(prevouts) + _sha256d(sequences)
            + bytes.fromhex(me["txid"])[::-1] + int(me["vout"]).to_bytes(4, "little")
            + _varint(len(script_code)) + script_code
            + int(amount).to_bytes(8, "little")
            + int(me["sequence"]).to_bytes(4, "little")
            + _sha256d(outs)
            + int(tx["locktime"]).to_bytes(4, "little")
            + full_type.to_bytes(4, "little"))


def forkid_sighash(tx: dict, index: int, script_code: bytes, amount: int, *,
                   hash_type: int = SIGHASH_ALL_FORKID, fork_id: int = 0) -> bytes:
    """The 32-byte digest the signature of input ``index`` commits to (double SHA-256 of the preimage)."""
    return _sha256d(forkid_preimage(tx, index, script_code, amount, hash_type=hash_type, fork_id=fork_id))


def _bitcash_key(secret: bytes):
    from bitcash import PrivateKey

    if len(secret) != 32:
        raise ValueError("a private key is 32 bytes")
    return PrivateKey.from_bytes(bytes(secret))


def sign_p2pkh_forkid(unsigned: str | bytes, amounts: Sequence[int], secret: bytes, *,
                      fork_id: int = 0) -> str:
    """Sign every input of ``unsigned`` (all P2PKH inputs of the key ``secret``, compressed) with
    SIGHASH_ALL|SIGHASH_FORKID; ``amounts[i]`` is the value of the output input ``i`` spends (it is
    committed to by the signature: give the node's value, never a claimed one).  Returns the signed
    transaction hex."""
    tx = parse_tx(unsigned)
    if tx["segwit"]:
        raise ValueError("a fork-chain transaction has no witness")
    if len(amounts) != len(tx["inputs"]):
        raise ValueError(f"{len(amounts)} amounts for {len(tx['inputs'])} inputs")
    key = _bitcash_key(secret)
    pub = key.public_key
    if len(pub) != 33:
        raise ValueError("only compressed public keys are supported")
    script_code = p2pkh_script(pub)
    sigs = []
    for n, amount in enumerate(amounts):
        preimage = forkid_preimage(tx, n, script_code, int(amount), fork_id=fork_id)
        sig = key.sign(hashlib.sha256(preimage).digest()) + bytes([SIGHASH_ALL_FORKID])
        sigs.append(bytes([len(sig)]) + sig + bytes([len(pub)]) + pub)
    for inp, script_sig in zip(tx["inputs"], sigs):
        inp["script_sig"] = script_sig.hex()
    return _serialize(tx["version"], tx["inputs"], tx["outputs"], tx["locktime"], with_scripts=True).hex()


def _split_p2pkh_script_sig(script_sig: bytes) -> tuple[bytes, bytes]:
    if not script_sig:
        raise ValueError("unsigned input")
    n = script_sig[0]
    if not 9 <= n <= 73 or len(script_sig) < 1 + n + 1:
        raise ValueError("not a P2PKH scriptSig")
    sig = script_sig[1:1 + n]
    rest = script_sig[1 + n:]
    if rest[0] not in (33, 65) or len(rest) != 1 + rest[0]:
        raise ValueError("not a P2PKH scriptSig")
    return sig, rest[1:]


def verify_p2pkh_forkid(raw: str | bytes, prevouts: Sequence[tuple[int, bytes]], *, fork_id: int = 0) -> list[str]:
    """Check every input of signed ``raw`` locally: a P2PKH scriptSig whose public key hashes to the
    spent output's script (``prevouts[i] = (amount, script_pubkey)``) and whose signature is a valid,
    low-S ECDSA signature with hash type SIGHASH_ALL|SIGHASH_FORKID over the FORKID digest.  Returns
    the problems (empty when all is well)."""
    from coincurve import PublicKey

    tx = parse_tx(raw)
    problems = []
    if len(prevouts) != len(tx["inputs"]):
        return [f"{len(prevouts)} previous outputs for {len(tx['inputs'])} inputs"]
    for n, (inp, (amount, spk)) in enumerate(zip(tx["inputs"], prevouts)):
        try:
            sig, pub = _split_p2pkh_script_sig(bytes.fromhex(inp["script_sig"]))
        except ValueError as exc:
            problems.append(f"input {n}: {exc}")
            continue
        if p2pkh_script(pub) != bytes(spk):
            problems.append(f"input {n}: the public key does not match the spent output")
            continue
        if sig[-1] != SIGHASH_ALL_FORKID:
            problems.append(f"input {n}: hash type {sig[-1]:#04x}, not SIGHASH_ALL|SIGHASH_FORKID")
            continue
        preimage = forkid_preimage(tx, n, bytes(spk), int(amount), fork_id=fork_id)
        try:
            ok = PublicKey(pub).verify(sig[:-1], hashlib.sha256(preimage).digest())
        except Exception:
            ok = False
        if not ok:
            problems.append(f"input {n}: the signature does not verify")
    return problems
