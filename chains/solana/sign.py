"""Simulating, signing and sending a plan's transactions (solders ``MessageV0`` /
``VersionedTransaction``), and the keys a plan needs.

A signer is a solders ``Keypair`` (the HD seed, a keystore) or an HSM key (:class:`chains.hsm.HsmKey`,
the fee payer kept on a token as ``hsm:<label>``).  The token never hands out its key, so it signs
the bytes a versioned transaction signs (``to_bytes_versioned``, as solders' own signers do) and
solders assembles the transaction from that signature as a ``Presigner``: no wire format is
written here.  Either way the signer's public key must be the address the plan names."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any, Callable

from chains.base import PlanStep, SweepPlan
from chains.errors import PermanentChainError, RetryableChainError, SignerMismatch, SweepRefused
from chains.hsm import HsmError, HsmKey
from chains.solana import node as rq
from chains.solana.common import TX_FORMAT, decode_ix, guard, pubkey, reads_node, reason
from chains.solana.keys import address_of_public_key
from chains.transport import RpcError, classify

# Imports inside functions: solders / spl load on first use: importing the family (to validate an address)
# loads no SDK.


def message(step: PlanStep, blockhash):
    """The step's ``MessageV0`` (fee payer: the gas station) with ``blockhash``."""
    from solders.message import MessageV0

    if step.tx.get("format") != TX_FORMAT:
        raise SweepRefused(f"step {step.seq} is not a Solana instruction list", code="plan_malformed")
    ixs = [decode_ix(d) for d in step.tx["instructions"]]
    payer = pubkey(step.tx["fee_payer"], "fee payer")
    return guard("cannot compile the sweep message", lambda: MessageV0.try_compile(payer, ixs, [], blockhash),
                 code="plan_malformed", exc_type=SweepRefused)


def decode_raw(raw: str):
    from solders.transaction import VersionedTransaction

    return guard("not a signed Solana transaction (base64)",
                 lambda: VersionedTransaction.from_bytes(base64.b64decode(raw, validate=True)), code="invalid_raw")


def _signer(key: Any, path: str, expected: str, what: str):
    """A checked signer: the solders ``Keypair``, or the ``HsmKey`` itself (it signs once the message
    is known, :func:`token_presigner`), whose public key must control ``expected`` as well."""
    from solders.keypair import Keypair

    key = getattr(key, "key", key)  # a DerivedKey passed whole
    if isinstance(key, HsmKey):
        held = _token_pubkey(key)
        if held != expected:
            raise SignerMismatch(f"HSM key {key.label!r} for {path} controls {held}, not {expected} ({what})",
                                 details={"path": path, "expected": expected, "token_address": held})
        return key
    if not isinstance(key, Keypair):
        key = guard(f"the key for {path} is not a Solana keypair", lambda: Keypair.from_bytes(bytes(key)),
                    code="signer_key")
    if str(key.pubkey()) != expected:
        raise SignerMismatch(f"the key derived at {path} controls {key.pubkey()}, not {expected} ({what})",
                             details={"path": path, "expected": expected, "derived": str(key.pubkey())})
    return key


def _token_pubkey(key: HsmKey) -> str:
    return address_of_public_key(key.curve, key.public_key)


def token_presigner(key: HsmKey, msg):
    """The token's signature of ``msg`` as a solders ``Presigner``: the token signs
    ``to_bytes_versioned(msg)`` (what ``VersionedTransaction`` signs: the version prefix, then the
    message); the signature is checked against the token's public key before it is used."""
    from solders.message import to_bytes_versioned
    from solders.presigner import Presigner
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    data = to_bytes_versioned(msg)
    pub = Pubkey.from_bytes(bytes(key.public_key))
    sig = Signature.from_bytes(key.sign_ed25519(data))
    if not sig.verify(pub, data):
        raise HsmError(f"token {key.token.label!r}: key {key.label!r} returned a signature its public key does not "
                       "verify", code="hsm_bad_signature", details={"label": key.label})
    return Presigner(pub, sig)


def _pubkey_of(signer) -> str:
    return _token_pubkey(signer) if isinstance(signer, HsmKey) else str(signer.pubkey())


class SignMixin:
    """simulate / sign / txid_of / broadcast / signing_keys of :class:`chains.solana.adapter.SolanaAdapter`."""

    def signing_keys(self, plan: SweepPlan) -> dict[str, str]:
        """Each step's signer and its fee payer (the gas station): path -> address."""
        keys = {s.signer_path: s.signer_address for s in plan.steps}
        for s in plan.steps:
            if s.tx.get("fee_payer_path"):
                keys[s.tx["fee_payer_path"]] = s.tx["fee_payer"]
        return keys

    @reads_node
    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """``simulateTransaction`` of every step in one batch (``sigVerify`` false,
        ``replaceRecentBlockhash`` true); returns the plan with ``simulation`` filled, or raises
        ``PermanentChainError`` ``simulation_failed``."""
        from solders.hash import Hash
        from solders.signature import Signature
        from solders.transaction import VersionedTransaction

        if plan.family != "solana":
            raise SweepRefused("this plan is not for a Solana network", code="plan_wrong_chain")
        txs = []
        for step in plan.steps:
            msg = message(step, Hash.default())
            n = msg.header.num_required_signatures
            tx = guard("cannot build the transaction to simulate",
                       lambda m=msg, n=n: VersionedTransaction.populate(m, [Signature.default()] * n),
                       code="plan_malformed", exc_type=SweepRefused)
            txs.append(base64.b64encode(bytes(tx)).decode())
        answers = self.node.batch([rq.simulate_transaction(t) for t in txs])
        steps = []
        for step, answer in zip(plan.steps, answers):
            value = rq.value(rq.must(answer))
            if value.get("err") is not None:
                why = reason(value["err"], value.get("logs"))
                raise PermanentChainError(f"{step.role} would fail: {why}", code="simulation_failed",
                                          details={"role": step.role, "reason": why, "err": value["err"],
                                                   "logs": (value.get("logs") or [])[-8:], "asset": plan.asset})
            steps.append(replace(step, simulation={"ok": True, "units_consumed": value.get("unitsConsumed")}))
        return replace(plan, steps=tuple(steps))

    def sign(self, plan: SweepPlan, key_for_path: Callable[[str], Any]) -> list[str]:
        """Signed transactions (base64 of the wire bytes), one per step, with a fresh blockhash.
        ``key_for_path`` is asked for the fee payer's path and each step's signer path; it may give a
        ``Keypair`` or an ``HsmKey`` for either (the token is asked to sign only after both are checked)."""
        from solders.hash import Hash
        from solders.transaction import VersionedTransaction

        if plan.family != "solana" or plan.network != self.network.key:
            raise SweepRefused("this plan is not for this Solana network", code="plan_wrong_chain")
        answer = rq.value(self.node.call(rq.get_latest_blockhash()))
        blockhash = guard("bad blockhash from the node", lambda: Hash.from_string(answer["blockhash"]),
                          code="node_answer_malformed", exc_type=RetryableChainError)
        raws = []
        for step in plan.steps:
            payer = _signer(key_for_path(step.tx["fee_payer_path"]), step.tx["fee_payer_path"], step.tx["fee_payer"],
                            "fee payer / gas station")
            owner = _signer(key_for_path(step.signer_path), step.signer_path, step.signer_address,
                            f"step {step.seq}, {step.role}")
            msg = message(step, blockhash)
            signers = {_pubkey_of(payer): payer, _pubkey_of(owner): owner}
            needed = [str(k) for k in msg.account_keys[:msg.header.num_required_signatures]]
            if set(needed) - set(signers):
                raise SweepRefused(f"step {step.seq} needs signatures of {needed}, not only the deposit and the gas "
                                   "station", code="plan_malformed")
            ordered = [token_presigner(signers[k], msg) if isinstance(signers[k], HsmKey) else signers[k]
                       for k in needed]
            tx = guard("cannot sign the sweep", lambda: VersionedTransaction(msg, ordered), code="sign_failed")
            raws.append(base64.b64encode(bytes(tx)).decode())
        return raws

    def txid_of(self, raw: str) -> str:
        return str(decode_raw(raw).signatures[0])

    @reads_node
    def broadcast(self, raw: str) -> str:
        """``sendTransaction`` with preflight; "already processed" (or a status the node already has for
        the signature) is success; an expired blockhash says to sign again."""
        tx = decode_raw(raw)
        txid = str(tx.signatures[0])
        res = self.node.raw_call(rq.send_transaction(base64.b64encode(bytes(tx)).decode()))
        if not isinstance(res, RpcError):
            return txid
        data = res.data.get("err") if isinstance(res.data, dict) else res.data
        text = res.message + (f" ({json.dumps(data)})" if data is not None else "")
        low = text.lower()
        if "already been processed" in low or "alreadyprocessed" in low:
            return txid
        status = rq.value(self.node.call(rq.get_signature_statuses([txid])))[0]
        if status is not None:
            return txid
        if "blockhashnotfound" in low or "blockhash not found" in low:
            raise PermanentChainError(f"the node rejected transaction {txid}: {text}; the blockhash expired: sign "
                                      "again", code="blockhash_expired", details={"txid": txid})
        err = classify(res, method="sendTransaction", network=self.network.key)
        raise PermanentChainError(f"the node rejected transaction {txid}: {text}", code="broadcast_rejected",
                                  details={"txid": txid, "rpc_code": res.code, "kind": err.code})
