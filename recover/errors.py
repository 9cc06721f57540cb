"""Typed errors: each carries a stable ``code`` (for JSON) and the CLI exit code of DESIGN.md.

Every error the library raises on purpose is a ``RecoverError``; the CLI maps it to its exit
code and message, anything else is exit 1.  Errors from ``fees`` and ``chains`` follow the same
convention (``code`` and ``exit_code`` attributes) so the CLI can treat them alike without those
packages importing ``recover``.
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


class RecoverError(Exception):
    """Base of every deliberate error; ``code`` is machine-readable, the message is for people."""

    code = "error"
    exit_code = EXIT_UNEXPECTED

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details = details or {}

    @property
    def message(self) -> str:
        return str(self)


class NotFound(RecoverError):
    code = "not_found"
    exit_code = EXIT_NOT_FOUND


class InvalidInput(RecoverError):
    code = "invalid_input"
    exit_code = EXIT_INVALID


class ConfigError(InvalidInput):
    """A network or policy file is wrong; the message names the file and the key."""

    code = "config_error"


class IllegalTransition(RecoverError):
    code = "illegal_transition"
    exit_code = EXIT_STATE


class ConcurrentUpdate(RecoverError):
    """The optimistic ``UPDATE ... WHERE status = expected`` matched no row: someone else moved it."""

    code = "concurrent_update"
    exit_code = EXIT_STATE


class DuplicateClaim(RecoverError):
    code = "duplicate"
    exit_code = EXIT_STATE


class VerificationRefused(RecoverError):
    code = "verification_refused"
    exit_code = EXIT_CHAIN_REFUSED


class PolicyRefused(RecoverError):
    code = "policy_refused"
    exit_code = EXIT_POLICY


class NodeUnreachable(RecoverError):
    code = "node_unreachable"
    exit_code = EXIT_NODE


class Waiting(RecoverError):
    """Nothing is wrong: a prerequisite is not confirmed yet.  Run the command again later (the
    worker treats it as "later")."""

    code = "waiting"
    exit_code = EXIT_WAITING
