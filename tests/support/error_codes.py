"""Every error code the source can raise, with its exit code and where (shared by
tests/architecture/test_error_codes.py, which checks one exit code per code, and
tests/cli/test_docs_cover_cli.py, which checks that docs/cli.md names each code).

It reads the source of ``recover``, ``chains``, ``fees`` and ``cli.py`` and collects every place an
error is raised with a literal code (``SomeError(..., code="x")``, the signer's ``_refuse(cid, "x",
...)``, solders' ``guard(..., code="x", exc_type=...)``, a verification ``refuse("x", ...)`` or
``retry("x", ...)``), every error class's default code and the operations table of
``recover.life.operations``, and resolves each raising class to its exit code.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

from paths import REPO

SOURCES = ("recover", "chains", "fees")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str) -> dict[str, tuple[str, str]]:
    """Every ``from M import N [as A]`` of a file (top level or inside functions): A -> (M, N)."""
    out = {}
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level] if module.endswith("__init__") else base[: len(base) - node.level]
                mod = ".".join([*base, mod]) if mod else ".".join(base)
            for alias in node.names:
                out[alias.asname or alias.name] = (mod or package, alias.name)
    return out


def _exit_of(module: str, imports: dict, name: str) -> int | None:
    target = imports.get(name, (module, name))
    try:
        obj = getattr(importlib.import_module(target[0]), target[1])
    except (ImportError, AttributeError):
        return None
    if isinstance(obj, type) and issubclass(obj, BaseException) and isinstance(getattr(obj, "exit_code", None), int):
        return obj.exit_code
    return None


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def codes_and_exits() -> dict[str, set[tuple[int, str]]]:
    """code -> {(exit code, where)} over every literal raise site and class default."""
    from chains.errors import PermanentChainError

    found: dict[str, set[tuple[int, str]]] = defaultdict(set)
    files = [p for root in SOURCES for p in sorted((REPO / root).rglob("*.py"))] + [REPO / "cli.py"]
    for path in files:
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        imports = _imports(tree, module)
        where = lambda n: f"{path.relative_to(REPO)}:{n.lineno}"  # noqa: E731
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):  # a class's own default code
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                            and stmt.targets[0].id == "code" and _literal(stmt.value)):
                        exit_code = _exit_of(module, imports, node.name)
                        if exit_code is not None:
                            found[stmt.value.value].add((exit_code, where(stmt)))
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            kw = {k.arg: k.value for k in node.keywords}
            code = _literal(kw.get("code"))
            if name == "_refuse" and len(node.args) > 1 and _literal(node.args[1]):  # recover.casework.signer_check
                found[node.args[1].value].add((7, where(node)))
            elif name in ("refuse", "retry") and node.args and _literal(node.args[0]) and module.startswith("recover"):
                # verification decisions: a refusal exits 6; a retry 9 (waiting) for these codes
                from recover.casework.verification import WAITING_CODES

                code = node.args[0].value
                if name == "refuse" or code in WAITING_CODES:
                    found[code].add((6 if name == "refuse" else 9, where(node)))
            elif name == "guard" and code:  # chains.solana.common.guard: PermanentChainError unless exc_type
                exc = kw.get("exc_type")
                exit_code = _exit_of(module, imports, exc.id) if isinstance(exc, ast.Name) else PermanentChainError.exit_code
                found[code].add((exit_code, where(node)))
            elif code and name:
                exit_code = _exit_of(module, imports, name)
                if exit_code is not None:
                    found[code].add((exit_code, where(node)))
    from recover.life.operations import OPERATIONS

    for operation in OPERATIONS.values():  # the refusal of a status an operation does not accept
        if operation.accepts:
            found[operation.refusal].add((5, f"recover/life/operations.py OPERATIONS[{operation.name!r}]"))
    return found
