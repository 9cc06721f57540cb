"""Signing, node acceptance checks, offline export/import and broadcast of UTXO plans.

Each step's transaction is built by :func:`chains.utxo.tx.build_transaction` (bitcoinlib) with the
signer's public key and signed *as that object* (bitcoinlib ``Transaction.sign`` on Bitcoin-style
chains; :mod:`chains.utxo.forkid` on fork chains); the signed bytes are then compared with the plan
(:func:`chains.utxo.tx.signed_differs`) and checked by the node.  ``testmempoolaccept`` needs a
signed transaction, so it runs here on the signed bytes (``PermanentChainError``
``simulation_failed`` with the node's reject reason).  bitcoinlib trusts the input values it is
given, so they are re-read from the node (:meth:`simulate`) before signing.

Fork chains (``[utxo] fork_id``: Bitcoin Cash, Bitcoin SV): every input is signed with
SIGHASH_ALL|SIGHASH_FORKID, P2PKH inputs only (``SweepRefused`` ``unsupported_script_type``
otherwise), verified locally, and checked by the node: ``testmempoolaccept`` where the node has it
(Bitcoin Cash Node), else ``verifyscript`` on every input plus the size check here (Bitcoin SV).

Offline: :meth:`SignMixin.export_unsigned` gives ``{"format": "psbt", "psbt": base64}``
(:mod:`chains.utxo.psbt`, embit); :meth:`SignMixin.signed_from_document` takes ``{"signed": [raw]}``
or ``{"psbt": finalized PSBT}``; :meth:`SignMixin.check_signed` checks what comes back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

from chains.base import PlanStep, SweepPlan
from chains.errors import InvalidRequest, PermanentChainError, SignerMismatch, SweepRefused
from chains.transport import RpcError
from chains.utxo.forkid import sign_p2pkh_forkid, verify_p2pkh_forkid
from chains.utxo.keys import as_utxo_key
from chains.utxo.psbt import build_psbt, finalize_psbt
from chains.utxo.tx import (
    build_transaction,
    hex_bytes,
    output_script,
    parse_raw,
    signed_differs,
    txid_of_raw,
    unsigned_hex,
)

__all__ = ["SignMixin", "sign_with_bitcoinlib"]

_ALREADY = ("already in block chain", "txn-already-known", "txn-already-in-mempool", "already in the mempool",
            "transaction already in block chain", "already-in-chain", "outputs already in utxo set")


def sign_with_bitcoinlib(tx: dict, key, network: str) -> str:
    """Plan step ``tx`` signed by ``key`` (a :class:`chains.utxo.keys.UtxoKey`) with SIGHASH_ALL: the
    bitcoinlib ``Transaction`` of the step, built with the key's public key, signed and verified."""
    t = build_transaction(tx, network, public_hex=key.public_hex)
    if tx.get("unsigned_hex") and unsigned_hex(build_transaction(tx, network)) != tx["unsigned_hex"]:
        raise SweepRefused("the plan's unsigned transaction is not its inputs and outputs",
                           code="bad_plan")
    t.sign(key.bitcoinlib_key())
    if not t.verify():
        raise PermanentChainError("bitcoinlib could not produce valid signatures", code="signing_failed")
    return t.raw_hex()


class SignMixin:
    """Signing and sending of :class:`chains.utxo.adapter.UtxoAdapter`."""

    def _signer_key(self, step: PlanStep, key_for_path: Callable[[str], Any], script_type: str):
        try:
            key = as_utxo_key(key_for_path(step.signer_path), self.address_network, script_type)
        except (TypeError, ValueError) as exc:
            raise SignerMismatch(f"the signer's key for {step.signer_path} is not usable: {exc}",
                                 details={"path": step.signer_path}) from None
        if key.address != step.signer_address or any(i["address"] != key.address for i in step.tx["inputs"]):
            raise SignerMismatch(
                f"the key derived at {step.signer_path} controls {key.address} ({script_type}), not "
                f"{step.signer_address}", details={"path": step.signer_path, "expected": step.signer_address,
                                                  "derived": key.address})
        return key

    def sign(self, plan: SweepPlan, key_for_path: Callable[[str], Any]) -> list[str]:
        """Sign every step with bitcoinlib; check the key controls the inputs' address, the input
        values against the node, the signed bytes against the plan, and ``testmempoolaccept``."""
        if plan.family != "utxo" or plan.network != self.network.key:
            raise SweepRefused("this plan is not for this UTXO network", code="plan_wrong_chain")
        raws = []
        for step in plan.steps:
            tx = step.tx
            if bool(tx.get("fork_id")) != bool(self.opts.fork_id):
                raise SweepRefused("the plan's fork_id does not match this network's", code="plan_wrong_chain")
            if self.opts.fork_id:
                raws.append(self._sign_forkid(plan, step, key_for_path))
                continue
            key = self._signer_key(step, key_for_path, tx["inputs"][0]["script_type"])
            self.simulate(replace(plan, steps=(step,)))  # values and scripts re-read from the node
            raw = sign_with_bitcoinlib(tx, key, self.address_network)
            problem = signed_differs(tx, raw, self.address_network)
            if problem:
                raise PermanentChainError(f"the signed transaction differs from the plan: {problem}",
                                          code="simulation_failed", details={"reason": problem})
            self._testmempoolaccept(raw, tx)
            raws.append(raw)
        return raws

    # -- fork chains (Bitcoin Cash, Bitcoin SV): SIGHASH_FORKID ------------------------------------
    def _sign_forkid(self, plan: SweepPlan, step: PlanStep, key_for_path: Callable[[str], Any]) -> str:
        """Sign a fork-chain step: every input P2PKH, SIGHASH_ALL|SIGHASH_FORKID over the BIP-143 style
        digest that commits to each spent output's value (re-read from the node by :meth:`simulate`
        first); verified locally, compared with the plan, and checked by the node
        (:meth:`_testmempoolaccept`: ``testmempoolaccept``, or ``verifyscript`` on nodes without it)."""
        tx = step.tx
        bad = sorted({i["script_type"] for i in tx["inputs"] if i["script_type"] != "p2pkh"})
        if bad:
            raise SweepRefused(
                f"{self.network.key}: SIGHASH_FORKID signing spends legacy P2PKH outputs only, not {', '.join(bad)} "
                "(a fork chain has no segwit)", code="unsupported_script_type", details={"script_types": bad})
        key = self._signer_key(step, key_for_path, "p2pkh")
        own_script = output_script(key.address, self.address_network)[0].hex()
        if any(i["script_pubkey"] != own_script for i in tx["inputs"]):
            raise SignerMismatch("an input is not locked to the key's P2PKH script",
                                 details={"path": step.signer_path, "expected": step.signer_address})
        self.simulate(replace(plan, steps=(step,)))  # values and scripts re-read from the node
        amounts = [int(i["amount"]) for i in tx["inputs"]]
        t = build_transaction(tx, self.address_network)  # the step's one bitcoinlib object, signed below
        if unsigned_hex(t) != tx["unsigned_hex"]:
            raise SweepRefused("the plan's unsigned transaction is not its inputs and outputs",
                               code="bad_plan")
        try:
            raw = sign_p2pkh_forkid(t, amounts, key.secret)
        except ValueError as exc:
            raise PermanentChainError(f"SIGHASH_FORKID signing failed: {exc}", code="signing_failed") from None
        prevouts = [(a, bytes.fromhex(i["script_pubkey"])) for a, i in zip(amounts, tx["inputs"])]
        problems = verify_p2pkh_forkid(raw, prevouts)
        if problems:
            raise PermanentChainError(f"the FORKID signatures do not verify: {'; '.join(problems)}",
                                      code="signing_failed", details={"problems": problems})
        problem = signed_differs(tx, raw, self.address_network)
        if problem:
            raise PermanentChainError(f"the signed transaction differs from the plan: {problem}",
                                      code="simulation_failed", details={"reason": problem})
        self._testmempoolaccept(raw, tx)
        return raw

    def _forkid_node_check(self, raw: str, tx: dict) -> dict:
        """A fork chain's node acceptance check.  Bitcoin Cash Node has ``testmempoolaccept``; Bitcoin SV
        has not (``Method not found``), so there every input's script is run by ``verifyscript`` (with
        the node's consensus flags at the tip, which require SIGHASH_FORKID) and the size and fee are
        checked here."""
        try:
            res = self.client.call("testmempoolaccept", [[raw]])
        except RpcError as err:
            if err.code != -32601:  # anything but "method not found"
                raise self._node_error("testmempoolaccept", err) from None
        else:
            return self._accept_result(res[0], tx)
        n_inputs = len(parse_raw(raw, self.address_network).inputs)
        try:
            results = self.client.call("verifyscript", [[{"tx": raw, "n": n} for n in range(n_inputs)], False])
        except RpcError as err:
            raise PermanentChainError(
                f"the node has neither testmempoolaccept nor verifyscript ({err.message}): cannot check the "
                "signed sweep", code="simulation_failed", details={"reason": "no_simulation_rpc"}) from None
        bad = [f"input {n}: {r.get('result')} {r.get('description') or ''}".strip()
               for n, r in enumerate(results or []) if r.get("result") != "ok"]
        if len(results or []) != n_inputs or bad:
            reason = "; ".join(bad) or "verifyscript answered for another number of inputs"
            raise PermanentChainError(f"verifyscript rejects the sweep: {reason}", code="simulation_failed",
                                      details={"reason": reason, "txid": txid_of_raw(raw, self.address_network)})
        size = len(hex_bytes(raw))
        if size > int(tx["vsize_max"]):
            raise PermanentChainError(f"the signed sweep is {size} B, larger than the {tx['vsize_max']} B quoted",
                                      code="simulation_failed", details={"reason": "vsize"})
        return {"txid": txid_of_raw(raw, self.address_network), "allowed": True, "size": size, "checked_by": "verifyscript"}

    def _testmempoolaccept(self, raw: str, tx: dict) -> dict:
        if self.opts.fork_id:
            return self._forkid_node_check(raw, tx)
        return self._accept_result(self._call("testmempoolaccept", [[raw]])[0], tx)

    def _accept_result(self, res: dict, tx: dict) -> dict:
        if not res.get("allowed"):
            reason = res.get("reject-reason") or "rejected"
            if reason in ("txn-already-in-mempool", "txn-already-known", "txn-already-in-chain"):
                return res
            raise PermanentChainError(f"testmempoolaccept rejects the sweep: {reason}", code="simulation_failed",
                                      details={"reason": reason, "txid": res.get("txid")})
        vsize = res.get("vsize")
        if vsize is not None and int(vsize) > int(tx["vsize_max"]):
            raise PermanentChainError(f"the signed sweep is {vsize} vB, larger than the {tx['vsize_max']} vB quoted",
                                      code="simulation_failed", details={"reason": "vsize"})
        fees = (res.get("fees") or {}).get("base")
        if fees is not None and self._units(fees) != int(tx["fee"]):
            raise PermanentChainError("the node computes another fee than the plan's", code="simulation_failed")
        return res

    # -- offline signing -------------------------------------------------------------------------
    def export_psbt(self, plan: SweepPlan) -> str:
        """BIP-174 PSBT (base64) of the plan's single sweep step, for an offline signer: the unsigned
        transaction; per input the previous output (``witness_utxo`` for segwit inputs, the full previous
        transaction for P2PKH) and SIGHASH_ALL."""
        if len(plan.steps) != 1:
            raise SweepRefused("a UTXO plan has one step", code="bad_plan")
        tx = plan.steps[0].tx
        prevs = {}
        legacy = [i["txid"] for i in tx["inputs"] if i["script_type"] == "p2pkh"]
        if legacy:
            res = self.client.batch([("getrawtransaction", [t, False]) for t in dict.fromkeys(legacy)])
            for t, r in zip(dict.fromkeys(legacy), res):
                if isinstance(r, RpcError):
                    raise self._node_error("getrawtransaction", r)
                if txid_of_raw(r, self.address_network) != t:
                    raise PermanentChainError("the node returned another previous transaction", code="bad_prevtx")
                prevs[t] = r
        return build_psbt(tx, prevs)

    def export_unsigned(self, plan: SweepPlan) -> dict:
        """``{"format": "psbt", "psbt": base64}``: the plan's PSBT for an offline signer."""
        return {"format": "psbt", "psbt": self.export_psbt(plan)}

    def signed_from_document(self, doc: dict) -> list[str]:
        """The signed raw transactions of an offline signer's answer: ``{"signed": [raw, ...]}`` or
        ``{"psbt": finalized PSBT}`` (not yet checked: :meth:`check_signed` does)."""
        if not isinstance(doc, dict):
            raise InvalidRequest("the file is not a JSON object", code="bad_file")
        if doc.get("psbt") is not None and doc.get("signed") is None:
            if not isinstance(doc["psbt"], str):
                raise InvalidRequest("the file's psbt is not base64 text", code="bad_file")
            try:
                return [finalize_psbt(doc["psbt"])]
            except ValueError as exc:
                raise InvalidRequest(f"the file's PSBT cannot be used: {exc}", code="bad_file") from None
        raws = doc.get("signed")
        if not isinstance(raws, list) or not raws or not all(isinstance(r, str) for r in raws):
            raise InvalidRequest("the file has neither a list of signed transactions nor a finalized PSBT",
                                 code="bad_file")
        return raws

    def check_signed(self, plan: SweepPlan, raws: Sequence[str]) -> list[str]:
        """An offline-signed import: each raw must spend exactly the plan's inputs to exactly its outputs
        (and pass ``testmempoolaccept``).  Returns the txids; raises ``SweepRefused`` ``signed_differs``."""
        if len(raws) != len(plan.steps):
            raise SweepRefused(f"{len(raws)} signed transactions for a plan of {len(plan.steps)} steps",
                               code="signed_differs")
        txids = []
        for step, raw in zip(plan.steps, raws):
            problem = signed_differs(step.tx, raw, self.address_network)
            if problem:
                raise SweepRefused(f"the signed transaction differs from the approved plan: {problem}",
                                   code="signed_differs", details={"reason": problem})
            try:
                self._testmempoolaccept(raw, step.tx)
            except PermanentChainError as exc:
                raise SweepRefused(f"the signed transaction is not valid: {exc}", code="signed_invalid",
                                   details=exc.details) from None
            txids.append(txid_of_raw(raw, self.address_network))
        return txids

    def signed_step_problem(self, step: PlanStep, raw: str) -> str | None:
        """Whether signed bytes spend exactly the step's inputs to exactly its outputs (pure)."""
        return signed_differs(step.tx, raw, self.address_network)

    # -- send / track ----------------------------------------------------------------------------
    def txid_of(self, raw: str) -> str:
        return txid_of_raw(raw, self.address_network)

    def broadcast(self, raw: str) -> str:
        txid = txid_of_raw(raw, self.address_network)
        try:
            got = self.client.call("sendrawtransaction", [hex_bytes(raw).hex()])
            if isinstance(got, str) and got.lower() != txid:
                raise SweepRefused(f"the node reports txid {got} for {txid}", code="txid_mismatch")
            return txid
        except RpcError as err:
            msg = (err.message or "").lower()
            if any(s in msg for s in _ALREADY):
                return txid
            try:
                known = self.client.call("getrawtransaction", [txid, False])
            except RpcError:
                known = None
            if known:
                return txid
            raise PermanentChainError(f"the node rejected transaction {txid}: {err.message}",
                                      code="broadcast_rejected", details={"txid": txid, "rpc_code": err.code}) from None

