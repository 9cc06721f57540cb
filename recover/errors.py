"""Typed errors of the domain: each carries a stable ``code`` (for JSON) and the exit code of DESIGN.md.

Every error the library raises on purpose derives from the toolkit's one root,
``chains.errors.ToolkitError`` (code, exit code, message, details): the domain's from
``RecoverError``, the chain adapters' from ``ChainError``, the fee engine's from ``FeeError``.  The CLI,
the worker and the web app each map the root in one place; anything else is exit 1.
"""

from __future__ import annotations

from chains.errors import (EXIT_CHAIN_REFUSED, EXIT_INVALID, EXIT_NODE, EXIT_NOT_FOUND, EXIT_OK,  # noqa: F401
                           EXIT_POLICY, EXIT_STATE, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_WAITING, ToolkitError)


class RecoverError(ToolkitError):
    """Base of every deliberate error of the domain."""


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


def error_for_exit(exit_code: int) -> type[RecoverError]:
    """The error class of an exit code (a result reported, then raised: ``case verify ID``)."""
    for cls in (NotFound, InvalidInput, IllegalTransition, VerificationRefused, PolicyRefused, NodeUnreachable,
                Waiting):
        if cls.exit_code == exit_code:
            return cls
    return RecoverError
