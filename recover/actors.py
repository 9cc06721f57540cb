"""Who is acting: ``--actor``, else ``RECOVER_ACTOR``, else the OS user."""

from __future__ import annotations

import getpass
import os
import re

from recover.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def resolve_actor(actor: str | None = None) -> str:
    name = actor or os.environ.get("RECOVER_ACTOR")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # no user name in the environment (some containers)
            name = f"uid{os.getuid()}"
    if not _NAME.match(name):
        raise InvalidInput(f"actor name {name!r} is not valid (letters, digits, . _ @ -; at most 128)")
    return name
