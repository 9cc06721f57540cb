"""Issue 23, item 4: devnets apart.  A desk lists its real networks; the shipped devnets (``devnet =
true``: anvil, anvil-b, ethtester, the regtests...) are listed only with ``--devnets`` or
``RECOVER_DEVNETS=1``, stay usable by key, and are never named in the "one chain" warning, which still
speaks when two real networks name one chain."""

from __future__ import annotations

from clihelp import run
from paths import REPO


def _copy(folder, source: str, key: str, devnet: bool | None = None) -> None:
    """A desk's copy of a shipped network file under another key (``devnet`` rewritten when given)."""
    text = (REPO / "chain_configs" / f"{source}.toml").read_text().replace(f'key = "{source}"', f'key = "{key}"')
    if devnet is not None:
        lines = [ln for ln in text.splitlines() if not ln.startswith("devnet")]
        at = next(i for i, ln in enumerate(lines) if ln.startswith("key ="))
        text = "\n".join([*lines[:at + 1], f"devnet = {str(devnet).lower()}", *lines[at + 1:]]) + "\n"
    (folder / f"{key}.toml").write_text(text)


def test_devnets_are_listed_only_when_asked():
    plain = run("networks", "--json")
    assert plain.code == 0 and plain.json and not any(n["devnet"] for n in plain.json)
    assert {"anvil", "ethtester"}.isdisjoint(n["key"] for n in plain.json)
    for asked in (run("networks", "--devnets", "--json"), run("networks", "--json", env={"RECOVER_DEVNETS": "1"})):
        keys = {n["key"] for n in asked.json if n["devnet"]}
        assert asked.code == 0 and {"anvil", "anvil-b", "ethtester"} <= keys
        assert {n["key"] for n in asked.json} - keys == {n["key"] for n in plain.json}  # the real ones, as before
    wide = {"COLUMNS": "200"}  # rich folds a table to the terminal: every name whole
    text = run("networks", "--devnets", env=wide)
    assert "anvil" in text.out and "(devnet)" in text.out and "anvil" not in run("networks", env=wide).out
    only = run("networks", "--class", "direct", "--devnets", "--json").json
    assert "anvil" in {n["key"] for n in only} and all(n["recovery_class"] == "direct" for n in only)
    assert run("networks", "check", "anvil", "--json").json["network"] == "anvil"  # usable by key
    bad = run("networks", "--json", env={"RECOVER_DEVNETS": "maybe"})
    assert bad.code == 4 and bad.error["code"] == "config_error" and "RECOVER_DEVNETS" in bad.error["message"]


def test_devnets_on_one_chain_are_not_warned_about_real_networks_are(tmp_path):
    _copy(tmp_path, "anvil", "localdev")  # a desk's copy of anvil, still a devnet
    devnets = run("networks", "--devnets", "--json", env={"RECOVER_CONFIG_DIR": str(tmp_path)})
    assert devnets.code == 0 and "one chain" not in devnets.err
    _copy(tmp_path, "anvil", "localdev", devnet=False)  # a real desk on a local node: anvil is a devnet
    desk = run("networks", "--json", env={"RECOVER_CONFIG_DIR": str(tmp_path)})
    assert desk.code == 0 and "one chain" not in desk.err and "localdev" in {n["key"] for n in desk.json}
    _copy(tmp_path, "ethereum", "eth-mirror")  # two real files for Ethereum: a deposit is one case
    twice = run("networks", "--json", env={"RECOVER_CONFIG_DIR": str(tmp_path)})
    assert twice.code == 0
    assert "warning: networks eth-mirror, ethereum are one chain (eip155:1)" in twice.err
    assert twice.err.count("one chain") == 1
