"""The test team: a trust root with two admins (quorum 2) and enrolled operators, made once per process.

Every case database the tests create gets the same operators (:func:`enroll`): their enrollment
statements are signed by both admins at the head of that database's statement log and stored through
the same code path as ``recover operators enroll``.  Key files are sealed with the passphrase the
tests set (``RECOVER_KEY_PASSPHRASE``).  The trust root pins the checkpoint key of the test seed (the
anvil mnemonic), as a signer host's would be.

Operators (name: roles, person):
- ``spec``: specialist (the default ``RECOVER_OPERATOR_KEY``: opens, verifies, quotes, prepares)
- ``alice``: specialist and approver (to show that nobody approves what they prepared)
- ``rita``: reviewer; ``pete``: pricer
- ``bob``, ``carol``: approver; ``sam``: approver and senior
- ``wes``: approver, the wallet team's signer (signs, broadcasts, exports credits)
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE = "correct horse battery staple"
OPERATORS = {
    "spec": ("specialist", "spec"),
    "alice": ("approver,specialist", "alice"),
    "rita": ("reviewer", "rita"),
    "pete": ("pricer", "pete"),
    "bob": ("approver", "bob"),
    "carol": ("approver", "carol"),
    "sam": ("approver,senior", "sam"),
    "wes": ("approver", "wes"),
}
# the operator a command needs when a test does not name one (`clihelp.run`)
DEFAULT_FOR = {("prices", "set"): "pete", ("prices", "import"): "pete", ("case", "signoff"): "rita", ("case", "sign"): "wes",
               ("case", "export"): "wes", ("case", "import-signed"): "wes", ("credits", "export"): "wes",
               ("case", "broadcast"): "wes", ("case", "track"): "wes"}
ADMIN_COMMANDS = {("addresses", "import"), ("memos", "import"), ("policy", "set"), ("case", "reopen")}


@dataclass
class Team:
    folder: Path
    root_path: Path
    admin_paths: list[Path]
    keys: dict[str, Path] = field(default_factory=dict)
    public: dict[str, str] = field(default_factory=dict)
    admin_signing_keys: list = field(default_factory=list, repr=False)

    def key(self, name: str) -> str:
        return str(self.keys[name])

    @property
    def admin_args(self) -> list[str]:
        return [arg for p in self.admin_paths for arg in ("--admin-key", str(p))]


_TEAM: Team | None = None


def team() -> Team:
    global _TEAM
    if _TEAM is None:
        _TEAM = _make()
    return _TEAM


SEED = "test test test test test test test test test test test junk"


def _make() -> Team:
    from nacl.signing import SigningKey

    from chains.keys import mnemonic_seed
    from recover.authority.checkpoints import checkpoint_key
    from recover.authority.keyfile import write_encrypted
    from recover.authority.trust import admin_keys_from_files, init_trust, load_trust_root

    folder = Path(tempfile.mkdtemp(prefix="recover-team-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    old = os.environ.get("RECOVER_KEY_PASSPHRASE")
    os.environ["RECOVER_KEY_PASSPHRASE"] = PASSPHRASE
    try:
        checkpoint = checkpoint_key(mnemonic_seed(SEED)).verify_key.encode().hex()
        root_path, admin_paths = init_trust(folder, 2, 2, checkpoint_key=checkpoint)
        root = load_trust_root(root_path)
        t = Team(folder, root_path, list(admin_paths))
        t.admin_signing_keys = admin_keys_from_files(admin_paths, root)
        for name in OPERATORS:
            key = SigningKey.generate()
            t.public[name] = key.verify_key.encode().hex()
            t.keys[name] = folder / f"{name}.key"
            write_encrypted(t.keys[name], bytes(key.encode()), t.public[name], name=name)
    finally:
        if old is None:
            os.environ.pop("RECOVER_KEY_PASSPHRASE", None)
        else:
            os.environ["RECOVER_KEY_PASSPHRASE"] = old
    return t


def enroll(db_url: str) -> None:
    """Give a migrated database the team's operators (idempotent), each enrollment signed by both
    admins at the head of that database's statement log."""
    from sqlmodel import select

    from recover.authority.operators import apply_enrollment, enrollment_statement
    from recover.authority.statement_log import log_head
    from recover.authority.trust import load_trust_root
    from recover.storage.db import session_scope
    from recover.storage.models import Operator

    t = team()
    root = load_trust_root(t.root_path)
    with session_scope(db_url) as s:
        have = set(s.exec(select(Operator.name)))
        for name, (roles, person) in OPERATORS.items():
            if name not in have:
                statement = enrollment_statement(root, name, t.public[name], tuple(sorted(roles.split(","))), person,
                                                 t.admin_signing_keys, head=log_head(s))
                apply_enrollment(s, root, statement)


def env() -> dict[str, str]:
    """The environment every test runs in: the team's trust root and the specialist's key."""
    t = team()
    return {"RECOVER_TRUST_ROOT": str(t.root_path), "RECOVER_OPERATOR_KEY": t.key("spec"),
            "RECOVER_KEY_PASSPHRASE": PASSPHRASE}


def with_default_keys(args: tuple[str, ...], env_given: dict | None) -> list[str]:
    """``args`` plus the key of the operator the command needs (and the admins' keys for admin
    commands) when the test names none."""
    args = list(args)
    words = tuple(a for a in args[:2] if not a.startswith("-"))
    if words[:2] in ADMIN_COMMANDS and "--admin-key" not in args:
        args += team().admin_args
    if "--key" in args or (env_given and "RECOVER_OPERATOR_KEY" in env_given):
        return args
    name = DEFAULT_FOR.get(words[:2])
    if name:
        args += ["--key", team().key(name)]
    return args
