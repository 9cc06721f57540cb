"""A real SoftHSM2 token for the HSM signer tests (Debian ``softhsm2``, installed by ``make system-deps``).

Each test gets its own token directory and configuration file (``SOFTHSM2_CONF``), a token initialised
by ``softhsm2-util`` and key pairs generated *on the token* (the private halves never leave it).  Key
generation runs in a child process so this process never loads the PKCS#11 module with a
configuration another test then cannot change.  A missing ``softhsm2`` fails the test: nothing is
skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "246810"
SO_PIN = "13579246"

_GENERATE = r"""
import json, sys
import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11.util.ec import encode_named_curve_parameters
from asn1crypto.core import OctetString
module, token, pin, label, curve = sys.argv[1:6]
lib = pkcs11.lib(module)
with lib.get_token(token_label=token).open(user_pin=pin, rw=True) as s:
    if curve == "secp256k1":
        params = s.create_domain_parameters(KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(
            "1.3.132.0.10")}, local=True)
        pub, _ = params.generate_keypair(store=True, label=label)
    else:
        params = s.create_domain_parameters(KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: encode_named_curve_parameters(
            "1.3.101.112")}, local=True)
        pub, _ = params.generate_keypair(store=True, label=label, mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN)
    print(json.dumps({"point": OctetString.load(bytes(pub[Attribute.EC_POINT])).native.hex()}))
"""


class SoftHsm:
    """One SoftHSM2 token in ``folder``: ``env`` is what a signing host sets to use it."""

    def __init__(self, folder: Path, token: str = "recover-wallets"):
        if not shutil.which("softhsm2-util") or not Path(MODULE).exists():
            pytest.fail("softhsm2 is not installed (Debian package softhsm2; `make system-deps` installs it)")
        self.folder = Path(folder)
        (self.folder / "tokens").mkdir(parents=True, exist_ok=True)
        self.conf = self.folder / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.folder / 'tokens'}\nobjectstore.backend = file\n"
                             "log.level = ERROR\nslots.removable = false\n")
        self.token = token
        self.init_token(token)

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf), "RECOVER_PKCS11_MODULE": MODULE, "RECOVER_PKCS11_PIN": PIN}

    def init_token(self, label: str) -> None:
        out = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN,
                              "--so-pin", SO_PIN], env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    def add_key(self, label: str, curve: str = "secp256k1", token: str | None = None) -> bytes:
        """Generate a key pair on the token; returns its public key (33 bytes compressed secp256k1,
        or the 32 raw Ed25519 bytes)."""
        out = subprocess.run([sys.executable, "-c", _GENERATE, MODULE, token or self.token, PIN, label, curve],
                             env={**os.environ, "SOFTHSM2_CONF": str(self.conf)}, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        point = bytes.fromhex(json.loads(out.stdout)["point"])
        if curve == "secp256k1":
            from coincurve import PublicKey

            return PublicKey(point).format(compressed=True)
        return point


@pytest.fixture
def softhsm(tmp_path) -> SoftHsm:
    return SoftHsm(tmp_path / "softhsm")
