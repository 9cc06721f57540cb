"""Sign, hash, send and read back a refund step.

A signed transaction is the ``TransactionEnvelope`` as base64 XDR (what Horizon's ``POST /transactions``
takes); its txid is the envelope's hash (hex).  Horizon submits synchronously: the answer is the applied
transaction, or a problem with ``result_codes``.  A transaction Horizon already has (``GET`` by hash finds
it) counts as sent; ``tx_bad_seq`` (its sequence used by another) and ``tx_too_late`` (past its time bounds)
are permanent: those bytes can never land, and the domain plans again.

A shared wallet kept on an HSM token signs the same envelope (:func:`sign_with_token`): the token signs the
hash Ed25519, and the signature is checked with stellar-sdk before it is attached, as ``envelope.sign`` would.
"""

from __future__ import annotations

import time

from chains.base import PlanStep, SweepPlan
from chains.errors import NodeRefused, PermanentChainError, SignerMismatch, SweepRefused
from chains.hsm import HsmError, HsmKey
from chains.stellar import txbuild
from chains.stellar.horizon import HorizonProblem

# Imports inside functions: stellar-sdk's Keypair loads on first use, as in the family's other modules.

#: Horizon's transaction result codes that no resend of the same bytes can change -> (our code, meaning)
PERMANENT = {"tx_bad_seq": ("nonce_taken", "its sequence was used by another transaction of the account"),
             "tx_too_late": ("tx_expired", "its time bounds have passed")}


def sign_with_token(env, key: HsmKey) -> None:
    """Add the HSM key's signature to ``env`` (a stellar-sdk ``TransactionEnvelope``): the token signs the
    envelope's signature base hash (``env.hash()``: network id and transaction) with Ed25519; stellar-sdk
    verifies it under the token's public key and it is attached with that key's hint, as ``env.sign``
    does.  A signature that does not verify is ``hsm_bad_signature``, never attached."""
    from stellar_sdk import DecoratedSignature, Keypair
    from stellar_sdk.exceptions import BadSignatureError

    signer = Keypair.from_raw_ed25519_public_key(bytes(key.public_key))
    digest = env.hash()
    signature = key.sign_ed25519(digest)
    try:
        signer.verify(digest, signature)
    except BadSignatureError:
        raise HsmError(f"the signature of token key {key.label!r} does not verify under its public key",
                       code="hsm_bad_signature") from None
    env.signatures.append(DecoratedSignature(signer.signature_hint(), signature))


class SignMixin:
    """sign / txid_of / broadcast / signed_step_problem of the Stellar adapter."""

    def _as_key(self, key):
        from stellar_sdk import Keypair

        if isinstance(key, Keypair):
            return key
        if isinstance(key, (bytes, bytearray)):
            return self.key_from_secret(bytes(key)).key
        raise SignerMismatch(f"not a Stellar key: {type(key).__name__}", code="signer_mismatch")

    def sign(self, plan: SweepPlan, key_for_path) -> list[str]:
        self._check_plan(plan)
        out = []
        for step in plan.steps:
            key = key_for_path(step.signer_path)
            if isinstance(key, HsmKey):
                out.append(self._token_signed(step, key))
                continue
            key = self._as_key(key)
            if key.public_key != step.signer_address:
                raise SignerMismatch(f"the key derived at {step.signer_path} does not control {step.signer_address}",
                                     details={"path": step.signer_path, "address": step.signer_address})
            env = txbuild.envelope(step.tx)
            env.sign(key)
            out.append(env.to_xdr())
        return out

    def _token_signed(self, step: PlanStep, key: HsmKey) -> str:
        """One step signed by an HSM key, checked as a signed envelope read back: exactly the step, signed by
        its source's key for this network, or nothing is returned."""
        held = self.address_of_public_key(key.curve, key.public_key)
        if held != step.signer_address:
            raise SignerMismatch(f"HSM key {key.label!r} controls {held}, not {step.signer_address}",
                                 details={"path": step.signer_path, "address": step.signer_address})
        env = txbuild.envelope(step.tx)
        sign_with_token(env, key)
        raw = env.to_xdr()
        problem = self.signed_step_problem(step, raw)
        if problem:
            raise SignerMismatch(f"step {step.seq} signed by HSM key {key.label!r}: {problem}",
                                 details={"path": step.signer_path, "address": step.signer_address})
        return raw

    def _decode(self, raw: str):
        try:
            return txbuild.decode(raw, self.network.stellar.network_passphrase)
        except Exception as exc:  # the XDR library's errors: bad base64, truncated, another type
            raise SweepRefused(f"signed transaction is not one Stellar payment envelope ({type(exc).__name__}: "
                               f"{str(exc)[:120]})", code="signed_differs") from None

    def txid_of(self, raw: str) -> str:
        return self._decode(raw)[0].hash_hex()

    def broadcast(self, raw: str, *, now: int | None = None) -> str:
        env, fields = self._decode(raw)
        txid = env.hash_hex()
        self.check_chain()
        if self.horizon.get_or_none(f"/transactions/{txid}") is not None:
            return txid  # already applied: the same bytes are on the ledger
        if int(fields["max_time"]) and int(time.time() if now is None else now) > int(fields["max_time"]):
            raise PermanentChainError(f"{self.network.key}: transaction {txid} expired at {fields['max_time']} "
                                      "(its time bounds): plan the refund again", code="tx_expired",
                                      details={"txid": txid, "max_time": fields["max_time"]})
        try:
            self.horizon.post_form("/transactions", {"tx": raw})
        except HorizonProblem as exc:
            if self.horizon.get_or_none(f"/transactions/{txid}") is not None:
                return txid
            code = exc.result_codes.get("transaction")
            ops = exc.result_codes.get("operations")
            if code in PERMANENT:
                ours, meaning = PERMANENT[code]
                raise PermanentChainError(f"{self.network.key}: Horizon refused transaction {txid}: {code} "
                                          f"({meaning})", code=ours, details={"txid": txid, "result": code}) from None
            raise NodeRefused(f"{self.network.key}: Horizon refused transaction {txid}: {code or exc} {ops or ''}",
                              details={"txid": txid, "result_codes": exc.result_codes}) from None
        return txid

    def signed_step_problem(self, step: PlanStep, raw: str) -> str | None:
        """Decode the envelope (stellar-sdk's XDR), compare every field with the step, and verify a signature by
        the step's signer over the envelope's hash for this network."""
        from stellar_sdk import Keypair
        from stellar_sdk.exceptions import BadSignatureError

        try:
            env, fields = self._decode(raw)
        except SweepRefused as exc:
            return str(exc)
        want = {k: str(step.tx.get(k) or "") for k in txbuild.TX_FIELDS}
        diffs = [f"{k} is {fields.get(k)!r}, the plan says {v!r}" for k, v in want.items() if str(fields.get(k)) != v]
        if fields["source"] != step.signer_address:
            diffs.append(f"it is sent from {fields['source']}, not the step's signer {step.signer_address}")
        if diffs:
            return "; ".join(diffs)
        signer = Keypair.from_public_key(step.signer_address)
        for sig in env.signatures:
            if sig.signature_hint != signer.signature_hint():
                continue
            try:
                signer.verify(env.hash(), sig.signature)
                return None
            except BadSignatureError:
                continue
        return f"it carries no valid signature by {step.signer_address} for this network"
