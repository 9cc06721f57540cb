"""The ``recover`` command: parse, call one library function, render.

Data goes to stdout (a rich table, or one JSON document with ``--json``); messages and errors go to
stderr.  Exit codes are DESIGN.md's: 0 ok, 2 usage, 3 not found, 4 invalid input, 5 illegal state
or duplicate, 6 chain refused the claim, 7 policy or authority refused, 8 node unreachable, 9 waiting
(run again later), 1 unexpected.
Nothing heavy is imported at module level: ``recover --help`` stays instant.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typer.core import TyperOption

from chains.errors import (EXIT_INVALID, EXIT_NODE, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_WAITING, ToolkitError,
                           as_toolkit_error)
from recover.life.condition_names import SIGNED_OFF
from recover.life.shared_rules import SYMBOL_LOOKALIKE_FLAG as SYMBOL_LOOKALIKE
from recover.text import plural

# Imports inside functions: each command loads only what it runs, so `recover --help` and the read commands
# start fast (benchmarks/cli_startup.py).


def _flag_display_type(self, ctx):
    """Flags take no value: help shows ``--json``, not ``--json <bool>`` (typer 0.29 prints a type for
    every option, flags included)."""
    return None if self.is_flag else _option_display_type(self, ctx)


_option_display_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_display_type

app = typer.Typer(help="Misdeposit recovery toolkit: prove, quote, approve, sign and track recoveries.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
case_app = typer.Typer(help="Recovery cases: open, verify, quote, prepare, sign, broadcast, track.",
                       no_args_is_help=True)
addresses_app = typer.Typer(help="The registry of deposit addresses whose keys we hold.", no_args_is_help=True)
memos_app = typer.Typer(help="The memos of shared-wallet (memo) networks: memo -> account.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
prices_app = typer.Typer(help="USD prices used by quotes (ASSET: ETH, or network:contract).", no_args_is_help=True)
app.add_typer(prices_app, name="prices")
queue_app = typer.Typer(help="The approval queue (maker-checker).", no_args_is_help=True)
credits_app = typer.Typer(help="Account credits of completed credit-account cases.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
app.add_typer(credits_app, name="credits")
app.add_typer(case_app, name="case")
app.add_typer(addresses_app, name="addresses")
app.add_typer(memos_app, name="memos")
app.add_typer(audit_app, name="audit")
trust_app = typer.Typer(help="The trust root: the admins' public keys and their quorum.", no_args_is_help=True)
operators_app = typer.Typer(help="Operators: enrolled keys with roles (enrolled and revoked by an admin quorum).",
                            no_args_is_help=True)
app.add_typer(trust_app, name="trust")
app.add_typer(operators_app, name="operators")
policy_app = typer.Typer(help="The approval policy in force (set by an admin quorum).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

_STATE: dict[str, Any] = {"db": None}

JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout (errors as JSON on stderr).")
DbOpt = typer.Option(None, "--db", help="Database URL (default: RECOVER_DB_URL, else sqlite:///recover.db).")
KeyOpt = typer.Option(None, "--key", help="Your operator key file (default: RECOVER_OPERATOR_KEY).")
# the long-running commands (worker, scan --follow) serve their process's metrics on request
MetricsPortOpt = typer.Option(None, "--metrics-port", min=0, max=65535, help="Serve Prometheus metrics at /metrics "
                              "on this port (off unless given; worker, scan --follow).")
MetricsHostOpt = typer.Option("127.0.0.1", "--metrics-host",
                              help="Address the metrics server binds (127.0.0.1 unless told otherwise).")
ContractsOpt = typer.Option(False, "--contracts", help="Name tokens by symbol and contract (default: symbol only; "
                                                     "--json always has both).")
AdminKeyOpt = typer.Option(..., "--admin-key", help="An admin's key file (repeat once per admin, up to the quorum).")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("misdeposit-recover")
        except PackageNotFoundError:  # running from a source tree that is not installed
            from recover import __version__ as text
        sys.stdout.write(f"recover {text}\n")
        raise typer.Exit(0)


@app.callback()
def _root(db: Optional[str] = typer.Option(None, "--db", help="Database URL for every command."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    _STATE["db"] = db


def _db(local: Optional[str]) -> Optional[str]:
    return local or _STATE["db"]


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


def _err(message: str, prefix: str = "[bold red]error:[/]") -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"{prefix} {message}", markup=True)


def _fail(exc: BaseException, as_json: bool) -> None:
    """The one place an error becomes an exit code: a deliberate error (the toolkit's root,
    ``chains.errors.ToolkitError``) exits with its own code, anything else is ``unexpected`` (exit 1).
    Waiting (exit 9) is not an error: nothing is wrong, it is said as waiting, not in red."""
    err = as_toolkit_error(exc)
    if as_json:
        sys.stderr.write(json.dumps({"error": err.to_dict()}, default=str) + "\n")
    else:
        from rich.markup import escape

        _err(escape(err.message), "[bold yellow]waiting:[/]" if err.exit_code == EXIT_WAITING else "[bold red]error:[/]")
    raise typer.Exit(err.exit_code)


class UsageError(ToolkitError):
    """A command line that cannot be run as written (exit 2, like typer's own usage errors)."""

    code = "usage"
    exit_code = EXIT_USAGE


def command(fn: Callable) -> Callable:
    """Map every library error to its exit code and JSON error document."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("json_out"))
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - this is the one place errors become exit codes
            if os.environ.get("RECOVER_DEBUG"):
                import traceback

                traceback.print_exc()
            _fail(exc, as_json)

    return wrapper


def _console():
    """Tables on stdout: ``COLUMNS`` when set, else the terminal's width, or wide enough not to truncate
    when piped."""
    from rich.console import Console

    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else (None if sys.stdout.isatty() else 200)
    return Console(highlight=False, markup=False, width=width)


def _print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], console=None) -> None:
    """A table on stdout (cells folded when too wide), as rich draws it.  Rich spends about a tenth of
    a millisecond on each cell: a quarter of a second for the table of a 1,000-case ``verify --all``.
    When the output is plain text (no colours: not a terminal), in UTF-8, every cell is one line of
    printable ASCII without surrounding spaces and the table fits the width as it is, the same
    characters are written directly (``tests/cli/test_plain_table.py`` holds them to rich's); any other
    table is rich's.  ``console``: where to (default :func:`_console`)."""
    console = console or _console()
    cells = [columns, *rows]
    if rows and console.color_system is None and not console.legacy_windows and not console.options.ascii_only \
            and all(all(c.isascii() and c.isprintable() and c == c.strip() for c in row) and len(row) == len(columns)
                    for row in cells) and title.isascii() and title.isprintable() and title == title.strip():
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        total = sum(widths) + 3 * len(widths) + 1
        if total <= console.width and 0 < len(title) <= total:
            def line(left: str, fill: str, sep: str, right: str) -> str:
                return left + sep.join(fill * (w + 2) for w in widths) + right + "\n"

            def row(bar: str, values: tuple[str, ...]) -> str:
                return bar + bar.join(f" {v:<{w}} " for v, w in zip(values, widths)) + bar + "\n"

            excess = total - len(title)
            text = [" " * (excess // 2) + title + " " * (excess - excess // 2) + "\n", line("┏", "━", "┳", "┓"),
                    row("┃", columns), line("┡", "━", "╇", "┩"), *(row("│", r) for r in rows), line("└", "─", "┴", "┘")]
            console.file.write("".join(text))
            console.file.flush()
            return
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*r)
    console.print(table)


def _note(message: str) -> None:
    """A message on stderr, printed literally (claimants and accounts may contain ``[...]``)."""
    from rich.console import Console

    Console(stderr=True, highlight=False, markup=False, soft_wrap=True).print(message)


# --------------------------------------------------------------------------------------------
@app.command()
@command
def init(db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Create or upgrade the case database (safe to run twice)."""
    import recover

    revision = recover.init(_db(db))
    if json_out:
        _emit_json({"ok": True, "revision": revision})
    else:
        _note(f"case database ready (schema revision {revision})")


keys_app = typer.Typer(help="Wallet keys this host signs with.", no_args_is_help=True)
hsm_app = typer.Typer(help="Wallet keys on a PKCS#11 token (the network files' [hsm]).", no_args_is_help=True)
keys_app.add_typer(hsm_app, name="hsm")
app.add_typer(keys_app, name="keys")


@hsm_app.command("list")
@command
def keys_hsm_list(token: Optional[str] = typer.Option(None, "--token", help="Only the token with this label."),
                  network: Optional[str] = typer.Option(None, "--network", help="Only the token of this network."),
                  json_out: bool = JsonOpt) -> None:
    """Show what the HSM tokens hold: labels, curves and the address of each key per network, and
    whether each matches the network file (PIN from RECOVER_PKCS11_PIN or RECOVER_PKCS11_PIN_FILE)."""
    import recover

    tokens = recover.hsm_keys(token=token, network=network)
    if json_out:
        _emit_json({"tokens": tokens})
        return
    from rich.markup import escape
    from rich.table import Table

    con = _console()
    for tok in tokens:
        t = Table(title=f"token {tok['token']} ({tok['module']}): {plural(len(tok['keys']), 'key')}")
        for col in ("label", "curve", "network", "address", "network file"):
            t.add_column(col)
        for key in tok["keys"]:
            rows = key["networks"] or [{"network": "-", "address": "-", "configured": None, "matches": None}]
            for n in rows:
                said = ("-" if n["configured"] is None else "matches" if n["matches"]
                        else f"DIFFERS: says {n['configured']}")
                t.add_row(escape(key["label"]), key["curve"], n["network"], n["address"], escape(said))
        con.print(t)
        for m in tok["missing"]:
            con.print(f"[red]missing:[/red] {m['network']} names key {escape(m['label'])!r}, which the token does not hold")


networks_app = typer.Typer(help="The networks this toolkit knows (`networks check KEY`: every missing setting).",
                            invoke_without_command=True)
app.add_typer(networks_app, name="networks")


@networks_app.command("check")
@command
def networks_check(key: str = typer.Argument(..., help="Network key."),
                   live: bool = typer.Option(False, "--live", help="Also ask the node: reachable, its chain, its "
                                             "newest block's age, the gas station's and hot wallet's balances."),
                   signer: bool = typer.Option(False, "--signer", help="This host signs: its signer (RECOVER_SEED or a "
                                               "keystore) is required too."),
                   json_out: bool = JsonOpt) -> None:
    """List every missing or invalid setting of a network at once, and the commands each one blocks
    (exit 4 when there is one; 8 when --live cannot reach the node; without --live no node is asked)."""
    import recover

    report = recover.check_network(key, live=live, signer=signer)
    problems = report.problems
    if json_out:
        _emit_json(report.to_dict())
    else:
        from rich.markup import escape
        from rich.table import Table

        net = report.net
        t = Table(title=f"{net.key} ({net.source}), {report.role} host{', node asked' if live else ''}: "
                        f"{plural(len(problems), 'problem')}")
        for col in ("setting", "problem", "blocks"):
            t.add_column(col)
        for p in problems:
            t.add_row(p.setting, escape(p.problem), p.needed_by)
        con = _console()
        con.print(t)
        _print_node(con, report.node, net)
        for note in report.notes:
            con.print(f"note: {escape(note)}", highlight=False)
    failure = report.error()
    if failure is not None:  # the report is the output; the failure is said on stderr, as everywhere
        _fail(failure, json_out)


def _print_node(con, node: dict | None, net) -> None:
    """What ``--live`` read from the node, one line each."""
    if not node:
        return
    from rich.markup import escape

    from recover.text import units

    lines = [f"node {', '.join(node['urls'])}: {node['chain']}, block {node['latest_block']}"
             + ("" if node["block_age_s"] is None else f", {node['block_age_s']} s old")]
    if node.get("fee_collector"):
        lines.append(f"fee collector {node['fee_collector']}")
    for name in ("gas_station", "hot_wallet"):
        w = node.get(name)
        if w:
            amount = lambda v: units(int(v), w["decimals"], net.native_symbol)  # noqa: E731
            needs = f" (one sweep takes {amount(w['needs'])})" if "needs" in w else ""
            lines.append(f"{name.replace('_', ' ')} {w['address']}: {amount(w['balance'])}{needs}")
    for line in lines:
        con.print(escape(line), highlight=False)


@networks_app.callback()
@command
def networks(
    ctx: typer.Context,
    recovery_class: Optional[str] = typer.Option(None, "--class", help="direct or conditional"),
    devnets: bool = typer.Option(False, "--devnets",
                                 help="Also list the devnets (test and demo chains); RECOVER_DEVNETS=1 does too."),
    json_out: bool = JsonOpt,
) -> None:
    """List the networks this toolkit knows, with their recovery class and conditions (the devnets
    only with --devnets; every network is usable by key)."""
    from recover.queries.lists import networks as list_networks
    from recover.queries.networks import shared_chains

    if ctx.invoked_subcommand is not None:
        return

    nets = list_networks(recovery_class, include_devnets=devnets or None)
    for chain, keys in shared_chains(list_networks(include_devnets=True)):
        _note(f"warning: networks {', '.join(keys)} are one chain ({chain}): a deposit claimed under "
              "one of them is refused under the others")
    if json_out:
        _emit_json([
            {"key": n.key, "name": n.name, "family": n.family, "chain": n.chain, "chain_id": n.chain_id,
             "recovery_class": n.recovery_class, "conditions": list(n.conditions), "reason": n.reason,
             "confirmations": n.confirmations, "native_symbol": n.native_symbol,
             "native_decimals": n.native_decimals, "devnet": n.devnet, "source": n.source}
            for n in nets
        ])
        return
    from rich.table import Table

    table = Table(title=plural(len(nets), "network"))
    for col in ("key", "name", "family", "chain id", "class", "conditions", "conf.", "native"):
        table.add_column(col)
    for n in nets:
        table.add_row(n.key, n.name + (" (devnet)" if n.devnet else ""), n.family,
                      str(n.chain_id or ""), n.recovery_class, ", ".join(n.conditions),
                      str(n.confirmations), f"{n.native_symbol} ({n.native_decimals})")
    _console().print(table)


@addresses_app.command("import")
@command
def addresses_import(
    file: Path = typer.Argument(..., help="CSV: network,address,derivation_path,account[,status][,kind]"),
    admin_key: list[Path] = AdminKeyOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt,
) -> None:
    """Register deposit addresses (all rows checked before any is written; signed by an admin quorum)."""
    import recover

    result = recover.import_addresses(file, admin_keys=admin_key, db=_db(db))
    if json_out:
        _emit_json(result.to_dict())
    else:
        _note(f"addresses: {result.added} added, {result.updated} updated, {result.unchanged} unchanged")


@memos_app.command("import")
@command
def memos_import(
    file: Path = typer.Argument(..., help="CSV: network,memo,account[,status]"),
    admin_key: list[Path] = AdminKeyOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt,
) -> None:
    """Register the memos of shared-wallet networks (memo -> account; all rows checked first; admin quorum)."""
    import recover

    result = recover.import_memos(file, admin_keys=admin_key, db=_db(db))
    if json_out:
        _emit_json(result.to_dict())
    else:
        _note(f"memos: {result.added} added, {result.updated} updated, {result.unchanged} unchanged")


@addresses_app.command("list")
@command
def addresses_list(network: Optional[str] = typer.Option(None, "--network", help="Only addresses of this network."),
                   db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """List the registered deposit addresses."""
    from recover.queries.lists import addresses

    rows = [{"network": a.network, "address": a.address, "derivation_path": a.derivation_path, "account": a.account,
             "status": a.status} for a in addresses(network, db=_db(db))]
    if json_out:
        _emit_json(rows)
        return
    from rich.table import Table

    t = Table(title=plural(len(rows), "address", "addresses"))
    for col in ("network", "address", "derivation path", "account", "status"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["network"], r["address"], r["derivation_path"], r["account"], r["status"])
    _console().print(t)


# --------------------------------------------------------------------------------------------
@case_app.command("open")
@command
def case_open(
    network: str = typer.Option(..., "--network", help="Network key (see `recover networks`)."),
    tx: str = typer.Option(..., "--tx", help="Transaction id / hash / signature of the deposit."),
    asset: Optional[str] = typer.Option(None, "--asset", help="Token contract or mint, or the native symbol."),
    deposit_address: Optional[str] = typer.Option(None, "--deposit-address", help="Our address that received it."),
    return_address: Optional[str] = typer.Option(None, "--return-address", help="Send the net amount here."),
    credit_account: Optional[str] = typer.Option(None, "--credit-account", help="Or credit this exchange account."),
    claimant: Optional[str] = typer.Option(None, "--claimant", help="Who claims it (user id, ticket)."),
    msg_index: Optional[int] = typer.Option(None, "--msg-index", min=0,
                                            help="Memo networks: which transfer of the transaction (message index)."),
    return_memo: Optional[str] = typer.Option(None, "--return-memo",
                                              help="Memo networks: the memo / tag the refund must carry."),
    db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt,
) -> None:
    """Record a claim (checked without a node: network, txid, address checksums, destination)."""
    import recover

    if bool(return_address) == bool(credit_account):
        raise UsageError("give exactly one destination: --return-address (send back to the user) or "
                         "--credit-account (credit the user's exchange account)")

    case = recover.open_case(network, tx, return_address=return_address, credit_account=credit_account,
                             asset=asset, deposit_address=deposit_address, claimant=claimant,
                             msg_index=msg_index, return_memo=return_memo, db=_db(db), key=key)
    if json_out:
        _emit_json(recover.show_case(case.id, db=_db(db)))
    else:
        _note(f"opened case {case.id} ({case.network} {case.txid})")
        sys.stdout.write(f"{case.id}\n")


@case_app.command("import")
@command
def case_import(file: Path = typer.Argument(..., help="CSV: network,txid,asset,deposit_address,return_address,"
                                                      "credit_account,claimant,external_ref[,msg_index,return_memo]"),
                db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Open a case per appeal line: one result row per line; lines already imported are reported, not
    opened again (exit 4 when any line could not be opened)."""
    import recover

    results = recover.import_appeals(file, db=_db(db), key=key)
    rows = [r.to_dict() for r in results]
    if json_out:
        _emit_json(rows)
    else:
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=plural(len(rows), "appeal line"))
        for col in ("line", "outcome", "case", "code", "message"):
            t.add_column(col)
        for r in rows:
            t.add_row(str(r["line"]), r["outcome"], str(r["id"] or ""), r["code"] or "", escape(r["message"]))
        _console().print(t)
    counts = {o: sum(r.outcome == o for r in results) for o in ("opened", "exists", "error")}
    _note(f"{counts['opened']} opened, {counts['exists']} already there, {counts['error']} refused")
    if counts["error"]:
        raise typer.Exit(EXIT_INVALID)


@case_app.command("show")
@command
def case_show(case_id: int = typer.Argument(..., metavar="ID"), contracts: bool = ContractsOpt,
              db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """The case's whole story: claim, facts, classification, quote, plan, approvals, audit."""
    from recover.queries.lists import show_case

    doc = show_case(case_id, db=_db(db))
    if json_out:
        _emit_json(doc)
    else:
        _render_case(doc, contracts=contracts)


@case_app.command("list")
@command
def case_list(status: Optional[str] = typer.Option(None, "--status", help="Only cases in this status."),
              network: Optional[str] = typer.Option(None, "--network", help="Only cases on this network."),
              db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """List cases, oldest first."""
    from recover.queries.docs import case_summary
    from recover.queries.lists import cases

    rows = [case_summary(c) for c in cases(status, network=network, db=_db(db))]
    if json_out:
        _emit_json(rows)
        return
    from rich.table import Table

    table = Table(title=plural(len(rows), "case"))
    for col in ("id", "status", "network", "txid", "classification", "destination", "opened by"):
        table.add_column(col)
    for r in rows:
        dest = r["destination"].get("return_address") or f"credit account {r['destination'].get('credit_account')}"
        table.add_row(str(r["id"]), r["status"], r["network"], r["txid"], r["classification"] or "", dest,
                      r["opened_by"])
    _console().print(table)


@case_app.command("verify")
@command
def case_verify(
    case_id: Optional[int] = typer.Argument(None, metavar="ID", help="The case (or --all)."),
    all_open: bool = typer.Option(False, "--all", help="Verify every open case (batched node reads)."),
    db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt,
) -> None:
    """Prove a deposit on-chain and classify it (exit 6 with the reason when refused)."""
    import recover
    from recover.authority.keyfile import open_operator_key_ahead

    if (case_id is None) == (not all_open):
        raise UsageError("give a case ID or --all (not both)")
    opened = open_operator_key_ahead(key)  # the KDF runs while the next lines import the ORM and the adapters
    if case_id is not None:
        recover.verify_cases  # noqa: B018 - the import itself
        result = recover.verify_case(case_id, db=_db(db), key=opened())
        if json_out:
            _emit_json(recover.show_case(case_id, db=_db(db)))
        else:
            _note(f"case {case_id} verified: {result.message}")
        return
    from recover.casework.verify_reads import read_ahead

    ahead = read_ahead(_db(db))  # the node reads start now, and run while the write side imports
    try:
        recover.verify_cases  # noqa: B018 - the import itself
        summary = _verify_all_with_progress(db, opened(), json_out, ahead)
    finally:
        ahead.close()
    doc = summary.to_dict()
    if json_out:
        _emit_json(doc)
    else:
        counts = ", ".join([f"{doc['verified']} verified"]
                           + [f"{n} refused ({code})" for code, n in doc["refused"].items()]
                           + [f"{n} to retry later ({code})" for code, n in doc["retry_later"].items()])
        _print_table(f"verify --all: {plural(len(summary.results), 'case')}: {counts}",
                     ("case", "outcome", "code", "classification", "message"),
                     [(str(r.case_id), r.outcome, r.code, r.classification or "", r.message) for r in summary.results])
    unreachable = [r.case_id for r in summary.results if r.exit_code == EXIT_NODE]
    if unreachable:  # the batch ran, but a node did not answer: say so by the exit code too
        _note(f"{plural(len(unreachable), 'case')} not verified: the node did not answer; run verify --all again later")
        raise typer.Exit(EXIT_NODE)


def _verify_all_with_progress(db, key, json_out, ahead):
    import recover

    if json_out or not sys.stderr.isatty():
        return recover.verify_cases(all_open=True, db=_db(db), key=key, ahead=ahead)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        total = len(recover.list_cases("open", db=_db(db)))  # for the bar only: verify reads the set itself
        task = bar.add_task("verifying", total=total)
        return recover.verify_cases(all_open=True, db=_db(db), key=key, ahead=ahead,
                                    progress=lambda n: bar.advance(task, n))


@case_app.command("quote")
@command
def case_quote(case_id: int = typer.Argument(..., metavar="ID"), contracts: bool = ContractsOpt,
               db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Compute fee, network cost and net for a verified case (exit 7 when refused by policy).  A re-quote
    of a case awaiting approval (or approved) voids its plan and approvals, and says so."""
    import recover

    outcome = recover.quote_case(case_id, db=_db(db), key=key)
    doc = outcome.to_dict()
    if json_out:
        _emit_json(doc)
        return
    from recover.text import asset_name

    _print_quote(doc, title=f"quote for case {case_id}", lines=doc["lines"],
                 asset=asset_name(doc["symbol"], doc["contract"], contract=True) if contracts else None)
    _say_voided(case_id, doc["voided_plans"], "quote", f"Prepare the case again (`recover case prepare {case_id}`) "
                "and have the new plan approved.")


def _say_voided(case_id: int, voided: list[dict], what: str, then: str) -> None:
    for v in voided:
        who = f": {', '.join(v['approvers'])}" if v["approvers"] else ""
        _note(f"warning: case {case_id} was {v['status'].replace('_', ' ')}; this {what} voided its plan "
              f"{v['plan_hash']} and the {v['approvals']} approval{'' if v['approvals'] == 1 else 's'} it had{who}. "
              + then)


@case_app.command("prepare")
@command
def case_prepare(case_id: int = typer.Argument(..., metavar="ID"), db: Optional[str] = DbOpt,
                 key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Build and simulate the sweep plan of a quoted case; it then awaits approval."""
    import recover

    outcome = recover.prepare_case(case_id, db=_db(db), key=key)
    if json_out:
        _emit_json(outcome.to_dict())
        return
    _say_voided(case_id, outcome.voided_plans, "new plan", "Have the new plan approved.")
    _note(f"case {case_id}: plan {outcome.plan_hash} awaits approval")
    _print_steps(outcome.steps)


def _print_quote(q: dict, *, title: str, lines, asset: str | None = None) -> None:
    """The quote's amounts in units with their symbol next to base units, and what an unpriced asset
    means, in words (never ``value USD None``); ``asset``: the asset with its contract (``--contracts``)."""
    from rich.table import Table

    from recover.text import units

    t = Table(title=title)
    for col, justify in (("item", "left"), ("amount", "right"), ("base units", "right")):
        t.add_column(col, justify=justify)
    sym, dec = q.get("symbol"), q["decimals"]
    for label in ("gross", "fee", "network_cost_in_asset", "net"):
        t.add_row(label.replace("_", " "), units(q[label], dec, sym), q[label])
    nsym, ndec = q.get("native_symbol"), q.get("native_decimals")
    t.add_row("network cost (native)", units(q["network_cost_native"], ndec, nsym) if ndec is not None else "",
              q["network_cost_native"])
    _console().print(t)
    if asset:
        _console().print(f"  asset: {asset}")
    if q.get("value_usd") is None:
        _console().print(f"  value: not priced ({sym or 'the asset'} has no USD price): the fee is taken in kind, "
                         "no USD minimum applies, and approval needs the top tier of the policy")
    else:
        _console().print(f"  value: {q['value_usd']} USD")
    for line in lines or []:
        _console().print(f"  - {line}", soft_wrap=True)


def _print_steps(steps) -> None:
    """The plan's steps as the chain adapter describes them (no family's fields here)."""
    for step in steps or []:
        after = f" (after step {', '.join(str(a) for a in step['after'])})" if step["after"] else ""
        _console().print(f"  {step['seq']}. {step['role']}: {step['summary']}{after}", soft_wrap=True)


@prices_app.command("set")
@command
def prices_set(asset: str = typer.Argument(..., help="ETH, or network:contract for a token"),
               usd: str = typer.Argument(..., help="USD price, e.g. 1.0003"),
               at: Optional[str] = typer.Option(None, "--at", help="ISO-8601 time with zone (default now)"),
               db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Record a USD price observation."""
    import recover

    p = recover.set_price(asset, usd, at=at, db=_db(db), key=key)
    if json_out:
        _emit_json(p.to_dict())
    else:
        _note(f"price {p.asset} = {p.usd} USD at {p.to_dict()['at']}")


@prices_app.command("import")
@command
def prices_import(file: Path = typer.Argument(..., help="CSV: asset,usd[,at]"), db: Optional[str] = DbOpt,
                  key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Import USD prices (all rows checked before any is written)."""
    import recover

    rows = recover.import_prices(file, db=_db(db), key=key)
    if json_out:
        _emit_json({"imported": len(rows), "prices": [r.to_dict() for r in rows]})
    else:
        _note(f"{plural(len(rows), 'price')} imported")


@prices_app.command("list")
@command
def prices_list(db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """List the USD price observations (newest first per asset) and who set them."""
    from recover.queries.lists import prices

    rows = [{"asset": p.asset, "usd": p.usd, "at": p.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "set_by": p.created_by}
            for p in prices(db=_db(db))]
    if json_out:
        _emit_json(rows)
        return
    from rich.table import Table

    t = Table(title=plural(len(rows), "price"))
    for col in ("asset", "USD", "at", "set by"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["asset"], r["usd"], r["at"], r["set_by"])
    _console().print(t)


@queue_app.command("list")
@command
def queue_list(contracts: bool = ContractsOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Cases awaiting approval: network, classification, net amount, value, approvals so far and what
    they still need."""
    from recover.queries.lists import queue

    rows = queue(db=_db(db))
    if json_out:
        _emit_json(rows)
        return
    from rich.table import Table

    from recover.authority.approval_state import queue_columns
    from recover.text import asset_name, units

    t = Table(title=f"{plural(len(rows), 'case')} in the queue")
    for col in ("id", "status", "network", "class", "net", "value USD", "approvals", "still needs"):
        t.add_column(col, justify="right" if col in ("net", "value USD") else "left")
    for r in rows:
        named = contracts or SYMBOL_LOOKALIKE in (r.get("flags") or [])  # a look-alike symbol: its contract too
        net = units(r["net"], r["decimals"], asset_name(r["symbol"], r["asset"], contract=named)) \
            if r["net"] is not None else "no quote"
        t.add_row(str(r["id"]), r["status"], r["network"], r["classification"] or "", net,
                  "unpriced" if r["value_usd"] is None else str(r["value_usd"]), *queue_columns(r["approvals"]))
    _console().print(t)


def _decision(case_id, key, decision, reason, db, json_out):
    import recover

    state = recover.decide(case_id, decision, reason=reason, db=_db(db), key=key)
    doc = recover.show_case(case_id, db=_db(db))
    if json_out:
        _emit_json({"id": case_id, "status": doc["status"], "approvals": state.to_dict()})
    else:
        from recover.authority.approval_state import still_needed

        needs = still_needed(state.to_dict()) if decision == "approve" else []
        _note(f"case {case_id}: {decision} recorded; status {doc['status']}"
              + (f"; still needed: {'; '.join(needs)}" if needs else "; ready to sign" if state.satisfied else ""))


@queue_app.command("approve")
@command
def queue_approve(case_id: int = typer.Argument(..., metavar="ID"), key: Optional[Path] = KeyOpt,
                  db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Approve the case's current plan, signing its hash with your operator key."""
    _decision(case_id, key, "approve", None, db, json_out)


@queue_app.command("reject")
@command
def queue_reject(case_id: int = typer.Argument(..., metavar="ID"), key: Optional[Path] = KeyOpt,
                 reason: str = typer.Option(..., "--reason"), db: Optional[str] = DbOpt,
                 json_out: bool = JsonOpt) -> None:
    """Reject the case's current plan (the case ends as rejected)."""
    _decision(case_id, key, "reject", reason, db, json_out)


@case_app.command("prove")
@command
def case_prove(case_id: int = typer.Argument(..., metavar="ID"), signature: str = typer.Option(..., "--signature"),
               db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Record an ownership proof: an EIP-191 signature by the sending address (see case show)."""
    import recover

    row = recover.prove_ownership(case_id, signature, db=_db(db), key=key)
    _emit_json({"id": case_id, "condition": row.condition, "evidence": row.evidence}) if json_out else \
        _note(f"case {case_id}: ownership proven by {row.evidence['signer']}")


@case_app.command("signoff")
@command
def case_signoff(case_id: int = typer.Argument(..., metavar="ID"), condition: str = typer.Option(..., "--condition", help="One of: " + ", ".join(SIGNED_OFF)),
                 reason: str = typer.Option(..., "--reason"), db: Optional[str] = DbOpt,
                 key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Record a sign-off for a condition of a conditional network (who and why)."""
    import recover

    row = recover.sign_off(case_id, condition, reason, db=_db(db), key=key)
    _emit_json({"id": case_id, "condition": row.condition, "by": row.satisfied_by, "reason": row.reason}) \
        if json_out else _note(f"case {case_id}: {row.condition} signed off by {row.satisfied_by}")


@case_app.command("reopen")
@command
def case_reopen(case_id: int = typer.Argument(..., metavar="ID"), reason: str = typer.Option(..., "--reason"),
                admin_key: Optional[list[Path]] = typer.Option(None, "--admin-key", help=(
                    "An admin's key file (repeat once per admin, up to the quorum).")),
                preview: bool = typer.Option(False, "--preview", help="Show what the admins would sign; sign nothing."),
                db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Reopen a rejected, unrecoverable or failed case (an admin-quorum decision): back to verified
    (facts proven) or open.  The admins re-attest the newest valid signed claim, never the row."""
    import recover

    if preview:
        doc = recover.preview_reopen(case_id, reason, db=_db(db))
    else:
        if not admin_key:
            raise typer.BadParameter("give the admins' keys (--admin-key FILE, once per admin), or --preview",
                                     param_hint="--admin-key")
        doc = recover.reopen_case(case_id, reason, admin_keys=admin_key, db=_db(db))
    if json_out:
        _emit_json(doc if preview else {**recover.show_case(case_id, db=_db(db)), "statement": doc["statement"]})
        return
    claim, body = doc["statement"]["claim"], doc["statement"]
    dest = f"return address {claim.get('return_address')}" if claim.get("return_address") else \
        f"credit account {claim.get('credit_account')}"
    lines = [f"  claim: {claim.get('network')} transaction {claim.get('txid')}, to {dest}"
             + (f", claimant {claim.get('claimant')}" if claim.get("claimant") else "")]
    for f in body.get("facts") or []:
        lines.append(f"  deposit: {f.get('amount')} base units of {f.get('asset')} at {f.get('receiving_address')} "
                     f"(index {f.get('index')})")
    lines.append(f"  reason: {body.get('reason')}")
    for line in lines:
        _console().print(line, markup=False, highlight=False)
    _note(f"case {case_id} would be reopened to {doc['status']} (nothing was signed)" if preview else
          f"case {case_id} reopened: now {doc['status']}; the admins re-attested the claim above")


@case_app.command("close")
@command
def case_close(case_id: int = typer.Argument(..., metavar="ID"),
               as_status: str = typer.Option(..., "--as", help="rejected or unrecoverable."),
               reason: str = typer.Option(..., "--reason"),
               admin_key: Optional[list[Path]] = typer.Option(None, "--admin-key", help=(
                   "An admin's key file (repeat up to the quorum): needed once the case is approved.")),
               db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """End a case that is not final, with a reason: a reviewer before approval (--key), an admin quorum
    after it (--admin-key).  `case reopen` undoes it if the money comes back."""
    import recover

    case = recover.close_case(case_id, as_status, reason, admin_keys=admin_key or None, db=_db(db), key=key)
    _emit_json(recover.show_case(case_id, db=_db(db))) if json_out else \
        _note(f"case {case_id} closed: now {case.status}")


@case_app.command("sign")
@command
def case_sign(case_id: int = typer.Argument(..., metavar="ID"), db: Optional[str] = DbOpt,
              key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Sign an approved plan (re-checks approvals, the deposit and the simulation first)."""
    import recover

    rows = recover.sign_case(case_id, db=_db(db), key=key)
    # a plan without transactions (a shared-wallet credit) is carried out by its signing
    doc = {"id": case_id, "status": "signed" if rows else "completed",
           "transactions": [{"seq": r.seq, "role": r.role, "txid": r.txid} for r in rows]}
    _emit_json(doc) if json_out else _note(f"case {case_id} signed: {', '.join(r.txid for r in rows)}" if rows else
                                           f"case {case_id} completed: a credit, nothing to send on chain")


@case_app.command("export")
@command
def case_export(case_id: int = typer.Argument(..., metavar="ID"), out: Path = typer.Option(..., "--out"),
                db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Write the approved plan for an offline signer (PSBT for UTXO, unsigned JSON for EVM)."""
    import recover

    doc = recover.export_case(case_id, out, db=_db(db), key=key)
    _emit_json({"id": case_id, "file": str(out), "format": doc["format"], "plan_hash": doc["plan_hash"]}) \
        if json_out else _note(f"case {case_id}: plan {doc['plan_hash'][:16]}… written to {out} ({doc['format']})")


@case_app.command("import-signed")
@command
def case_import_signed(case_id: int = typer.Argument(..., metavar="ID"), file: Path = typer.Argument(...),
                       db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Import offline-signed transactions: accepted only if they are exactly the approved plan."""
    import recover

    rows = recover.import_signed(case_id, file, db=_db(db), key=key)
    doc = {"id": case_id, "status": "signed", "transactions": [{"seq": r.seq, "role": r.role, "txid": r.txid}
                                                                for r in rows]}
    _emit_json(doc) if json_out else _note(f"case {case_id} signed offline: {', '.join(r.txid for r in rows)}")


@case_app.command("broadcast")
@command
def case_broadcast(case_id: int = typer.Argument(..., metavar="ID"),
                   wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for a prerequisite to confirm "
                                                              "(default: none; exit 9 means run it again later)."),
                   db: Optional[str] = DbOpt, key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Send the signed transactions in order (safe to re-run: the same bytes are re-sent)."""
    import recover

    report = recover.broadcast_case(case_id, db=_db(db), key=key, wait_seconds=wait)
    _emit_json(report.to_dict()) if json_out else _note(f"case {case_id}: sent {plural(len(report.sent), 'transaction')}")


@case_app.command("track")
@command
def case_track(case_id: int = typer.Argument(..., metavar="ID"), db: Optional[str] = DbOpt,
               key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Follow confirmations: completed when all are confirmed, failed when one reverted or was dropped."""
    import recover

    report = recover.track_case(case_id, db=_db(db), key=key)
    if json_out:
        _emit_json(report.to_dict())
    else:
        for t in report.txs:
            _console().print(f"  {t['seq']}. {t['role']} {t['txid']}: {t['status']} ({t['confirmations']} conf.)"
                             + (f" {t['error']}" if t["error"] else ""))
        _note(f"case {case_id}: {report.status}")


@credits_app.command("export")
@command
def credits_export(out: Path = typer.Option(..., "--out", help="CSV file to create."), db: Optional[str] = DbOpt,
                   key: Optional[Path] = KeyOpt, json_out: bool = JsonOpt) -> None:
    """Write the credits not yet exported (each credit is exported exactly once)."""
    import recover

    n = recover.export_credits(out, db=_db(db), key=key)
    _emit_json({"exported": n, "file": str(out)}) if json_out else _note(f"{plural(n, 'credit')} written to {out}")


@audit_app.command("verify")
@command
def audit_verify(checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                                           help="A checkpoint file written by `audit checkpoint`."),
                 db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Recompute the audit hash chain; name the first event altered or removed (and, with a
    checkpoint, a history truncated or rewritten since it)."""
    import recover

    report = recover.verify_audit(db=_db(db), checkpoint=checkpoint)
    if json_out:
        _emit_json(report.to_dict())
    else:
        for p in report.problems:
            _err(p)
        _note(f"{plural(report.events, 'event')}, head {report.head_hash[:16]}…: " + ("intact" if report.ok else "BROKEN"))
    if not report.ok:
        raise typer.Exit(EXIT_UNEXPECTED)  # the log itself is damaged: not a claim or policy matter


@audit_app.command("checkpoint-key")
@command
def audit_checkpoint_key(json_out: bool = JsonOpt) -> None:
    """Print this signer host's checkpoint public key (from RECOVER_SEED), for `trust init --checkpoint-key`."""
    import recover

    public = recover.checkpoint_public_key()
    _emit_json({"checkpoint_key": public}) if json_out else sys.stdout.write(public + "\n")


@audit_app.command("checkpoint")
@command
def audit_checkpoint(out: Path = typer.Option(..., "--out", help="Checkpoint file to create (keep it off this host)."),
                     db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Write the head of the audit chain signed by the signer host (RECOVER_SEED)."""
    import recover

    doc = recover.audit_checkpoint(out, db=_db(db))
    _emit_json(doc) if json_out else _note(f"checkpoint of event {doc['seq']} ({plural(doc['events'], 'event')}) written to {out}")


# -- trust root and operators ----------------------------------------------------------------------
@trust_app.command("init")
@command
def trust_init(admins: int = typer.Option(..., "--admins", help="How many admins (admin key files)."),
               quorum: int = typer.Option(..., "--quorum", help="How many of them must sign an admin action."),
               out_dir: Path = typer.Option(..., "--out-dir", help="Folder for trust-root.json and the admin keys."),
               checkpoint_key: Optional[str] = typer.Option(
                   None, "--checkpoint-key", help="The signer host's checkpoint public key (`recover audit "
                   "checkpoint-key` there); default: from RECOVER_SEED when set here."),
               json_out: bool = JsonOpt) -> None:
    """Create a trust root (a new deployment, admin public keys and quorum, the checkpoint key) and the
    admins' key files."""
    import recover

    doc = recover.trust_init(admins, quorum, out_dir, checkpoint_key=checkpoint_key)
    if json_out:
        _emit_json(doc)
    else:
        _note(f"trust root {doc['trust_root']} of deployment {doc['deployment']} ({quorum} of {admins} admins"
              + ("" if doc["checkpoint_key"] else "; it pins no checkpoint key") + "); give each admin their key "
              "file: " + ", ".join(doc["admin_keys"]) + "; set RECOVER_TRUST_ROOT on every host")


def _operator_doc(o) -> dict:
    return {"name": o.name, "public_key": o.public_key, "roles": o.roles.split(","), "person": o.person,
            "active": o.revoked_at is None, "enrolled_by": o.enrolled_by, "revoked_by": o.revoked_by}




@operators_app.command("keygen")
@command
def operators_keygen(name: str = typer.Argument(...),
                     out: Path = typer.Option(..., "--out", help="Key file to create (mode 0600, encrypted)."),
                     json_out: bool = JsonOpt) -> None:
    """Create an operator's key pair; the private key stays in FILE, the public key is to be enrolled."""
    import recover

    public = recover.operators_keygen(name, out)
    if json_out:
        _emit_json({"name": name, "public_key": public, "file": str(out)})
    else:
        _note(f"key of {name} in {out} (keep it secret); enroll its public key {public}")
        sys.stdout.write(public + "\n")


@operators_app.command("enroll")
@command
def operators_enroll(name: str = typer.Argument(...),
                     public_key: Optional[str] = typer.Option(None, "--public-key", help="An Ed25519 key (hex)."),
                     roles: str = typer.Option(..., "--roles", help="Comma-separated: specialist, reviewer, approver, "
                                                                    "senior, pricer, admin."),
                     person: str = typer.Option(..., "--person", help="The person this key belongs to."),
                     passkey: Optional[Path] = typer.Option(None, "--passkey", help="Instead of --public-key: the "
                                                            "passkey file of the web queue's enrolment page."),
                     admin_key: list[Path] = AdminKeyOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Enroll an operator key (Ed25519 or a passkey) with roles: a statement signed by an admin quorum."""
    import recover

    o = recover.operators_enroll(name, public_key, roles, person, admin_key, db=_db(db), passkey_file=passkey)
    _emit_json(_operator_doc(o)) if json_out else _note(f"operator {o.name} enrolled ({o.roles}, person {o.person})")


@operators_app.command("revoke")
@command
def operators_revoke(name: str = typer.Argument(...), admin_key: list[Path] = AdminKeyOpt, db: Optional[str] = DbOpt,
                     json_out: bool = JsonOpt) -> None:
    """Revoke an operator key: a statement signed by an admin quorum."""
    import recover

    o = recover.operators_revoke(name, admin_key, db=_db(db))
    _emit_json(_operator_doc(o)) if json_out else _note(f"operator {o.name} revoked")


@operators_app.command("list")
@command
def operators_list(db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """List enrolled operators (revoked ones included, marked)."""
    import recover

    rows = [_operator_doc(o) for o in recover.operators_list(db=_db(db))]
    if json_out:
        _emit_json(rows)
        return
    from rich.table import Table

    t = Table(title=plural(len(rows), "operator"))
    for col in ("name", "roles", "person", "public key", "active"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], ", ".join(r["roles"]), r["person"], r["public_key"][:16] + "…",
                  "yes" if r["active"] else "revoked")
    _console().print(t)


@policy_app.command("set")
@command
def policy_set(file: Path = typer.Argument(..., help="TOML: [[tiers]] below_usd, approvers, roles."),
               admin_key: list[Path] = AdminKeyOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Put an approval policy in force: a statement signed by an admin quorum."""
    import recover

    doc = recover.set_policy(file, admin_keys=admin_key, db=_db(db))
    _emit_json(doc) if json_out else _note(f"policy {doc['statement'][:16]}… in force: {_tiers_text(doc)}")


@policy_app.command("show")
@command
def policy_show(db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """The approval policy in force (the newest admin-signed one, else the bundled one)."""
    from recover.queries.lists import show_policy

    doc = show_policy(db=_db(db))
    if json_out:
        _emit_json(doc)
    else:
        sys.stdout.write(f"{doc['source']}: {_tiers_text(doc)}\n")


def _tiers_text(doc: dict) -> str:
    return "; ".join(f"{plural(t['approvers'], 'approver')}" + (f" incl. {', '.join(t['roles'])}" if t["roles"] else "")
                     + (f" below {t['below_usd']} USD" if t["below_usd"] else " (top tier)") for t in doc["tiers"])


@app.command("scan")
@command
def scan_cmd(network: str = typer.Option(..., "--network", help="Network key."),
             from_block: Optional[int] = typer.Option(None, "--from-block", min=0,
                                                      help="First block (default: after the last scan)."),
             to_block: Optional[int] = typer.Option(None, "--to-block", min=0,
                                                    help="Last block (default: the newest confirmed one)."),
             follow: bool = typer.Option(False, "--follow", help="Keep scanning as blocks are confirmed, until "
                                         "SIGTERM / Ctrl-C (resumes after the last block scanned)."),
             poll: float = typer.Option(2.0, "--poll", min=0.05, help="With --follow: seconds between looks at the "
                                        "node when nothing new is confirmed."),
             metrics_port: Optional[int] = MetricsPortOpt, metrics_host: str = MetricsHostOpt,
             key: Optional[Path] = KeyOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Find stranded deposits to our addresses and open a case for each (never twice)."""
    import recover

    if follow:
        if to_block is not None:
            raise UsageError("--follow scans up to the newest confirmed block: leave out --to-block")
        done = recover.follow_scan(network, from_block=from_block, db=_db(db), key=key, poll_seconds=poll,
                                   on_round=_json_line if json_out else _round_line,
                                   metrics_port=metrics_port, metrics_host=metrics_host)
        if json_out:  # the last line: what the whole follow did
            sys.stdout.write(json.dumps({"stopped": done.to_dict()}) + "\n")
        else:
            _note(f"{network}: stopped after block {done.last_block}; {plural(len(done.opened), 'case')} opened, "
                  f"{done.already_cases} already, {plural(done.node_errors, 'node error')}")
        return
    if metrics_port is not None:
        raise UsageError("--metrics-port serves a follow's metrics: give --follow")
    if json_out or not sys.stderr.isatty():
        report = recover.scan(network, from_block=from_block, to_block=to_block, db=_db(db), key=key)
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True)) as bar:
            task = bar.add_task("scanning", total=None)  # blocks, or addresses/wallets for a holding scan
            report = recover.scan(network, from_block=from_block, to_block=to_block, db=_db(db), key=key,
                                  progress=lambda n: bar.advance(task, n))
    doc = report.to_dict()
    if json_out:
        _emit_json(doc)
    else:
        where = (f"blocks {doc['from_block']}..{doc['to_block']}" if doc.get("kind", "blocks") == "blocks"
                 else "holdings now")
        _note(f"{network} {where}: {plural(doc['found'], 'stranded deposit')}, "
              f"{plural(len(doc['opened']), 'case')} opened, {doc['already_cases']} already {'a case' if doc['already_cases'] == 1 else 'cases'}, "
              f"{len(doc['errors'])} refused")
        for cid in doc["opened"]:
            sys.stdout.write(f"{cid}\n")


def _json_line(r) -> None:
    """One round of ``scan --follow --json``: one JSON object per line, flushed (a pipe reads it now)."""
    sys.stdout.write(json.dumps(r.to_dict(), default=str) + "\n")
    sys.stdout.flush()


def _round_line(r) -> None:
    """One round of ``scan --follow`` as it ends: the blocks, the cases it opened, and the lag."""
    if r.error:
        _note(f"{r.network}: {r.error}; trying again")
    elif r.busy:
        _note(f"{r.network}: another process is scanning it; waiting")
    else:
        rep = r.report
        _note(f"{r.network} blocks {rep.from_block}..{rep.to_block}: {plural(len(rep.opened), 'case')} opened "
              f"({', '.join(map(str, rep.opened)) or 'none'}), {rep.existing} already, {len(rep.errors)} refused; "
              f"{r.lag} behind the newest block")


@app.command()
@command
def worker(once: bool = typer.Option(False, "--once", help="Stop when no job is due (else run until SIGTERM)."),
           poll: float = typer.Option(2.0, "--poll", help="Seconds between looks at the queue when it is empty."),
           lease: int = typer.Option(300, "--lease", help="Seconds a job stays leased before another worker may "
                                                          "take it (a worker that died)."),
           metrics_port: Optional[int] = MetricsPortOpt, metrics_host: str = MetricsHostOpt,
           scan: list[str] = typer.Option([], "--scan", help="Also follow this network's new blocks between jobs "
                                          "and open a case for each stranded deposit (repeatable)."),
           key: Optional[Path] = KeyOpt, db: Optional[str] = DbOpt, json_out: bool = JsonOpt) -> None:
    """Drive cases in the background: verify open cases, broadcast signed ones, track broadcast ones."""
    import recover

    report = recover.run_worker(db=_db(db), key=key, once=once, poll_seconds=poll, lease_seconds=lease,
                                say=None if json_out else _note, on_job=None if json_out else _job_line,
                                metrics_port=metrics_port, metrics_host=metrics_host, scan=scan)
    if json_out:
        _emit_json(report.to_dict())
    else:
        _note(f"worker {report.worker}: {plural(report.jobs, 'job')}, {report.done} done, {report.later} due again later")


def _job_line(result) -> None:
    """One job as it ends: what it did to its case, and when it runs again if it is not done."""
    _note(f"case {result.case_id}: {result.did}"
          + (f", again in {round(result.again_in, 1):g} s" if result.again_in is not None else ""))


@app.command()
@command
def serve(host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1 unless told otherwise)."),
          port: int = typer.Option(8080, "--port", help="Port to listen on."),
          metrics_public: bool = typer.Option(False, "--metrics-public",
                                              help="Answer /metrics to any client (else loopback clients only)."),
          db: Optional[str] = DbOpt) -> None:
    """The web approval queue: pages, passkey sign-in and passkey-signed decisions (docs/web.md)."""
    from recover.web import serve as _serve

    _serve(host=host, port=port, db=_db(db), metrics_public=metrics_public)


@app.command()
@command
def demo(memo: bool = typer.Option(False, "--memo", help="Shared-wallet (memo) cases instead: a credit and a "
                                    "refund on a local injectived chain (PyPI injective-core; about 30 s)."),
         json_out: bool = JsonOpt) -> None:
    """The whole flow on an in-process EVM chain and a temporary database (about 8 s)."""
    if memo:
        from recover.services.memo_demo import run_memo_demo as run_demo
    else:
        from recover.services.demo import run_demo

    doc = run_demo(say=_note)
    if json_out:
        _emit_json(doc)


def _from_facts(doc: dict, field: str) -> str | None:
    """A claim left the asset or the deposit address open: after verification the facts name it."""
    values = {f[field] for f in doc.get("facts") or [] if f.get(field)}
    return ", ".join(sorted(values)) if values else None


def _asset_of(doc: dict, contracts: bool) -> str:
    """The case's asset by its symbol once verification read it (the claim's contract, or "(any)",
    before)."""
    from recover.text import asset_name

    facts = doc.get("facts") or []
    contracts = contracts or SYMBOL_LOOKALIKE in (doc.get("flags") or [])  # a look-alike symbol: its contract too
    if facts:
        return ", ".join(sorted({asset_name(f["asset_symbol"], f["asset"], contract=contracts) for f in facts}))
    return doc["asset"] or "(any)"


def _render_case(doc: dict, *, contracts: bool = False) -> None:
    """One screen per case: each part appears once it exists."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from recover.text import asset_name, units

    con = _console()
    dest = doc["destination"]
    claim = Table.grid(padding=(0, 2))
    claim.add_column(no_wrap=True)
    claim.add_column(overflow="fold")
    for label, value in (("status", doc["status"]), ("network", doc["network"]), ("tx", doc["txid"]),
                         ("asset", _asset_of(doc, contracts)),
                         ("deposit address", doc["deposit_address"] or _from_facts(doc, "receiving_address") or "(any)"),
                         ("destination", dest.get("return_address") or f"credit account {dest.get('credit_account')} "
                          "(the net goes to our hot wallet)"),
                         ("claimant", doc["claimant"] or ""), ("opened by", f"{doc['opened_by']} at {doc['created_at']}"),
                         ("classification", doc["classification"] or "(not verified yet)")):
        claim.add_row(Text(label, style="bold"), Text(str(value)))
    if doc.get("flags"):
        claim.add_row(Text("flags", style="bold yellow"), Text(", ".join(doc["flags"])))
    if doc.get("refusal"):
        claim.add_row(Text("refused", style="bold red"), Text(f"{doc['refusal']['code']}: {doc['refusal']['reason']}"))
    con.print(Panel(claim, title=f"case {doc['id']}"))
    if doc.get("facts"):
        t = Table(title="on-chain facts")
        for col in ("index", "from", "to", "asset", "amount", "block", "conf.", "class"):
            t.add_column(col)
        for f in doc["facts"]:
            where = "tx value" if f["deposit_index"] < 0 else str(f["deposit_index"])
            t.add_row(where, f["sender"] or "", f["receiving_address"],
                      asset_name(f["asset_symbol"], f["asset"], contract=contracts),
                      f"{units(f['amount'], f['decimals'], f['asset_symbol'])} ({f['amount']})",
                      str(f["block_number"]), str(f["confirmations"]), f["classification"])
        con.print(t)
    if doc.get("quote"):
        q = doc["quote"]
        _print_quote(q, title="quote" + ("" if q["economical"] else f" (refused: {q['refusal']})"),
                     lines=q["details"].get("lines", []))
    if doc.get("plan"):
        con.print(Text.assemble(("plan", "bold"), f" {doc['plan']['plan_hash']} by {doc['plan']['created_by']}"))
        _print_steps(doc["plan"].get("steps"))
        if doc["plan"].get("steps_problem"):
            con.print(Text.assemble(("  its steps are not shown: ", "bold red"), doc["plan"]["steps_problem"]))
    if doc.get("conditions"):
        c = doc["conditions"]
        done = {r["condition"]: r for r in c["recorded"]}
        con.print(Text.assemble(("conditions", "bold"), f" ({c['reason']})" if c.get("reason") else ""))
        for name in c["required"]:
            r = done.get(name)
            con.print(f"  - {name}: " + (f"satisfied by {r['by']} ({r['reason']})" if r else "required, not met yet"))
        if c.get("ownership_message") and "ownership_proof" not in done:
            con.print("  the sender proves ownership by signing exactly this message (then `recover case prove "
                      f"{doc['id']} --signature SIG`):")
            con.print(f"    {c['ownership_message']}")
    if doc.get("approvals"):
        a = doc["approvals"]
        needed = a.get("needed")
        con.print(Text.assemble(("approvals", "bold"), f" {sum(1 for x in a['so_far'] if x['decision'] == 'approve')}"
                                + (f" of {needed}" if needed is not None else "")
                                + (f" ({a['tier']})" if a.get("tier") else "")))
        for x in a["so_far"]:
            con.print(f"  - {x['approver']} (person {x['person']}): {x['decision']}"
                      + (f": {x['reason']}" if x.get("reason") else ""))
        for need in a.get("still_needed") or []:
            con.print(f"  still needed: {need}")
        if a.get("error"):
            con.print(f"  what they still need cannot be worked out here: {a['error']}")
    if doc.get("transactions"):
        t = Table(title="transactions")
        for col in ("step", "role", "txid", "status", "conf."):
            t.add_column(col, overflow="fold")
        for x in doc["transactions"]:
            t.add_row(str(x["seq"]), x["role"], x["txid"], x["status"] + (f" ({x['error']})" if x.get("error") else ""),
                      str(x["confirmations"] if x["confirmations"] is not None else ""))
        con.print(t)
    t = Table(title="audit trail")
    for col in ("#", "at", "actor", "action", "status"):
        t.add_column(col)
    for e in doc["audit"]:
        t.add_row(str(e["seq"]), e["at"], e["actor"], e["action"],
                  (f"{e['from']} -> {e['to']}" if e["from"] else e["to"]) if e["to"] else "")
    con.print(t)


# -- the read commands' fast path -------------------------------------------------------------------
#: Commands run without building the click command tree when their command line is plain (below).
FAST_READS = (("case", "list"), ("case", "show"), ("queue", "list"), ("addresses", "list"), ("prices", "list"),
              ("networks",), ("policy", "show"))
#: ... and ``case verify`` (``--all`` over thousands of cases is waited for: issue 27), the same way.
FAST_COMMANDS = (*FAST_READS, ("case", "verify"))
#: Test hook: when set, ``main`` writes the sorted names of the modules it loaded to this file at exit
#: (``tests/architecture/test_read_path.py`` checks that reads load no chain SDK, adapter or ORM).
MODULES_ENV = "RECOVER_DUMP_MODULES"
_DIGITS = frozenset("0123456789")


def _command_of(path: tuple[str, ...]) -> Callable | None:
    """The function typer registered for ``path`` (a group's callback for a one-word path)."""
    group = next((g.typer_instance for g in app.registered_groups if g.name == path[0]), None)
    if group is None:
        return None
    if len(path) == 1:
        return group.registered_callback.callback if group.registered_callback else None
    return next((c.callback for c in group.registered_commands if c.name == path[1]), None)


def _parse_plainly(fn: Callable, args: list[str]) -> dict | None:
    """``fn``'s keyword arguments from ``args``, read from its own typer declarations (the one
    definition of the command), when ``args`` is plain: known options, each once, ``--opt VALUE`` or
    ``--opt=VALUE`` with a value not starting with ``-`` (a path: not empty either), flags, and
    whole-number (optional or not) or text arguments.
    Anything else (help, an unknown option, a missing or malformed value) is None: typer then parses
    it and says what is wrong, exactly as always."""
    import inspect
    from types import SimpleNamespace

    from typer.models import ArgumentInfo, OptionInfo

    kwargs: dict[str, Any] = {}
    options: dict[str, tuple[str, str]] = {}
    arguments: list[tuple[str, str, bool]] = []  # name, kind, required
    for p in inspect.signature(fn).parameters.values():
        kind = str(p.annotation)
        if isinstance(p.default, OptionInfo) and len(p.default.param_decls) == 1 and \
                kind in ("Optional[str]", "str", "bool", "Optional[Path]") and \
                (kind != "str" or p.default.default is not ...) and \
                (kind != "Optional[Path]" or p.default.default is None):
            options[p.default.param_decls[0]] = (p.name, kind)
            kwargs[p.name] = p.default.default
        elif isinstance(p.default, ArgumentInfo) and kind in ("int", "str") and p.default.default is ...:
            if arguments and not arguments[-1][2]:  # a required argument after an optional one: typer's to place
                return None
            arguments.append((p.name, kind, True))
        elif isinstance(p.default, ArgumentInfo) and kind == "Optional[int]" and p.default.default is None:
            arguments.append((p.name, "int", False))  # None when not given
            kwargs[p.name] = None
        elif kind == "typer.Context":
            kwargs[p.name] = SimpleNamespace(invoked_subcommand=None)
        else:
            return None
    seen: set[str] = set()
    i = 0
    while i < len(args):
        token = args[i]
        name, _, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if token.startswith("-"):
            if name not in options or name in seen:
                return None
            seen.add(name)
            param, kind = options[name]
            if kind == "bool":
                if inline or "=" in token:
                    return None
                kwargs[param] = True
            else:
                value = inline if "=" in token else (args[i + 1] if i + 1 < len(args) else None)
                if value is None or value.startswith("-") or (kind == "Optional[Path]" and not value):
                    return None
                kwargs[param] = Path(value) if kind == "Optional[Path]" else value
                i += 0 if "=" in token else 1
        elif arguments:
            param, kind, _required = arguments.pop(0)
            if kind == "int":
                if not token or len(token) > 18 or not set(token) <= _DIGITS:
                    return None
                kwargs[param] = int(token)
            else:
                kwargs[param] = token
        else:
            return None
        i += 1
    return None if any(required for _, _, required in arguments) else kwargs


def _fast_read(argv: list[str]) -> int | None:
    """Run a read command (``FAST_READS``) or ``case verify`` straight from its typer-declared function,
    without building typer's whole command tree and its pydantic-backed parameter types (about 0.1 s
    at every start); None when the command line is not plain (typer takes it)."""
    root_db = None
    if argv[:1] == ["--db"] and len(argv) > 2 and not argv[1].startswith("-"):
        root_db, argv = argv[1], argv[2:]
    path = next((p for p in FAST_COMMANDS if tuple(argv[:len(p)]) == p and
                 (len(p) == 2 or len(argv) == 1 or argv[1].startswith("-"))), None)
    fn = _command_of(path) if path else None
    kwargs = _parse_plainly(fn, argv[len(path):]) if fn else None
    if kwargs is None:
        return None
    _STATE["db"] = root_db
    try:
        fn(**kwargs)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


#: Modules typer's help renderer imports for features this app never uses (Markdown help text, rich
#: tracebacks: ``rich_markup_mode`` is "rich" and ``pretty_exceptions_enable`` is off): with pygments
#: and markdown-it they are about 60 ms of every ``--help``.
_UNUSED_BY_HELP = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _defer_unused_rich_modules() -> None:
    """Stand-ins for ``_UNUSED_BY_HELP`` while help is printed: each name is a class that loads the
    real module (and replaces the stand-in) the moment it is used, so the help text is typer's own,
    byte for byte, and nothing breaks if a later typer does use them."""
    import importlib
    import types

    def deferred(module: str, name: str) -> type:
        def load_real():
            if isinstance(sys.modules.get(module), _Deferred):
                del sys.modules[module]
            return getattr(importlib.import_module(module), name)

        return type(name, (), {"__new__": lambda cls, *a, **k: load_real()(*a, **k)})

    class _Deferred(types.ModuleType):
        def __getattr__(self, attr):
            if attr.startswith("__"):  # the import system asking whether this is a package
                raise AttributeError(attr)
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            return getattr(importlib.import_module(self.__name__), attr)

    for module, name in _UNUSED_BY_HELP.items():
        if module not in sys.modules:
            stand_in = _Deferred(module)
            setattr(stand_in, name, deferred(module, name))
            sys.modules[module] = stand_in
            package, _, leaf = module.rpartition(".")
            setattr(importlib.import_module(package), leaf, stand_in)  # `import rich.traceback` finds it too


def _dump_modules() -> None:
    target = os.environ.get(MODULES_ENV)
    if target:
        Path(target).write_text("\n".join(sorted(sys.modules)) + "\n")


def main() -> None:
    """Console entry point: usage errors are exit 2 (JSON on stderr with ``--json``)."""
    try:
        sys.exit(_main())
    finally:
        _dump_modules()
        _spare_the_exit_collections()


def _spare_the_exit_collections() -> None:
    """The command is done (its transactions committed, its output written): what is left is the
    interpreter's exit, whose module teardown runs full garbage collections over every object the
    imports made (SQLAlchemy, pydantic, web3...): about 0.3 s of a 2 s ``case verify --all``.  Frozen,
    they are not walked again; the objects are still released, atexit handlers still run and stdout
    and stderr are still flushed.  Only reference cycles still alive at exit are left to the
    operating system: nothing of this toolkit keeps an unwritten file or an open transaction in one
    (files are written with ``with`` or ``os.open``, units of work end with their ``with``)."""
    import gc

    gc.freeze()


def _prefer_compiled_keccak() -> None:
    """eth-utils' Keccak-256 comes from eth-hash, whose default backend is pycryptodome's: importing it
    loads cffi and parses C declarations with pycparser, about 0.1 s of every EVM command's start.
    eth-hash's pysha3 backend (compiled; a dependency, ``eth-hash[pysha3]``) computes the same hash
    without that; a backend the user chose (``ETH_HASH_BACKEND``) is kept."""
    import importlib.util

    if "ETH_HASH_BACKEND" not in os.environ and importlib.util.find_spec("sha3") is not None:
        os.environ["ETH_HASH_BACKEND"] = "pysha3"


def _main() -> int:
    # pydantic scans every installed distribution for plugins when the first model is built (tens of
    # ms at each start); this toolkit uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _prefer_compiled_keccak()
    fast = _fast_read(sys.argv[1:])
    if fast is not None:
        return fast
    argv = sys.argv[1:]
    if "--help" in argv or not argv or (len(argv) == 1 and argv[0] in {g.name for g in app.registered_groups}):
        _defer_unused_rich_modules()  # help is printed (a group without a command prints its help)
    from typer.exceptions import Abort, TyperException

    try:
        rv = app(standalone_mode=False)
    except Abort:
        sys.stderr.write("aborted\n")
        sys.exit(1)
    except TyperException as exc:  # usage errors: bad option, missing argument, bad value
        if "--json" in sys.argv[1:]:
            sys.stderr.write(json.dumps({"error": {"code": "usage", "message": exc.format_message()}}) + "\n")
        elif callable(getattr(exc, "show", None)):
            exc.show()
        else:
            sys.stderr.write(f"error: {exc.format_message()}\n")
        return getattr(exc, "exit_code", 2)
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    main()
