"""A SoftHSM2 token signed with from inside the test process (adapter-level HSM tests, no CLI).

SoftHSM2 reads ``SOFTHSM2_CONF`` (where its tokens are) when the module is initialised, and a process
initialises a PKCS#11 module once (:func:`chains.hsm._lib` keeps it).  Each test has its own token
folder, so the fixture points ``SOFTHSM2_CONF`` at this test's and re-initialises a module an earlier
test loaded (``C_Finalize`` + ``C_Initialize``: the new configuration is read, its sessions start over).
"""

from __future__ import annotations

import pytest

from softhsm import MODULE, PIN, SoftHsm


def use_token(hsm: SoftHsm, monkeypatch) -> SoftHsm:
    """Point this process's SoftHSM2 at ``hsm``'s token folder."""
    import chains.hsm

    monkeypatch.setenv("SOFTHSM2_CONF", str(hsm.conf))
    lib = chains.hsm._LIBS.get(MODULE)
    if lib is not None:
        lib.reinitialize()
    return hsm


@pytest.fixture
def token(tmp_path, monkeypatch) -> SoftHsm:
    """A per-test SoftHSM2 token, usable by ``chains.hsm`` in this process."""
    return use_token(SoftHsm(tmp_path / "softhsm"), monkeypatch)


def token_key(hsm: SoftHsm, label: str):
    """The ``HsmKey`` labelled ``label`` on ``hsm``'s token (as the signer opens it)."""
    from chains.hsm import Token, open_key

    return open_key(Token(module=MODULE, label=hsm.token, pin=PIN), label)
