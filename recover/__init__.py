"""Misdeposit recovery toolkit: ``import recover`` gives the operations of the ``recover`` CLI.

Names are loaded lazily so that ``recover --help`` and scripts that only read cases never import a
chain SDK or the database layer before they need it.
"""

from __future__ import annotations

import importlib

# Imports inside functions: `import recover` loads the API on first use of a name.

__version__ = "0.1.0"

_API = {
    "init", "list_networks", "import_addresses", "import_memos", "open_case", "show_case", "list_cases", "verify_audit",
    "set_price", "import_prices", "verify_cases", "verify_case", "quote_case", "prepare_case",
    "decide", "set_policy", "show_policy", "queue", "check_network",
    "prove_ownership", "sign_off", "sign_case", "broadcast_case", "track_case", "export_credits",
    "export_case", "import_signed", "reopen_case", "list_addresses", "list_prices", "trust_init", "operators_keygen", "operators_enroll",
    "operators_revoke", "operators_list", "audit_checkpoint", "close_case", "preview_reopen",
    "checkpoint_public_key", "hsm_keys",
}
# Services that drive cases through the API (the worker) live above it, so ``recover.api`` never imports them.
_SERVICES = {"run_worker": "recover.services.worker", "scan": "recover.services.scanning",
             "follow_scan": "recover.services.scan_follow", "import_appeals": "recover.services.appeals"}
_ERRORS = {
    "RecoverError", "NotFound", "InvalidInput", "ConfigError", "IllegalTransition", "ConcurrentUpdate",
    "DuplicateClaim", "VerificationRefused", "PolicyRefused", "NodeUnreachable",
}
__all__ = sorted(_API | set(_SERVICES) | _ERRORS | {"CaseStatus"})


def __dir__() -> list[str]:
    """``dir(recover)`` and ``help(recover)`` list the API, although it is loaded only when used."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module("recover.api"), name)
    if name in _SERVICES:
        return getattr(importlib.import_module(_SERVICES[name]), name)
    if name in _ERRORS:
        return getattr(importlib.import_module("recover.errors"), name)
    if name == "CaseStatus":
        from recover.life.states import CaseStatus

        return CaseStatus
    raise AttributeError(f"module 'recover' has no attribute {name!r}")
