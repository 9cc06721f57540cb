"""Helpers of the web queue's tests: a software WebAuthn authenticator and passkey enrolment.

:class:`SoftAuthenticator` is a real credential, not a mock of the verifier: an EC P-256 key
(``cryptography``) that answers ``navigator.credentials.create`` / ``get`` the way a platform
authenticator does (attestation ``none``, flags user-present and user-verified, a counter), so the
server's ``webauthn`` library checks genuine signatures over genuine authenticator data.
"""

from __future__ import annotations

import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

RP_ID, ORIGIN = "localhost", "http://localhost:8080"


class SoftAuthenticator:
    def __init__(self, rp_id: str = RP_ID, origin: str = ORIGIN):
        self.rp_id, self.origin = rp_id, origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.count = 0

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def cose_key(self) -> bytes:
        nums = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big")})

    def passkey_doc(self) -> dict:
        """What the enrolment page shows and the admins enroll (``operators enroll --passkey``)."""
        return {"credential_id": self.id, "cose_key": self.cose_key().hex()}

    def _auth_data(self, flags: int, extra: bytes = b"") -> bytes:
        self.count += 1
        return hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + self.count.to_bytes(4, "big") + extra

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict) -> dict:
        """The answer to ``navigator.credentials.create(options)`` (options as the server's JSON)."""
        attested = bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self.cose_key()
        auth = self._auth_data(0x45, attested)  # UP | UV | AT
        att = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth})
        client = self._client_data("webauthn.create", options["challenge"])
        return {"id": self.id, "rawId": self.id, "type": "public-key",
                "response": {"clientDataJSON": bytes_to_base64url(client), "attestationObject": bytes_to_base64url(att)}}

    def get(self, options: dict) -> dict:
        """The answer to ``navigator.credentials.get(options)``: a signature over the challenge."""
        return self.sign(base64url_to_bytes(options["challenge"]))

    def sign(self, challenge: bytes) -> dict:
        auth = self._auth_data(0x05)  # UP | UV
        client = self._client_data("webauthn.get", bytes_to_base64url(challenge))
        sig = self.key.sign(auth + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": self.id, "rawId": self.id, "type": "public-key",
                "response": {"authenticatorData": bytes_to_base64url(auth), "clientDataJSON": bytes_to_base64url(client),
                             "signature": bytes_to_base64url(sig), "userHandle": None}}


def enroll_passkey(db_url: str, name: str, roles: str, person: str, passkey_doc: dict, tmp_path):
    """The admins enroll a passkey with the CLI (``operators enroll --passkey FILE``): its JSON."""
    from clihelp import run
    from team import team

    path = tmp_path / f"{name}.passkey.json"
    path.write_text(json.dumps(passkey_doc))
    r = run("operators", "enroll", name, "--passkey", str(path), "--roles", roles, "--person", person,
            *team().admin_args, "--json", db=db_url)
    assert r.code == 0, r.err
    return r.json
