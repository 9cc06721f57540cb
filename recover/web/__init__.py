"""The wallet team's web approval queue (``recover serve``): pages over the case database and
passkey-signed decisions.  :func:`create_app` builds the FastAPI app, :func:`serve` runs it."""

from __future__ import annotations

# Imports inside functions: webauthn, the write side and the read path load with the routes that use them, not
# when the app is built.


def create_app(*args, **kwargs):
    from recover.web.app import create_app as _create

    return _create(*args, **kwargs)


def serve(**kwargs) -> None:
    from recover.web.app import serve as _serve

    _serve(**kwargs)
