"""Adapter and configuration errors, split as ccxt does: permanent (the claim or the file is wrong)
versus retryable (the node did not answer).  Each has the ``code``/``exit_code`` convention that the
CLI maps to DESIGN.md's exit codes, without ``chains`` importing ``recover``."""

from __future__ import annotations


class ChainError(Exception):
    code = "chain_error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details = details or {}


class NetworkConfigError(ChainError):
    """A network file is wrong: the message names the file and the key."""

    code = "config_error"
    exit_code = 4


class InvalidAddress(ChainError):
    code = "invalid_address"
    exit_code = 4


class InvalidTxid(ChainError):
    code = "invalid_txid"
    exit_code = 4


class PermanentChainError(ChainError):
    """The chain answered, and the answer refuses the claim (missing tx, failed tx, not ours...)."""

    code = "verification_refused"
    exit_code = 6


class RetryableChainError(ChainError):
    """The node did not answer (after retries and failover)."""

    code = "node_unreachable"
    exit_code = 8


class Unsupported(ChainError):
    """The network's family cannot do what was asked (export a plan for offline signing, load a raw
    key...): a usage or configuration problem, never a refusal of the claim."""

    code = "unsupported"
    exit_code = 4


class SweepRefused(ChainError):
    """The chain could do it, but not as quoted or not safely: re-quote or decide by hand
    (gas price rose above the quote, a native sweep to a contract cannot be made exact...)."""

    code = "sweep_refused"
    exit_code = 7


class SignerMismatch(ChainError):
    """The key derived for a path does not control the address the plan spends from."""

    code = "signer_mismatch"
    exit_code = 7


class InvalidRequest(ChainError):
    """The node refused the request's parameters, or a document given to an adapter is malformed."""

    code = "invalid_request"
    exit_code = 4


class NotFoundOnChain(ChainError):
    """The node does not know the transaction, block or account asked for."""

    code = "not_found"
    exit_code = 3


class ExecutionReverted(PermanentChainError):
    """A call or transaction reverted; ``details["data"]`` holds the revert payload when there is one."""

    code = "execution_reverted"
    exit_code = 6


class NodeRefused(PermanentChainError):
    """The node answered with an error that is none of the above (permanent: not retried)."""

    code = "node_refused"
    exit_code = 6
