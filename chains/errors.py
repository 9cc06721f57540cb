"""The one root of every deliberate error, and the adapter and configuration errors on it.

:class:`ToolkitError` sits at the bottom of the stack (this module imports nothing), so ``chains``,
``fees`` and ``recover`` all derive from it without importing each other's domain: every error the
toolkit raises on purpose carries a stable ``code`` (for JSON), the ``exit_code`` of DESIGN.md, a
message for people and ``details``.  Each surface maps it in one place: the CLI to an exit code and a
JSON error (``cli._fail``), the worker to done / later / backoff (``recover.services.worker``), the web app to
an HTTP status (``recover.web.app``).

Chain errors split as ccxt does: permanent (the claim or the file is wrong) versus retryable (the
node did not answer).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INVALID = 4
EXIT_STATE = 5
EXIT_CHAIN_REFUSED = 6
EXIT_POLICY = 7
EXIT_NODE = 8
EXIT_WAITING = 9


class ToolkitError(Exception):
    """Base of every deliberate error: ``code`` is machine-readable, the message is for people.

    ``commit``: the refusal recorded why (the case moved, the reason is on it) and the unit of work
    keeps that record instead of rolling it back (``recover.storage.db.session_scope``)."""

    code = "error"
    exit_code = EXIT_UNEXPECTED
    commit = False

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details = details or {}

    @property
    def message(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        """The JSON error document's body: ``{"code", "message"[, "details"]}``."""
        doc = {"code": self.code, "message": self.message}
        if self.details:
            doc["details"] = self.details
        return doc


def as_toolkit_error(exc: BaseException) -> ToolkitError:
    """``exc`` itself when it is deliberate, else an ``unexpected`` error (exit 1) naming its type."""
    if isinstance(exc, ToolkitError):
        return exc
    return ToolkitError(f"{type(exc).__name__}: {exc}", code="unexpected")


class ChainError(ToolkitError):
    code = "chain_error"


class NetworkConfigError(ChainError):
    """A network file is wrong: the message names the file and the key."""

    code = "config_error"
    exit_code = EXIT_INVALID


class InvalidAddress(ChainError):
    code = "invalid_address"
    exit_code = EXIT_INVALID


class InvalidTxid(ChainError):
    code = "invalid_txid"
    exit_code = EXIT_INVALID


class PermanentChainError(ChainError):
    """The chain answered, and the answer refuses the claim (missing tx, failed tx, not ours...)."""

    code = "verification_refused"
    exit_code = EXIT_CHAIN_REFUSED


class RetryableChainError(ChainError):
    """The node did not answer (after retries and failover)."""

    code = "node_unreachable"
    exit_code = EXIT_NODE


class Unsupported(ChainError):
    """The network's family cannot do what was asked (export a plan for offline signing, load a raw
    key...): a usage or configuration problem, never a refusal of the claim."""

    code = "unsupported"
    exit_code = EXIT_INVALID


class SweepRefused(ChainError):
    """The chain could do it, but not as quoted or not safely: re-quote or decide by hand
    (gas price rose above the quote, a native sweep to a contract cannot be made exact...)."""

    code = "sweep_refused"
    exit_code = EXIT_POLICY


class SignerMismatch(ChainError):
    """The key derived for a path does not control the address the plan spends from."""

    code = "signer_mismatch"
    exit_code = EXIT_POLICY


class InvalidRequest(ChainError):
    """The node refused the request's parameters, or a document given to an adapter is malformed."""

    code = "invalid_request"
    exit_code = EXIT_INVALID


class NotFoundOnChain(ChainError):
    """The node does not know the transaction, block or account asked for."""

    code = "not_found"
    exit_code = EXIT_NOT_FOUND


class ExecutionReverted(PermanentChainError):
    """A call or transaction reverted; ``details["data"]`` holds the revert payload when there is one."""

    code = "execution_reverted"
    exit_code = EXIT_CHAIN_REFUSED


class NodeRefused(PermanentChainError):
    """The node answered with an error that is none of the above (permanent: not retried)."""

    code = "node_refused"
    exit_code = EXIT_CHAIN_REFUSED
