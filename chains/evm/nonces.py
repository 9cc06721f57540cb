"""Account nonces and our own gas at a deposit address: what broadcasting and the gas book ask of a plan.

* :meth:`NonceMixin.nonce_conflict`: a step's nonce below its signer's pending nonce was used by
  another transaction: the plan can never be mined as signed (re-plan).
* :meth:`NonceMixin.nonce_ahead`: a step's nonce above it (a gas top-up whose reserved nonce follows
  another plan's top-up not yet sent): nothing is wrong, it waits; it is never sent early, because a
  node only queues such a transaction and it could land after its plan was voided.
* :meth:`NonceMixin.station_nonce_of`: the gas-station nonce a plan's top-up reserves (pure).
* :meth:`NonceMixin.own_gas_left`: what our top-ups left at the deposit after the plan's transactions.
"""

from __future__ import annotations

from typing import Sequence

from chains.base import NonceAhead, SweepPlan
from chains.errors import PermanentChainError
from chains.evm.common import qty
from chains.transport import RpcError


class NonceMixin:
    """``nonce_conflict``, ``nonce_ahead``, ``station_nonce_of``, ``own_gas_left``."""

    def _pending_nonces(self, plan: SweepPlan) -> dict[str, int]:
        """Each signer's pending nonce (mined transactions and the node's executable pool), one batch."""
        self.check_chain()
        signers = sorted({s.signer_address for s in plan.steps})
        res = self.client.batch([("eth_getTransactionCount", [a, "pending"]) for a in signers])
        pending = {}
        for a, r in zip(signers, res):
            if isinstance(r, RpcError):
                raise self._error("eth_getTransactionCount", r)
            pending[a] = qty(r)
        return pending

    def nonce_conflict(self, plan: SweepPlan) -> str | None:
        """A step whose nonce is below its signer's pending nonce can never be mined as signed: another
        transaction used that nonce (two plans made before either was sent, or a reservation's nonce used
        by a transaction sent by hand).  A nonce *above* it is no conflict: see :meth:`nonce_ahead`."""
        if not plan.steps:
            return None
        pending = self._pending_nonces(plan)
        for step in plan.steps:
            n = int(step.tx["nonce"])
            if n < pending[step.signer_address]:
                return (f"step {step.seq} ({step.role}) was signed with nonce {n} of {step.signer_address}, which "
                        f"another transaction has used (the account is at nonce {pending[step.signer_address]})")
        return None

    def nonce_ahead(self, plan: SweepPlan) -> NonceAhead | None:
        """The first step whose nonce is above its signer's pending nonce (another plan's top-up with a
        lower reserved nonce has not been sent yet).  anvil and geth would accept it and keep it queued
        until the gap fills; it is not sent at all (the caller waits), so a plan voided meanwhile can
        never land later."""
        if not plan.steps:
            return None
        pending = self._pending_nonces(plan)
        for step in plan.steps:
            n = int(step.tx["nonce"])
            if n > pending[step.signer_address]:
                return NonceAhead(step.seq, step.role, step.signer_address, n, pending[step.signer_address])
        return None

    @classmethod
    def station_nonce_of(cls, plan: SweepPlan) -> tuple[str, int] | None:
        for step in plan.steps:
            if step.role == "gas_topup":
                return step.signer_address, int(step.tx["nonce"])
        return None

    def own_gas_left(self, plan: SweepPlan, txids: Sequence[str]) -> int:
        """Our gas budget at the deposit (the top-ups and ``meta.own_native_used``) minus what the
        deposit's transactions paid (``gasUsed x effectiveGasPrice`` from their receipts).  A native
        sweep's top-up (``absorb``) is exactly its 21000-gas transfers' cost: nothing is left; one that
        pays its own gas (``deduct``) has no budget of ours."""
        budget = int(plan.meta.get("own_native_used") or 0) + sum(
            int(s.tx["value"]) for s in plan.steps if s.role == "gas_topup")
        if budget == 0:
            return 0
        self.check_chain()
        mine = [t for s, t in zip(plan.steps, txids) if s.role != "gas_topup"]
        paid = 0
        for txid, r in zip(mine, self.client.batch([("eth_getTransactionReceipt", [t]) for t in mine])):
            if isinstance(r, RpcError):
                raise self._error("eth_getTransactionReceipt", r)
            if r is None:
                raise PermanentChainError(f"transaction {txid} has no receipt: the plan is not complete",
                                          code="not_mined")
            paid += qty(r["gasUsed"]) * qty(r.get("effectiveGasPrice") or r.get("gasPrice"))
        return max(0, budget - paid)
