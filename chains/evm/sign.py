"""Signing (eth-account), offline export and the signed-import check, txids and broadcasting."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from eth_utils import keccak

from chains.base import PlanStep, SweepPlan
from chains.errors import PermanentChainError, SignerMismatch, SweepRefused
from chains.evm.common import cs, hexbytes
from chains.evm.plan import jsonable_tx, tx_for_signing
from chains.hsm import HsmKey, recovery_id
from chains.transport import RpcError

# Imports inside functions: web3 / eth-account / eth-utils load on first use: importing the family (to
# validate an address) loads no SDK.

_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown", "already exists",
                  "already in the pool")


def _account(key: Any):
    """A local eth-account signer from ``DerivedKey.key`` (an account already, or raw key bytes)."""
    from eth_account import Account
    from eth_account.signers.local import LocalAccount

    return key if isinstance(key, LocalAccount) else Account.from_key(key)


def sign_with_token(key: HsmKey, tx: dict) -> bytes:
    """The signed bytes of ``tx`` (as :func:`tx_for_signing` gives it) by an HSM key: the token signs
    the transaction's hash; ``s`` is folded low (EIP-2), the recovery id is found by recovering the
    token's own public key, and ``v`` is that id (typed transactions) or EIP-155's ``id + 35 + 2 *
    chainId`` (legacy ones), encoded by eth-account."""
    from eth_account._utils.signing import encode_transaction, serializable_unsigned_transaction_from_dict, to_eth_v
    from eth_account.typed_transactions import TypedTransaction

    unsigned = serializable_unsigned_transaction_from_dict(tx)
    digest = bytes(unsigned.hash())
    r, s = key.sign_digest(digest)
    rec = recovery_id(digest, r, s, key.public_key)
    v = rec if isinstance(unsigned, TypedTransaction) else to_eth_v(rec, int(tx["chainId"]))
    return bytes(encode_transaction(unsigned, vrs=(v, r, s)))


class SignMixin:
    """``sign``, ``export_unsigned``, ``signed_from_document`` (base), ``check_signed``, ``txid_of``, ``broadcast``."""

    def sign(self, plan: SweepPlan, key_for_path: Callable[[str], Any]) -> list[str]:
        if plan.family != "evm" or int(plan.meta.get("chain_id", self.network.chain_id)) != self.network.chain_id:
            raise SweepRefused("this plan is not for this EVM network", code="plan_wrong_chain")
        raws = []
        for step in plan.steps:
            if int(step.tx["chainId"]) != self.network.chain_id:
                raise SweepRefused("a step's chainId is not this network's", code="plan_wrong_chain")
            key = key_for_path(step.signer_path)
            if isinstance(key, HsmKey):
                raws.append(self._token_signed(step, key))
                continue
            account = _account(key)
            if cs(account.address) != cs(step.signer_address):
                raise SignerMismatch(
                    f"the key derived at {step.signer_path} controls {cs(account.address)}, "
                    f"not {cs(step.signer_address)} (step {step.seq}, {step.role})",
                    details={"path": step.signer_path, "expected": cs(step.signer_address),
                             "derived": cs(account.address)})
            if int(step.tx["chainId"]) != self.network.chain_id:
                raise SweepRefused("a step's chainId is not this network's", code="plan_wrong_chain")
            signed = account.sign_transaction(tx_for_signing(step.tx))
            raws.append("0x" + bytes(signed.raw_transaction).hex())
        return raws

    def _token_signed(self, step: PlanStep, key: HsmKey) -> str:
        """One step signed by an HSM key, checked like an imported one: the signed bytes must be the
        step, from its signer, or nothing is returned."""
        raw = "0x" + sign_with_token(key, tx_for_signing(step.tx)).hex()
        problem = signed_difference(step, raw, self.network.chain_id)
        if problem:
            raise SignerMismatch(f"step {step.seq} ({step.role}) signed by HSM key {key.label!r}: {problem}",
                                 details={"path": step.signer_path, "expected": cs(step.signer_address)})
        return raw

    # -- offline signing -------------------------------------------------------------------------
    def export_unsigned(self, plan: SweepPlan) -> dict:
        """The unsigned transactions of a plan as JSON, for an offline signer (it signs ``tx`` with the
        key at ``signer_path`` and returns the raw transactions in ``seq`` order)."""
        return {"format": "evm-unsigned-json", "chain_id": self.network.chain_id,
                "transactions": [{"seq": st.seq, "role": st.role, "signer_address": st.signer_address,
                                  "signer_path": st.signer_path, "after": list(st.after),
                                  "tx": jsonable_tx(tx_for_signing(st.tx))} for st in plan.steps]}

    def check_signed(self, plan: SweepPlan, raws: Sequence[str]) -> list[str]:
        """Each imported raw transaction must be exactly the plan's step, signed by its signer.
        Returns the txids; raises ``SweepRefused`` ``signed_differs`` naming the first difference."""
        if len(raws) != len(plan.steps):
            raise SweepRefused(f"{len(raws)} signed transactions for a plan of {len(plan.steps)} steps",
                               code="signed_differs")
        out = []
        for step, raw in zip(plan.steps, raws):
            problem = signed_difference(step, raw, self.network.chain_id)
            if problem:
                raise SweepRefused(f"step {step.seq} ({step.role}): the signed transaction differs from the approved "
                                   f"plan: {problem}", code="signed_differs", details={"seq": step.seq})
            out.append(self.txid_of(raw))
        return out

    def signed_step_problem(self, step: PlanStep, raw: str) -> str | None:
        """The difference between signed bytes and the plan step (fields, chain id, signer), or None."""
        return signed_difference(step, raw, self.network.chain_id)

    # -- send ------------------------------------------------------------------------------------
    def txid_of(self, raw: str) -> str:
        return "0x" + keccak(hexbytes(raw)).hex()

    def broadcast(self, raw: str) -> str:
        """``eth_sendRawTransaction``; "already known" (in the pool, or mined) counts as sent."""
        raw_bytes = hexbytes(raw)
        txid = "0x" + keccak(raw_bytes).hex()
        try:
            self.client.call("eth_sendRawTransaction", ["0x" + raw_bytes.hex()])
            return txid
        except RpcError as err:
            if any(s in (err.message or "").lower() for s in _ALREADY_KNOWN):
                return txid
            try:
                known = self.client.call("eth_getTransactionByHash", [txid])
            except RpcError:
                known = None
            if known is not None:
                return txid
            raise PermanentChainError(f"the node rejected transaction {txid}: {err.message}",
                                      code="broadcast_rejected", details={"txid": txid, "rpc_code": err.code}) from None


def signed_difference(step: PlanStep, raw: str, chain_id: int) -> str | None:
    """What differs between a signed raw transaction and the plan's step (None: nothing)."""
    from eth_account import Account
    from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    try:
        data = hexbytes(raw)
        if data and data[0] <= 0x7F:
            got = TypedTransaction.from_bytes(HexBytes(data)).as_dict()
        else:
            got = LegacyTransaction.from_bytes(data).as_dict()
            got["chainId"] = (got["v"] - 35) // 2 if got["v"] >= 35 else None
        sender = Account.recover_transaction(data)
    except Exception as exc:  # not a transaction at all
        return f"not a decodable signed transaction ({type(exc).__name__})"
    want = tx_for_signing(step.tx)
    if cs(sender) != cs(step.signer_address):
        return f"signed by {cs(sender)}, not {cs(step.signer_address)}"
    checks = {"chainId": chain_id, "nonce": want["nonce"], "value": want["value"], "gas": want["gas"],
              "to": cs(want["to"]), "data": hexbytes(want["data"])}
    for k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"):
        if k in want:
            checks[k] = want[k]
    for k, v in checks.items():
        g = got.get(k)
        if k == "to":
            g = cs("0x" + bytes(g).hex()) if g else None
        elif k == "data":
            g = bytes(g or b"")
        if g != v:
            return f"{k} is {g!r}, the plan says {v!r}"
    if "type" in want and got.get("type") != want["type"]:
        return f"type is {got.get('type')}, the plan says {want['type']}"
    return None
