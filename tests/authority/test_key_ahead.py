"""Issue 27: the operator key opened ahead (its Argon2id in a thread while a command imports) is the key
``load_operator_key`` opens, and every refusal is the same refusal, raised in the command's thread."""

from __future__ import annotations

import threading

import pytest

from recover.authority.keyfile import (
    KEY_ENV,
    PASSPHRASE_ENV,
    load_operator_key,
    open_operator_key_ahead,
    write_encrypted,
)
from recover.errors import InvalidInput, PolicyRefused


def _outcome(fn):
    try:
        return ("key", bytes(fn()))
    except (InvalidInput, PolicyRefused) as exc:
        return (type(exc).__name__, exc.code, str(exc))


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    from nacl.signing import SigningKey

    monkeypatch.setenv(PASSPHRASE_ENV, "a passphrase for this test only")
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = SigningKey.generate()
    path = tmp_path / "op.key"
    write_encrypted(path, bytes(key), key.verify_key.encode().hex(), name="op")
    return path, bytes(key)


def test_the_key_opened_ahead_is_the_key(key_file):
    path, private = key_file
    assert _outcome(open_operator_key_ahead(path)) == _outcome(lambda: load_operator_key(path)) == ("key", private)


def test_refusals_are_the_same_and_raised_by_wait(key_file, tmp_path, monkeypatch):
    path, _ = key_file
    for key, code in ((tmp_path / "none.key", "bad_key_file"), (None, "operator_key_required"),
                      (path, "bad_passphrase")):
        if code == "bad_passphrase":
            monkeypatch.setenv(PASSPHRASE_ENV, "another passphrase entirely")
        wait = open_operator_key_ahead(key)  # nothing raised yet: the command goes on importing
        ahead = _outcome(wait)
        assert ahead == _outcome(lambda: load_operator_key(key)) and ahead[1] == code, (key, ahead)


def test_without_the_passphrase_in_the_environment_nothing_runs_ahead(key_file, monkeypatch):
    """A prompt stays in the foreground: no thread is started, the key is opened when asked for."""
    path, _ = key_file
    monkeypatch.delenv(PASSPHRASE_ENV)
    before = {t.name for t in threading.enumerate()}
    wait = open_operator_key_ahead(path)
    assert "operator-key" not in {t.name for t in threading.enumerate()} - before
    assert _outcome(wait) == _outcome(lambda: load_operator_key(path))
