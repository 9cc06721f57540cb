"""The web session: a signed cookie (HttpOnly, SameSite=Strict, Secure over https) that names who
signed in with a passkey, until when, the CSRF token of every form, and a pending WebAuthn challenge.

A session only lets a person *read* the queue: it never approves.  Each decision needs a fresh
assertion over its own statement (``recover.authority.passkeys``).  The expiry is absolute (from sign-in), read
from the app's clock, so tests move time instead of waiting.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "recover_session"
CHALLENGE_SECONDS = 300


@dataclass
class WebSession:
    csrf: str
    operator: str | None = None  # the passkey's fingerprint (the operator's public_key)
    expires: int = 0  # Unix seconds
    challenge: dict = field(default_factory=dict)  # {"purpose", "value" (base64url), "until"}
    expired: bool = False  # was signed in, and the session ran out

    def to_dict(self) -> dict:
        return {"csrf": self.csrf, "op": self.operator, "exp": self.expires, "chal": self.challenge}


class Sessions:
    def __init__(self, secret: str, *, clock, lifetime: int):
        self.serializer = URLSafeSerializer(secret, salt="recover-web-session")
        self.clock, self.lifetime = clock, lifetime

    def load(self, cookie: str | None) -> WebSession:
        doc = None
        if cookie:
            try:
                doc = self.serializer.loads(cookie)
            except BadSignature:
                doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("csrf"), str):
            return WebSession(csrf=secrets.token_urlsafe(24))
        s = WebSession(csrf=doc["csrf"], operator=doc.get("op"), expires=int(doc.get("exp") or 0),
                       challenge=doc.get("chal") or {})
        if s.operator and self.clock() >= s.expires:
            s.operator, s.expires, s.expired = None, 0, True
        return s

    def dump(self, s: WebSession) -> str:
        return self.serializer.dumps(s.to_dict())

    def sign_in(self, s: WebSession, operator_key: str) -> None:
        s.operator, s.expires, s.challenge = operator_key, int(self.clock()) + self.lifetime, {}
        s.csrf = secrets.token_urlsafe(24)  # a new token at sign-in: one fixed before it does not carry over

    def set_challenge(self, s: WebSession, purpose: str, value: str, **extra) -> None:
        s.challenge = {"purpose": purpose, "value": value, "until": int(self.clock()) + CHALLENGE_SECONDS, **extra}

    def take_challenge(self, s: WebSession, purpose: str) -> dict | None:
        """The pending challenge of ``purpose`` (once: it is cleared), or None when absent or old."""
        c, s.challenge = s.challenge, {}
        if c.get("purpose") != purpose or self.clock() > int(c.get("until") or 0):
            return None
        return c


def csrf_ok(s: WebSession, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(str(given), s.csrf)
