"""`recover --help`, `case show` and `case list` never import a chain SDK (they must feel instant)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("web3", "bitcoinlib", "solana", "solders", "eth_account", "bitcash", "eth_tester")

PROBE = """
import json, sys
sys.argv = ["recover", *json.loads(sys.argv[1])]
import cli
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv_heavy)))
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def probe(args, env=None):
    code = PROBE.replace("json.loads(sys.argv_heavy)", repr(list(HEAVY)))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
                          env=env, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("PROBE ")][-1]
    return json.loads(line[6:])


@pytest.mark.parametrize("args", [["--help"], ["case", "list", "--json"], ["case", "show", "1", "--json"],
                                  ["case", "list"], ["case", "show", "1"]])
def test_reading_commands_import_no_chain_sdk(args, tmp_path):
    import os

    from clihelp import run

    db = f"sqlite:///{tmp_path / 'light.db'}"
    assert run("init", db=db).code == 0
    r = run("case", "open", "--network", "ethereum", "--tx", "0x" + "2" * 64, "--credit-account", "u1", db=db)
    assert r.code == 0, r.err
    result = probe(args, env={**os.environ, "RECOVER_DB_URL": db})
    assert result["code"] == 0
    assert result["heavy"] == []


def test_help_of_the_package_lists_the_api():
    """Issue 15, item 1: the lazily loaded API is visible to help() and dir()."""
    import subprocess
    import sys

    code = ("import pydoc, recover; text = pydoc.plain(pydoc.render_doc(recover)); "
            "print(all(f'{n}(' in text for n in ('open_case', 'sign_case', 'run_worker', 'import_appeals')), "
            "'verify_cases' in dir(recover))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True"], out.stderr
