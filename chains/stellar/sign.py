"""Sign, hash, send and read back a refund step.

A signed transaction is the ``TransactionEnvelope`` as base64 XDR (what Horizon's ``POST /transactions``
takes); its txid is the envelope's hash (hex).  Horizon submits synchronously: the answer is the applied
transaction, or a problem with ``result_codes``.  A transaction Horizon already has (``GET`` by hash finds
it) counts as sent; ``tx_bad_seq`` (its sequence used by another) and ``tx_too_late`` (past its time bounds)
are permanent: those bytes can never land, and the domain plans again.
"""

from __future__ import annotations

import time

from chains.base import PlanStep, SweepPlan
from chains.errors import NodeRefused, PermanentChainError, SignerMismatch, SweepRefused
from chains.stellar import txbuild
from chains.stellar.horizon import HorizonProblem

# Imports inside functions: stellar-sdk's Keypair loads on first use, as in the family's other modules.

#: Horizon's transaction result codes that no resend of the same bytes can change -> (our code, meaning)
PERMANENT = {"tx_bad_seq": ("nonce_taken", "its sequence was used by another transaction of the account"),
             "tx_too_late": ("tx_expired", "its time bounds have passed")}


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
            key = self._as_key(key_for_path(step.signer_path))
            if key.public_key != step.signer_address:
                raise SignerMismatch(f"the key derived at {step.signer_path} does not control {step.signer_address}",
                                     details={"path": step.signer_path, "address": step.signer_address})
            env = txbuild.envelope(step.tx)
            env.sign(key)
            out.append(env.to_xdr())
        return out

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
