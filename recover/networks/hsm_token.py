"""The PKCS#11 token of a network file's ``[hsm]`` as this host reaches it: the module, the token's
label and the user PIN, from the file and the environment.  The signer
(:mod:`recover.casework.signing`) and the checks of a signing host (:mod:`recover.networks.hsm_keys`)
open the same token the same way; the PIN is never shown.
"""

from __future__ import annotations

import os
from pathlib import Path

from recover.errors import ConfigError

# Imports inside functions: chains.hsm (python-pkcs11) only when a token is reached.

PIN_ENV = "RECOVER_PKCS11_PIN"
PIN_FILE_ENV = "RECOVER_PKCS11_PIN_FILE"
MODULE_ENV = "RECOVER_PKCS11_MODULE"


def hsm_token(net, env: dict | None = None):
    """The PKCS#11 token of a network file's ``[hsm]`` on this host: the module from
    ``RECOVER_PKCS11_MODULE`` (else the file's ``module``), the PIN from ``RECOVER_PKCS11_PIN`` or the
    first line of the file ``RECOVER_PKCS11_PIN_FILE`` names.  Exit 4 naming what to set."""
    from chains.hsm import Token

    env = os.environ if env is None else env
    if net.hsm is None:
        raise ConfigError(f"{net.source} has no [hsm] table: network {net.key} keeps no key on an HSM",
                          code="hsm_not_configured", details={"network": net.key})
    module = env.get(MODULE_ENV) or net.hsm.module
    if not module:
        raise ConfigError(f"network {net.key}: no PKCS#11 module: set {MODULE_ENV} (e.g. "
                          f"/usr/lib/softhsm/libsofthsm2.so) or 'module' in [hsm] of {net.source}",
                          code="hsm_not_configured", details={"network": net.key, "variable": MODULE_ENV})
    if env.get(PIN_ENV):
        pin = env[PIN_ENV]
    elif env.get(PIN_FILE_ENV):
        try:
            pin = Path(env[PIN_FILE_ENV]).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError, UnicodeError) as exc:
            raise ConfigError(f"{PIN_FILE_ENV}: cannot read a PIN from {env[PIN_FILE_ENV]} ({type(exc).__name__})",
                              code="hsm_pin_missing", details={"variable": PIN_FILE_ENV}) from None
    else:
        raise ConfigError(f"network {net.key} keeps wallet keys on token {net.hsm.token!r}: set {PIN_ENV} (or "
                          f"{PIN_FILE_ENV}, a file holding the PIN)", code="hsm_pin_missing",
                          details={"network": net.key, "variables": [PIN_ENV, PIN_FILE_ENV]})
    if not pin:
        raise ConfigError(f"the PKCS#11 PIN is empty ({PIN_ENV} / {PIN_FILE_ENV})", code="hsm_pin_missing")
    return Token(module=module, label=net.hsm.token, pin=pin)
