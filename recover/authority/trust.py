"""The trust root: the admins' public keys, the admin quorum (M of N), the deployment and the
checkpoint key.

Every check of authority ends here.  ``recover trust init`` writes the root and N admin key files
(each sealed with the key-file passphrase); the signer host reads the root from
``RECOVER_TRUST_ROOT``.  The root is a file the host holds, never a database row: whoever can write
to the database cannot add an admin.

- ``deployment``: a random id every signed statement names (``recover.authority.statement_log``), so a
  statement made in a copy of the database, or in another deployment with the same admins, counts
  for nothing here.
- ``checkpoint_key``: the public key of the signer host's audit checkpoints, pinned here so that any
  host (an auditor's, without the seed) checks a checkpoint against it, never against the key the
  checkpoint file itself names.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from recover.authority.keyfile import load_signing_key as load_key_file
from recover.authority.keyfile import write_encrypted
from recover.errors import ConfigError, InvalidInput, PolicyRefused

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

FORMAT = "recover-trust-root/2"
OLD_FORMATS = ("recover-trust-root/1",)
ENV = "RECOVER_TRUST_ROOT"
_DEPLOYMENT = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class TrustRoot:
    admins: dict[str, str]  # admin name -> Ed25519 public key (hex)
    quorum: int
    source: str = ""
    deployment: str = ""            # 32 hex digits, named by every statement
    checkpoint_key: str | None = None  # the signer host's checkpoint public key (hex), when pinned

    @property
    def admin_keys(self) -> set[str]:
        return set(self.admins.values())

    def name_of(self, public_hex: str) -> str | None:
        return next((n for n, k in self.admins.items() if k == public_hex.lower()), None)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "deployment": self.deployment, "quorum": self.quorum,
                "checkpoint_key": self.checkpoint_key,
                "admins": [{"name": n, "public_key": k} for n, k in sorted(self.admins.items())]}


def _public_key(text: str, what: str) -> str:
    key = (text or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        raise InvalidInput(f"{what} must be 64 hex digits (an Ed25519 public key)", code="invalid_public_key")
    return key


def init_trust(out_dir: Path, admins: int, quorum: int, *, checkpoint_key: str | None = None) \
        -> tuple[Path, list[Path]]:
    """Create ``out_dir/trust-root.json`` and ``out_dir/admin-<i>.key`` (i = 1..admins), with a new
    deployment id and, when given, the signer host's checkpoint public key."""
    from nacl.signing import SigningKey

    if not 1 <= admins <= 20:
        raise InvalidInput("--admins must be from 1 to 20", code="bad_quorum")
    if not 1 <= quorum <= admins:
        raise InvalidInput(f"--quorum must be from 1 to --admins ({admins})", code="bad_quorum")
    if checkpoint_key is not None:
        checkpoint_key = _public_key(checkpoint_key, "--checkpoint-key")
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InvalidInput(f"{out_dir} is not a folder", code="bad_file")
    root_path = out_dir / "trust-root.json"
    key_paths = [out_dir / f"admin-{i}.key" for i in range(1, admins + 1)]
    existing = [p for p in [root_path, *key_paths] if p.exists()]
    if existing:
        raise InvalidInput(f"{existing[0]} exists: refusing to overwrite a trust root or an admin key",
                           code="file_exists")
    keys = {}
    written: list[Path] = []
    try:
        for i, path in enumerate(key_paths, start=1):
            key = SigningKey.generate()
            public = key.verify_key.encode().hex()
            write_encrypted(path, bytes(key.encode()), public, name=f"admin-{i}")
            written.append(path)
            keys[f"admin-{i}"] = public
        root = TrustRoot(keys, quorum, deployment=secrets.token_hex(16), checkpoint_key=checkpoint_key)
        fd = os.open(root_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(root.to_dict(), indent=2) + "\n")
    except BaseException:
        for path in written:  # nothing half-made is left behind
            path.unlink(missing_ok=True)
        raise
    return root_path, key_paths


def load_trust_root(path: str | os.PathLike | None = None) -> TrustRoot:
    """The root at ``path`` (default ``RECOVER_TRUST_ROOT``); a missing or malformed one is exit 4."""
    source = path if path is not None else os.environ.get(ENV)
    if not source:
        raise ConfigError(f"no trust root: set {ENV} to the trust-root.json that `recover trust init` wrote",
                          code="no_trust_root")
    try:
        doc = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{ENV} {source}: cannot read a trust root ({type(exc).__name__})",
                          code="bad_trust_root") from None
    if isinstance(doc, dict) and doc.get("format") in OLD_FORMATS:
        raise ConfigError(f"{ENV} {source}: a trust root of format {doc.get('format')} names no deployment and no "
                          "checkpoint key; statements are bound to a deployment since format 2: create a new trust "
                          "root with `recover trust init` (see docs/configuration.md, 'Upgrading')",
                          code="trust_root_outdated")
    try:
        if doc.get("format") != FORMAT:
            raise ValueError("format")
        admins = {str(a["name"]): str(a["public_key"]).lower() for a in doc["admins"]}
        quorum = doc["quorum"]
        if isinstance(quorum, bool) or not isinstance(quorum, int):
            raise ValueError("quorum")
        if not admins or not 1 <= quorum <= len(admins) or len(set(admins.values())) != len(admins):
            raise ValueError("quorum")
        for key in admins.values():
            bytes.fromhex(key)
            if len(key) != 64:
                raise ValueError("key")
        deployment = str(doc["deployment"])
        if not _DEPLOYMENT.match(deployment):
            raise ValueError("deployment")
        checkpoint = doc.get("checkpoint_key")
        if checkpoint is not None:
            checkpoint = _public_key(str(checkpoint), "checkpoint_key")
    except (KeyError, TypeError, ValueError, AttributeError, InvalidInput):
        raise ConfigError(f"{ENV} {source}: not a valid trust root", code="bad_trust_root") from None
    return TrustRoot(admins, quorum, str(source), deployment=deployment, checkpoint_key=checkpoint)


def admin_keys_from_files(paths, root: TrustRoot) -> list:
    """The admins' signing keys in ``paths``, each one checked to be an admin of ``root``."""
    out = []
    for path in paths:
        key = load_key_file(Path(path))
        public = key.verify_key.encode().hex()
        if root.name_of(public) is None:
            raise PolicyRefused(f"{path} is not the key of an admin of the trust root {root.source}",
                                code="not_an_admin")
        out.append(key)
    return out
