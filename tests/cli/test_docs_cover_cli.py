"""Issue 23, item 1: docs/cli.md covers every command, option and error code the code has.

The commands and their options are read from the Typer app of ``cli.py`` (the one definition of the
command line), the error codes from the source by the collector the one-exit-code check uses
(``tests/support/error_codes.py``).  Each command must have its own section in docs/cli.md (a heading
``### recover GROUP COMMAND``) naming each of its options; each code must have its row in the error
table, with the exit code the source raises it with.  HTML comments (placeholders) count for nothing.
The last tests show that the same checks report what is missing.
"""

from __future__ import annotations

import re
from functools import lru_cache

import typer

from error_codes import codes_and_exits
from paths import REPO

CLI_MD = REPO / "docs" / "cli.md"
#: options documented once at the top of docs/cli.md, not in every section
COMMON_OPTIONS = frozenset({"--db", "--json", "--help"})


def command_tree() -> dict[tuple[str, ...], list[str]]:
    """Every command and group of ``recover --help``, walked from the Typer app, with its options."""
    import cli

    out: dict[tuple[str, ...], list[str]] = {}

    def walk(cmd, path: tuple[str, ...]) -> None:
        if path:
            out[path] = sorted(o for p in cmd.params if p.param_type_name == "option" for o in p.opts)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(cli.app), ())
    return out


def _visible(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def sections(text: str) -> dict[tuple[str, ...], str]:
    """docs/cli.md's ``### recover ...`` sections: the command's words -> the section's text."""
    out: dict[tuple[str, ...], str] = {}
    parts = re.split(r"^(#{2,4} .*)$", _visible(text), flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        m = re.fullmatch(r"#{2,4} `?recover ([a-z][a-z -]*?)`?\s*", heading)
        if m:
            out[tuple(m.group(1).split())] = body
    return out


def missing_commands(text: str, tree: dict[tuple[str, ...], list[str]]) -> list[str]:
    """The commands of ``tree`` without a section, and the options their section does not name."""
    have = sections(text)
    problems = []
    for path, options in sorted(tree.items()):
        name = "recover " + " ".join(path)
        if path not in have:
            problems.append(f"{name}: no section")
            continue
        for opt in options:
            if opt not in COMMON_OPTIONS and not re.search(re.escape(opt) + r"(?![\w-])", have[path]):
                problems.append(f"{name}: option {opt} not in its section")
    return problems


def error_rows(text: str) -> dict[str, int]:
    """The error table's rows: code -> exit code."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^\| `([a-z_]+)` \| (\d) \|", _visible(text), flags=re.M)}


def missing_codes(text: str, codes: dict[str, set[int]]) -> list[str]:
    """The codes without a row in the error table, or whose row says another exit code."""
    rows = error_rows(text)
    problems = []
    for code, exits in sorted(codes.items()):
        if code not in rows:
            problems.append(f"{code}: not in the error table")
        elif {rows[code]} != exits:
            problems.append(f"{code}: the table says exit {rows[code]}, the source {sorted(exits)}")
    return problems


@lru_cache(maxsize=1)
def source_codes() -> dict[str, set[int]]:
    return {code: {e for e, _ in sites} for code, sites in codes_and_exits().items()}


def test_every_command_and_option_has_its_section():
    tree = command_tree()
    assert ("case", "import") in tree and ("networks",) in tree and ("worker",) in tree  # the walk sees them
    assert "--wait" in tree[("case", "broadcast")]
    problems = missing_commands(CLI_MD.read_text(), tree)
    assert not problems, "docs/cli.md misses:\n  " + "\n  ".join(problems)


def test_every_error_code_is_in_the_table_with_its_exit_code():
    codes = source_codes()
    assert "funds_missing" in codes and "usage" in codes
    problems = missing_codes(CLI_MD.read_text(), codes)
    assert not problems, "docs/cli.md's error table:\n  " + "\n  ".join(problems)


def test_the_table_names_no_code_the_source_does_not_have():
    stale = sorted(set(error_rows(CLI_MD.read_text())) - set(source_codes()))
    assert not stale, f"codes in docs/cli.md that the source no longer raises: {stale}"


def test_case_import_columns_are_documented_in_full():
    from recover.services.appeals import COLUMNS

    body = sections(CLI_MD.read_text())[("case", "import")]
    for column in COLUMNS:
        assert f"| `{column}` |" in body, column


def test_a_command_without_a_section_is_reported():
    tree = {("case", "frobnicate"): ["--key"], ("case", "broadcast"): ["--wait", "--gallop"]}
    problems = missing_commands(CLI_MD.read_text(), tree)
    assert problems == ["recover case broadcast: option --gallop not in its section",
                        "recover case frobnicate: no section"]


def test_a_placeholder_is_not_documentation():
    text = "### recover networks check\n\n<!-- adds `--live` -->\n    recover networks check KEY\n"
    assert missing_commands(text, {("networks", "check"): ["--live"]}) == [
        "recover networks check: option --live not in its section"]


def test_a_missing_code_or_a_wrong_exit_code_is_reported():
    text = "| `funds_missing` | 7 | wrong exit |\n"
    assert missing_codes(text, {"funds_missing": {6}, "made_up_code": {4}}) == [
        "funds_missing: the table says exit 7, the source [6]",
        "made_up_code: not in the error table"]


# -- docs/configuration.md: every key of a network file and every environment variable ----------------
CONFIGURATION_MD = REPO / "docs" / "configuration.md"


def config_keys() -> set[str]:
    """Every key a network file may have (chains/config.py), its tables' keys included."""
    from chains.config import EvmOptions, ListedToken, NetworkConfig, SolanaOptions, UtxoOptions
    from fees.policy import FeePolicy

    keys = {name for name, f in NetworkConfig.model_fields.items() if not f.exclude}
    for model in (ListedToken, EvmOptions, UtxoOptions, SolanaOptions, FeePolicy):
        keys |= set(model.model_fields)
    return keys


def env_variables() -> set[str]:
    """Every ``RECOVER_...`` variable the code reads (and the devnets' ``${...}`` placeholders)."""
    names: set[str] = set()
    for path in [REPO / "cli.py", *(p for root in ("recover", "chains", "fees") for p in (REPO / root).rglob("*.py"))]:
        names |= set(re.findall(r"\b(RECOVER_[A-Z0-9_]+)\b", path.read_text()))
    for path in (REPO / "chain_configs").glob("*.toml"):
        if re.search(r"^devnet\s*=\s*true", path.read_text(), flags=re.M):
            names |= {n for n in re.findall(r"\$\{([A-Z0-9_]+)\}", path.read_text()) if n.endswith("_URL")}
    return names - {"RECOVER_NESTED"}  # Solana's RecoverNested instruction, not a variable


def test_every_network_key_is_documented():
    text = _visible(CONFIGURATION_MD.read_text())
    assert "devnet" in config_keys()
    missing = sorted(k for k in config_keys() if not re.search(rf"`{k}`|^\s*{k} = |\[\[?{k}\]\]?", text, flags=re.M))
    assert not missing, f"docs/configuration.md does not name the network keys {missing}"


def test_every_environment_variable_is_documented():
    text = _visible(CONFIGURATION_MD.read_text())
    assert {"RECOVER_SEED", "RECOVER_CACHE_DIR", "ANVIL_URL"} <= env_variables()
    missing = sorted(v for v in env_variables() if v not in text)
    assert not missing, f"docs/configuration.md does not name the variables {missing}"
