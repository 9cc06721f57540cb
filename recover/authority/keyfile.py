"""Operator key files at rest: the Ed25519 private key encrypted with a passphrase, never plaintext.

The passphrase comes from ``RECOVER_KEY_PASSPHRASE``, or a prompt when a person is at a terminal.
The key that encrypts is derived from it with Argon2id (PyNaCl's ``pwhash``: memory-hard, so a
stolen file cannot be brute-forced cheaply) and the private key is sealed with ``SecretBox``
(XSalsa20-Poly1305: a wrong passphrase or an altered file is detected, never a wrong key).  Files
are created 0600 and never overwritten; a file others can read is refused.  Nothing here prints,
logs or stores the passphrase or the key.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from recover.errors import InvalidInput, PolicyRefused

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

FORMAT = "recover-ed25519-key/2"
PASSPHRASE_ENV = "RECOVER_KEY_PASSPHRASE"
KEY_ENV = "RECOVER_OPERATOR_KEY"


def passphrase(*, confirm: bool = False) -> bytes:
    """The key-file passphrase: ``RECOVER_KEY_PASSPHRASE``, else a prompt on a terminal."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is None and sys.stdin.isatty():
        value = getpass.getpass("key file passphrase: ")
        if confirm and getpass.getpass("again: ") != value:
            raise InvalidInput("the two passphrases differ", code="passphrase_mismatch")
    if not value:
        raise InvalidInput(f"no passphrase for the key file: set {PASSPHRASE_ENV} (or run at a terminal to be "
                           "asked)", code="passphrase_missing")
    if len(value) < 8:
        raise InvalidInput("the key-file passphrase must have at least 8 characters", code="passphrase_weak")
    return value.encode("utf-8")


def _box(secret: bytes, salt: bytes, ops: int, mem: int):
    from nacl import pwhash
    from nacl import secret as nacl_secret

    key = pwhash.argon2id.kdf(nacl_secret.SecretBox.KEY_SIZE, secret, salt, opslimit=ops, memlimit=mem)
    return nacl_secret.SecretBox(key)


def write_encrypted(path: Path, private_key: bytes, public_hex: str, *, name: str) -> None:
    """Create ``path`` (0600, never overwriting) holding ``private_key`` sealed by the passphrase."""
    from nacl import pwhash, utils

    secret = passphrase(confirm=True)
    ops, mem = pwhash.argon2id.OPSLIMIT_INTERACTIVE, pwhash.argon2id.MEMLIMIT_INTERACTIVE
    salt = utils.random(pwhash.argon2id.SALTBYTES)
    sealed = _box(secret, salt, ops, mem).encrypt(private_key)
    doc = {"format": FORMAT, "name": name, "public_key": public_hex, "kdf": "argon2id", "opslimit": ops,
           "memlimit": mem, "salt": salt.hex(), "sealed": bytes(sealed).hex()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path} exists: refusing to overwrite a key file", code="file_exists") from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}", code="bad_file") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc) + "\n")
    os.chmod(path, 0o600)


def read_encrypted(path: Path) -> tuple[bytes, dict]:
    """The private key of a key file and its document (public part), after checking its mode."""
    from nacl.exceptions import CryptoError

    try:
        st = os.stat(path)
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InvalidInput(f"key file {path} does not exist", code="bad_key_file") from None
    except (OSError, ValueError):
        raise InvalidInput(f"{path} is not a key file", code="bad_key_file") from None
    if st.st_mode & 0o077:
        raise InvalidInput(f"key file {path} is readable by others (mode {oct(st.st_mode & 0o777)}): chmod 600 it",
                           code="bad_key_file")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        if isinstance(doc, dict) and "private_key" in doc:
            raise InvalidInput(f"{path} holds a plaintext private key (an old key file): create a new key and "
                               "enroll it", code="plaintext_key_file")
        raise InvalidInput(f"{path} is not a key file", code="bad_key_file")
    try:
        salt, sealed = bytes.fromhex(doc["salt"]), bytes.fromhex(doc["sealed"])
        ops, mem = int(doc["opslimit"]), int(doc["memlimit"])
    except (KeyError, ValueError, TypeError):
        raise InvalidInput(f"{path} is not a key file", code="bad_key_file") from None
    try:
        return _box(passphrase(), salt, ops, mem).decrypt(sealed), doc
    except CryptoError:
        raise InvalidInput(f"cannot open key file {path}: wrong passphrase or altered file",
                           code="bad_passphrase") from None


def public_hex(text: str) -> str:
    """A hex Ed25519 public key, checked (exit 4 when it is not one)."""
    from nacl.exceptions import CryptoError
    from nacl.signing import VerifyKey

    h = (text or "").strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{64}", h):
        raise InvalidInput("public key must be 32 bytes in hex (64 hex digits)", code="invalid_public_key")
    try:
        VerifyKey(bytes.fromhex(h))
    except (CryptoError, ValueError):
        raise InvalidInput("public key is not a valid Ed25519 key", code="invalid_public_key") from None
    return h


def load_signing_key(path: Path):
    """The Ed25519 signing key in an operator's or admin's key file (refused if others can read it,
    or the passphrase does not open it, or it is not the key the file names)."""
    from nacl.signing import SigningKey

    private, doc = read_encrypted(Path(path))
    key = SigningKey(private)
    if key.verify_key.encode().hex() != doc.get("public_key"):
        raise InvalidInput(f"{path}: the key does not match the public key the file names", code="bad_key_file")
    return key


def load_operator_key(key=None):
    """The signing key of ``key`` (a key file path, or a PyNaCl ``SigningKey``); default
    ``RECOVER_OPERATOR_KEY``.  No key is exit 7: nobody acts unnamed."""
    from nacl.signing import SigningKey

    if isinstance(key, SigningKey):
        return key
    path = key if key is not None else os.environ.get(KEY_ENV)
    if not path:
        raise PolicyRefused(f"this command is done by an enrolled operator: pass --key FILE or set {KEY_ENV}",
                            code="operator_key_required")
    return load_signing_key(Path(path))


def open_operator_key_ahead(key=None) -> Callable[[], Any]:
    """Start opening the operator key now, in a thread; returns ``wait()``, which gives what
    :func:`load_operator_key` gives (the ``SigningKey``) or raises what it raises.

    Argon2id is memory-hard by design (tens of milliseconds, more on a busy machine) and runs in C
    without Python's lock, so a command that opens its key while it imports the ORM and the chain
    libraries waits for the slower of the two instead of both.  The key, its KDF parameters and its
    checks are the same.  Only when the passphrase is in the environment: a prompt stays in the
    foreground, asked when the command needs the key, as before."""
    import threading

    # loaded here, before the thread starts: it then imports nothing while this thread imports the rest
    from nacl import exceptions, pwhash, secret  # noqa: F401
    from nacl.signing import SigningKey

    if isinstance(key, SigningKey) or not os.environ.get(PASSPHRASE_ENV):
        return lambda: load_operator_key(key)
    box: dict[str, Any] = {}

    def opening() -> None:
        try:
            box["key"] = load_operator_key(key)
        except BaseException as exc:  # noqa: BLE001 - handed to wait(), which raises it in the command's thread
            box["error"] = exc

    thread = threading.Thread(target=opening, name="operator-key", daemon=True)
    thread.start()

    def wait():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["key"]

    return wait
