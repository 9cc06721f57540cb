"""Issue 22, items 1-3 and 5: the operations table is the spine, read by everything, written once.

Pure checks (no node, no database) over the table itself and, with ``ast``, over the source of
``recover/``, ``chains/``, ``fees/`` and ``cli.py``:

- every CLI command that changes state is an operation of the table, and every operation a command;
- the case life's moves are exactly the operations' moves (every edge taken, none without an
  operation), each from a status its operation accepts, and every move in the code names its operation;
- no role tuple, status set or job kind is written outside the table;
- no module imports another's private name;
- one error root, mapped in one place by each surface.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from paths import REPO
from recover.life.operations import (
    ADMINS,
    ANYONE,
    HELD_BY_JOB,
    JOB_FOR,
    OPERATIONS,
    OPERATOR,
    ROLES,
    CaseStatus,
    roles_of_statement,
)
from recover.life.states import REOPENS, TRANSITIONS

S = CaseStatus
TABLE = REPO / "recover" / "life" / "operations.py"


def _sources() -> list[Path]:
    return [p for root in ("recover", "chains", "fees") for p in sorted((REPO / root).rglob("*.py"))] + [REPO / "cli.py"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


# -- the CLI and the table --------------------------------------------------------------------------------
#: commands that change nothing (they read the database, the configuration or a node)
READ_ONLY = {"networks", "networks check", "addresses list", "prices list", "case show", "case list", "queue list",
             "policy show", "operators list", "audit checkpoint-key", "keys hsm list"}
#: commands that change something, but are no operation on the case database's history: the schema
#: (``init``), files on this host (a new trust root, an operator's key pair, a signed checkpoint of the
#: heads), a process that serves or drives operations of the table (``serve``, ``worker``), the demo
#: (its own temporary database)
NOT_OPERATIONS = {"init", "trust init", "operators keygen", "audit checkpoint", "serve", "worker", "demo"}


def _cli_commands() -> set[str]:
    import typer.main

    import cli

    out: set[str] = set()

    def walk(command, prefix: str) -> None:
        subs = getattr(command, "commands", None)
        if subs is None:
            out.add(prefix)
            return
        if prefix and getattr(command, "invoke_without_command", False):
            out.add(prefix)  # ``networks`` lists networks itself
        for name, sub in subs.items():
            walk(sub, f"{prefix} {name}".strip())

    walk(typer.main.get_command(cli.app), "")
    return out


def test_every_state_changing_command_is_an_operation_of_the_table():
    commands = _cli_commands()
    assert READ_ONLY | NOT_OPERATIONS <= commands, (READ_ONLY | NOT_OPERATIONS) - commands
    done_by_operations = {c for op in OPERATIONS.values() for c in op.commands}
    assert done_by_operations <= commands, done_by_operations - commands  # no operation names a command that is not
    assert commands - READ_ONLY - NOT_OPERATIONS == done_by_operations


def test_every_state_changing_api_function_is_one_runner_call():
    """``recover.api``'s write functions go through the runner: none proves an operator or opens a
    unit of work of its own (read functions and key-less helpers aside)."""
    import recover

    reads = {"init", "list_networks", "check_network", "hsm_keys", "list_addresses", "list_prices", "show_case", "list_cases",
             "show_policy", "queue", "operators_list", "preview_reopen", "trust_init", "operators_keygen",
             "audit_checkpoint", "checkpoint_public_key", "run_worker", "verify_case"}
    tree = _tree(REPO / "recover" / "api.py")
    funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    for name in sorted(set(recover.__all__) & set(funcs) - reads):
        calls = {c.func.id for c in ast.walk(funcs[name]) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        assert "run" in calls, f"recover.api.{name} does not go through recover.casework.runner.run"
        assert not calls & {"session_scope", "require_schema", "acting", "accept_history"}, (name, calls)


def test_the_deciding_operations_are_exactly_those_that_rest_on_the_history():
    assert {name for name, op in OPERATIONS.items() if op.decides} == {
        "approve", "reject", "sign", "export", "import-signed", "broadcast", "track", "credits-export", "reopen",
        "close", "close-by-admins", "revoke", "enroll", "addresses-import", "memos-import", "policy-set",
        "audit-verify"}


def test_each_row_is_well_formed():
    for op in OPERATIONS.values():
        assert op.by in (OPERATOR, ADMINS, ANYONE), op.name
        assert set(op.roles) <= set(ROLES), op.name
        assert not op.roles or op.by == OPERATOR, op.name
        assert bool(op.accepts) == bool(op.refusal) == bool(op.why), op.name
        assert op.commands, op.name
        # an operation moves a case only from a status it accepts (never one it would refuse)
        assert {a for a, _ in op.moves} <= op.accepts, op.name
        assert not op.moves or op.accepts, op.name
        assert op.job_in <= op.accepts, op.name  # the worker runs it on cases it accepts


# -- the case life is the operations' moves --------------------------------------------------------------
def _edges(table) -> set[tuple]:
    return {(a, b) for a, targets in table.items() for b in targets}


def test_every_edge_of_the_case_life_is_an_operations_move_and_no_move_lacks_an_edge():
    life = {(a, b) for op in OPERATIONS.values() if not op.reopens for a, b in op.moves}
    assert _edges(TRANSITIONS) == life
    assert _edges(REOPENS) == {(a, b) for op in OPERATIONS.values() if op.reopens for a, b in op.moves}
    # in particular the ways out before signing (issue 22: taken by no code before `case close`)
    for status in (S.OPEN, S.VERIFIED, S.QUOTED, S.AWAITING_APPROVAL, S.APPROVED, S.SIGNED):
        for end in (S.REJECTED, S.UNRECOVERABLE):
            assert (status, end) in OPERATIONS["close-by-admins"].moves


def test_every_move_in_the_code_names_its_operation():
    """``move`` / ``move_many`` refuse a move their operation does not list (``recover.life.states.check_move``);
    every call in the code says which operation it is, by a name in the table."""
    found = 0
    for path in _sources():
        for node in ast.walk(_tree(path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("move", "move_many")):
                continue
            found += 1
            kw = {k.arg: k.value for k in node.keywords}
            op = kw.get("op")
            assert op is not None, f"{_where(path, node)}: a move without its operation"
            if isinstance(op, ast.Constant):
                assert op.value in OPERATIONS, _where(path, node)
            else:  # computed: the name of the decision or the condition's operation
                assert isinstance(op, (ast.Name, ast.Call, ast.IfExp)), _where(path, node)
    assert found >= 15, found


def test_a_move_its_operation_does_not_list_is_refused():
    from recover.errors import IllegalTransition
    from recover.life.states import check_move, check_transition

    check_transition(S.AWAITING_APPROVAL, S.APPROVED)  # a legal move of the case life...
    with pytest.raises(IllegalTransition) as info:
        check_move("quote", S.AWAITING_APPROVAL, S.APPROVED)  # ...but not quote's
    assert info.value.exit_code == 5
    check_move("approve", S.AWAITING_APPROVAL, S.APPROVED)


def test_jobs_come_from_the_table():
    from recover.storage.jobs import HELD, KIND_FOR

    assert KIND_FOR == {"open": "verify", "signed": "broadcast", "broadcast": "track"}
    assert HELD == {"signed": "broadcast", "broadcast": "track"}
    assert set(JOB_FOR.values()) <= set(OPERATIONS) and HELD_BY_JOB <= set(JOB_FOR)
    from recover.services.worker import _Jobs

    assert all(callable(getattr(_Jobs, kind, None)) for kind in JOB_FOR.values())  # a worker step per job


def test_statement_signers_need_the_roles_of_the_operations_that_sign_them():
    from recover.authority.acting import ROLES_OF

    assert ROLES_OF["decision"] == ("approver", "senior") == OPERATIONS["approve"].roles
    assert ROLES_OF["condition"] == ("reviewer", "specialist")
    assert roles_of_statement("policy") is None  # admin statements: the quorum, no role


# -- written nowhere else --------------------------------------------------------------------------------
STATUS_VALUES = {s.value for s in CaseStatus}
JOB_KINDS = set(JOB_FOR.values())


def _status_of(node) -> bool:
    """A status written out: ``"signed"`` or ``CaseStatus.SIGNED`` / ``S.SIGNED``."""
    if isinstance(node, ast.Constant):
        return node.value in STATUS_VALUES
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in ("CaseStatus", "S") and node.attr.lower() in STATUS_VALUES)


def _collections(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts:
            yield node, node.elts


def _offenders(check) -> list[str]:
    out = []
    for path in _sources():
        if path == TABLE:
            continue
        out += [_where(path, node) for node in check(_tree(path))]
    return out


def test_no_role_tuple_outside_the_table():
    def roles(tree):
        for node, elts in _collections(tree):
            if all(isinstance(e, ast.Constant) and e.value in ROLES for e in elts):
                yield node
        for node in ast.walk(tree):  # "reviewer" in signed.roles
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and node.left.value in ROLES \
                    and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                yield node

    assert _offenders(roles) == []


def test_no_status_set_outside_the_table():
    """A set of statuses (which an operation accepts, or any other group) is named in the table and read
    from it; code names single statuses only."""
    def statuses(tree):
        for node, elts in _collections(tree):
            if all(_status_of(e) for e in elts) and not isinstance(node.ctx if hasattr(node, "ctx") else None,
                                                                    ast.Store):
                yield node

    assert _offenders(statuses) == []


def test_no_job_kind_outside_the_table():
    """Job kinds are operation names the table gives statuses: no ``kind == "verify"``, no job created
    with a literal kind, no status -> kind mapping written out."""
    def kinds(tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides) and \
                        any(isinstance(s, ast.Constant) and s.value in JOB_KINDS for s in sides):
                    yield node
            if isinstance(node, ast.Call) and any(k.arg == "kind" and isinstance(k.value, ast.Constant)
                                                  and k.value.value in JOB_KINDS for k in node.keywords):
                yield node
            if isinstance(node, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value in STATUS_VALUES and isinstance(v, ast.Constant)
                    and v.value in JOB_KINDS for k, v in zip(node.keys, node.values)):
                yield node

    assert _offenders(kinds) == []


# -- no private name across modules ----------------------------------------------------------------------
OURS = ("recover", "chains", "fees", "cli")


def _ours(module: str) -> bool:
    return module.split(".")[0] in OURS


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def test_no_module_imports_another_modules_private_name():
    offenders = []
    for path in _sources():
        tree = _tree(path)
        here = _module(path)
        modules: dict[str, str] = {}  # a name bound to one of our modules -> that module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = here.split(".")[: len(here.split(".")) - node.level + (path.name == "__init__.py")]
                    base = ".".join([*package, base] if base else package)
                for alias in node.names:
                    if _ours(base) and _private(alias.name) and base != here:
                        offenders.append(f"{_where(path, node)}: from {base} import {alias.name}")
                    if _ours(base) and _is_module(f"{base}.{alias.name}"):
                        modules[alias.asname or alias.name] = f"{base}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _ours(alias.name):
                        modules[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or \
                            alias.name.split(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                    and node.value.id in modules and modules[node.value.id] != here:
                offenders.append(f"{_where(path, node)}: {node.value.id}.{node.attr}")
    assert offenders == []


# -- one error root --------------------------------------------------------------------------------------
#: exception classes that are signals inside one layer, never errors of an operation: a node's raw
#: JSON-RPC answer and a transport retry (classified into a ``ChainError`` before they leave
#: ``chains.transport``), the in-process devchain's answer, the web's "sign this statement first" (the
#: two-step passkey decision) and its HTTP-only sign-in and CSRF refusals (401/403 before any operation).
SIGNALS = {"chains.transport.RpcError", "chains.transport._Transient", "chains.evm.devchain._Answer",
           "recover.authority.passkeys.NeedsAssertion", "recover.web.guards.NotSignedIn", "recover.web.guards.CsrfRefused"}


def _exception_classes():
    for path in _sources():
        module = _module(path)
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                obj = getattr(importlib.import_module(module), node.name, None)
                if isinstance(obj, type) and issubclass(obj, BaseException):
                    yield f"{module}.{node.name}", obj


def test_every_error_class_derives_from_the_one_root():
    from chains.errors import ToolkitError

    classes = dict(_exception_classes())
    assert len(classes) > 40, len(classes)
    strays = sorted(name for name, cls in classes.items() if not issubclass(cls, ToolkitError) and name not in SIGNALS)
    assert strays == []
    assert set(SIGNALS) <= set(classes)  # the list names real classes
    from chains.errors import ChainError
    from fees import FeeError
    from recover.errors import RecoverError

    assert all(issubclass(c, ToolkitError) for c in (FeeError, ChainError, RecoverError))


def test_the_root_is_at_the_bottom_of_the_stack():
    """chains and fees import nothing of recover; the root's module imports nothing at all."""
    for path in _sources():
        if _module(path).split(".")[0] not in ("chains", "fees"):
            continue
        for node in ast.walk(_tree(path)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n.split(".")[0] in ("recover", "cli") for n in names), _where(path, node)
    errors = _tree(REPO / "chains" / "errors.py")
    assert [n for n in ast.walk(errors) if isinstance(n, (ast.Import, ast.ImportFrom)) and
            (n.module if isinstance(n, ast.ImportFrom) else "") != "__future__"] == []


def _functions_mentioning(path: Path, name: str) -> set[str]:
    """The innermost functions whose own body names ``name``."""
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)

    def own(node):
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, funcs):
                yield child
                yield from own(child)

    return {f.name for f in ast.walk(_tree(path)) if isinstance(f, funcs)
            and any(isinstance(n, ast.Name) and n.id == name for n in own(f))}


def test_each_surface_maps_the_root_in_one_place():
    # no duck typing of exit_code anywhere: an error is a ToolkitError or unexpected (``cli.main`` reads
    # click's own usage exceptions, which are not ours)
    for path in _sources():
        tree = _tree(path)
        clicks = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in ("main", "_main")
                  and path.name == "cli.py" for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) not in clicks and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value in ("exit_code", "commit"):
                raise AssertionError(f"{_where(path, node)}: duck-typed error attribute {node.args[1].value!r}")
    # the CLI: ``_fail`` (which ``command`` calls for every error)
    assert _functions_mentioning(REPO / "cli.py", "as_toolkit_error") == {"_fail"}
    assert "_fail" in {n.id for f in ast.walk(_tree(REPO / "cli.py")) if isinstance(f, ast.FunctionDef)
                       and f.name == "wrapper" for n in ast.walk(f) if isinstance(n, ast.Name)}
    # the worker: one ``except ToolkitError`` handing it to ``_classify``
    worker = REPO / "recover" / "services" / "worker.py"
    handlers = [h for h in ast.walk(_tree(worker)) if isinstance(h, ast.ExceptHandler)
                and isinstance(h.type, ast.Name) and h.type.id == "ToolkitError"]
    assert len(handlers) == 1
    assert any(isinstance(n, ast.Name) and n.id == "_classify" for n in ast.walk(handlers[0]))
    assert _functions_mentioning(worker, "EXIT_WAITING") == {"_classify"}
    # the web app: one exception handler for the root, the only user of the HTTP table
    app = REPO / "recover" / "web" / "app.py"
    assert _functions_mentioning(app, "HTTP_OF_EXIT") == {"_toolkit_error"}
    registered = [d for d in ast.walk(_tree(app)) if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                  and d.func.attr == "exception_handler" and d.args and isinstance(d.args[0], ast.Name)
                  and d.args[0].id == "ToolkitError"]
    assert len(registered) == 1
