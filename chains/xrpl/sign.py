"""Sign, hash, send and read back a refund step, with xrpl-py's binary codec and keypairs.

A signed transaction is the hex blob (``encode`` of the step's fields plus ``SigningPubKey`` and
``TxnSignature``); the signature is over ``encode_for_signing`` of exactly the planned fields (nothing
autofilled).  A shared wallet kept on an HSM token signs the same bytes (:func:`sign_with_token`): the token
never gives out its key, so xrpl-py's ``keypairs.sign`` cannot be used; its steps are redone around the
token and the result checked with xrpl-py's own verification.  Its txid is SHA-512Half of ``TXN\\0`` + the
blob, upper-case hex (rippled's hash).

``submit`` answers with a preliminary ``engine_result``: ``tes``/``terQUEUED`` (applied or queued),
``tefALREADY`` (the same bytes are already held), and ``tec`` (included, its fee charged; the ledger
decides) are a sent transaction; ``tefPAST_SEQ`` is one too when the node knows these very bytes (sent
before), else its sequence was used by another: permanent, as ``tefMAX_LEDGER`` (its
``LastLedgerSequence`` has passed: it can never be included) and every ``tem``/``tef``/``tel`` refusal.
"""

# Imports inside functions: xrpl-py's codec loads on first use (the replay and tools read blobs without it).

from __future__ import annotations

import hashlib

from chains.base import PlanStep, SweepPlan
from chains.errors import NodeRefused, SignerMismatch, SweepRefused
from chains.hsm import ED25519, HsmError, HsmKey
from chains.xrpl.keys import XrplKey, address_of_public_key, public_key_hex
from chains.xrpl.rpc import call, call_or_none

TXN_PREFIX = bytes.fromhex("54584E00")  # "TXN\0": the hash prefix of a signed transaction
SENT = ("tesSUCCESS", "terQUEUED", "tefALREADY")
SIGNED_FIELDS = ("SigningPubKey", "TxnSignature")


def blob_bytes(raw: str) -> bytes:
    try:
        return bytes.fromhex(raw)
    except (ValueError, TypeError):
        raise SweepRefused("a signed XRPL transaction is the hex of its binary blob", code="signed_differs") from None


def txid(raw: str) -> str:
    return hashlib.sha512(TXN_PREFIX + blob_bytes(raw)).digest()[:32].hex().upper()


def sign_tx(tx: dict, key: XrplKey) -> str:
    """The blob of ``tx`` signed by ``key`` (xrpl-py's codec and keypairs; pure)."""
    from xrpl.core import binarycodec, keypairs

    fields = {**tx, "SigningPubKey": key.public_key}
    fields["TxnSignature"] = keypairs.sign(bytes.fromhex(binarycodec.encode_for_signing(fields)), key.private_key)
    return binarycodec.encode(fields)


def sign_with_token(tx: dict, key: HsmKey) -> str:
    """The blob of ``tx`` signed by an HSM key, as xrpl-py's ``keypairs.sign`` would: Ed25519 signs the signing
    data itself; secp256k1 signs its SHA-512Half, ``s`` folded low (rippled refuses a non-canonical
    signature) and DER-encoded (``cryptography``'s ``encode_dss_signature``).  The signature is verified with
    ``keypairs.is_valid_message`` before the blob is returned (``hsm_bad_signature`` otherwise)."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from xrpl.core import binarycodec, keypairs
    from xrpl.core.keypairs.helpers import sha512_first_half

    public = public_key_hex(key.curve, key.public_key)
    fields = {**tx, "SigningPubKey": public}
    data = bytes.fromhex(binarycodec.encode_for_signing(fields))
    if key.curve == ED25519:
        signature = key.sign_ed25519(data)
    else:
        signature = encode_dss_signature(*key.sign_digest(sha512_first_half(data)))
    if not keypairs.is_valid_message(data, signature, public):
        raise HsmError(f"the signature of token key {key.label!r} does not verify under its public key",
                       code="hsm_bad_signature")
    fields["TxnSignature"] = signature.hex().upper()
    return binarycodec.encode(fields)


def decode(raw: str) -> dict:
    from xrpl.core import binarycodec

    blob_bytes(raw)
    try:
        return binarycodec.decode(raw)
    except Exception:
        raise SweepRefused("the signed blob does not decode as an XRPL transaction", code="signed_differs") from None


def signature_problem(fields: dict) -> str | None:
    """Why the decoded transaction's signature does not hold for its ``SigningPubKey`` and ``Account``."""
    from xrpl.core import binarycodec, keypairs

    pub, sig = fields.get("SigningPubKey"), fields.get("TxnSignature")
    if not pub or not sig:
        return "it is not signed (no SigningPubKey / TxnSignature)"
    try:
        signer = keypairs.derive_classic_address(pub)
        unsigned = {k: v for k, v in fields.items() if k != "TxnSignature"}
        ok = keypairs.is_valid_message(bytes.fromhex(binarycodec.encode_for_signing(unsigned)), bytes.fromhex(sig), pub)
    except Exception:
        return "its signing key or signature is malformed"
    if signer != fields.get("Account"):
        return f"it is signed by {signer}, not its Account {fields.get('Account')} (a regular key is not used here)"
    return None if ok else "its signature does not verify"


def step_problem(step: PlanStep, raw: str) -> str | None:
    """Every field of the decoded blob must be the step's, nothing more, and the signature must verify."""
    try:
        fields = decode(raw)
    except SweepRefused as exc:
        return str(exc)
    want = {k: str(v) for k, v in step.tx.items()}
    got = {k: str(v) for k, v in fields.items() if k not in SIGNED_FIELDS}
    diffs = [f"{k} is {got.get(k)!r}, the plan says {v!r}" for k, v in want.items() if got.get(k) != v]
    diffs += [f"it has {k} = {got[k]!r}, which the plan does not" for k in got if k not in want]
    if fields.get("Account") != step.signer_address:
        diffs.append(f"it is sent from {fields.get('Account')}, not the step's signer {step.signer_address}")
    return "; ".join(diffs) if diffs else signature_problem(fields)


class SignMixin:
    """sign / txid_of / broadcast / signed_step_problem of the XRPL adapter."""

    def _as_key(self, key) -> XrplKey:
        if isinstance(key, XrplKey):
            return key
        if isinstance(key, (bytes, bytearray)):
            return self.key_from_secret(bytes(key)).key
        raise SignerMismatch(f"not an XRPL key: {type(key).__name__}", code="signer_mismatch")

    def sign(self, plan: SweepPlan, key_for_path) -> list[str]:
        self._check_plan(plan)
        out = []
        for step in plan.steps:
            key = key_for_path(step.signer_path)
            if isinstance(key, HsmKey):
                out.append(self._token_signed(step, key))
                continue
            key = self._as_key(key)
            if key.address != step.signer_address:
                raise SignerMismatch(f"the key derived at {step.signer_path} does not control {step.signer_address}",
                                     details={"path": step.signer_path, "address": step.signer_address})
            out.append(sign_tx(step.tx, key))
        return out

    def _token_signed(self, step: PlanStep, key: HsmKey) -> str:
        """One step signed by an HSM key, checked as a signed blob read back: exactly the step, signed by its
        Account's key, or nothing is returned."""
        held = address_of_public_key(key.curve, key.public_key)
        if held != step.signer_address:
            raise SignerMismatch(f"HSM key {key.label!r} controls {held}, not {step.signer_address}",
                                 details={"path": step.signer_path, "address": step.signer_address})
        raw = sign_with_token(step.tx, key)
        problem = step_problem(step, raw)
        if problem:
            raise SignerMismatch(f"step {step.seq} signed by HSM key {key.label!r}: {problem}",
                                 details={"path": step.signer_path, "address": step.signer_address})
        return raw

    def txid_of(self, raw: str) -> str:
        return txid(raw)

    def signed_step_problem(self, step: PlanStep, raw: str) -> str | None:
        return step_problem(step, raw)

    def broadcast(self, raw: str) -> str:
        h = txid(raw)
        answer = call(self.rpc, "submit", tx_blob=raw.upper())
        result = str(answer.get("engine_result") or "")
        if result in SENT or result.startswith("tec") or result.startswith("tes"):
            return h
        if result == "tefPAST_SEQ" and call_or_none(self.rpc, "tx", transaction=h, binary=False) is not None:
            return h
        why = {"tefMAX_LEDGER": "its LastLedgerSequence has passed: it can never be included (re-plan)",
               "tefPAST_SEQ": "its sequence was used by another transaction of the account (re-plan)"}.get(
            result, answer.get("engine_result_message") or "refused")
        raise NodeRefused(f"{self.network.key}: the node refused transaction {h} ({result}): {why}",
                          details={"txid": h, "engine_result": result})
