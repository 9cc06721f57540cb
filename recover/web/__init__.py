"""The wallet team's web approval queue (``recover serve``): pages over the case database and
passkey-signed decisions.  :func:`create_app` builds the FastAPI app, :func:`serve` runs it."""

from __future__ import annotations


def create_app(*args, **kwargs):
    from recover.web.app import create_app as _create

    return _create(*args, **kwargs)


def serve(**kwargs) -> None:
    from recover.web.app import serve as _serve

    _serve(**kwargs)
