"""The package layout is the architecture (issue 22, item 6), checked from the source alone.

- No module imports another in a loop, counting imports inside functions too (a function-local
  import can hide a cycle; here it may only keep start-up fast).
- ``recover``'s packages stand in layers: each imports only the layers below it, so the picture of
  docs/architecture.md is the code's.
- A module that imports inside functions says why, once, in a ``# Imports inside functions:`` comment.
- ``recover/`` itself holds only the faces (the API, the errors, wording helpers): everything else
  lives in the package of its concept.
"""

from __future__ import annotations

import ast
from pathlib import Path

from paths import REPO

#: bottom to top: a package may import its own layer and the layers below it, never one above.
LAYERS = ["recover.errors", "recover.text", "recover.life", "recover.storage", "recover.authority",
          "recover.networks", "recover.queries", "recover.casework", "recover.api", "recover.services",
          "recover.web", "recover"]
FACES = {"__init__.py", "api.py", "errors.py", "text.py"}
SAYS_WHY = "# Imports inside functions:"


def _sources() -> list[Path]:
    files = [*REPO.glob("recover/**/*.py"), *REPO.glob("chains/**/*.py"), *REPO.glob("fees/**/*.py"), REPO / "cli.py"]
    return sorted(p for p in files if "migrations" not in p.relative_to(REPO).parts)


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in _sources()}


def _imports(path: Path):
    """``(imported module, inside a function?, line)`` for each import of one of our modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module(path)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        scope = parents.get(node)
        while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = parents.get(scope)
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: from the package this module is in (or is, for an __init__)
                package = here if path.name == "__init__.py" else here.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != here:
                yield target, scope is not None, node.lineno


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _edges() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in _imports(p)} for m, p in MODULES.items()}


def test_no_module_imports_another_in_a_loop():
    assert _cycles(_edges()) == []


def test_the_cycle_check_finds_a_loop():
    """The check above can fail: a loop hidden in function-local imports is found."""
    edges = _edges()
    edges["recover.storage.db"] = edges["recover.storage.db"] | {"recover.casework.runner"}
    assert any("recover.storage.db" in c and "recover.casework.runner" in c for c in _cycles(edges))


def _layer(module: str) -> str | None:
    return max((name for name in LAYERS if module == name or module.startswith(name + ".")), key=len, default=None)


def test_each_package_imports_only_the_layers_below_it():
    offenders = []
    for module, path in MODULES.items():
        mine = _layer(module)
        if mine is None:  # chains, fees, the CLI: below (chains, fees) or above (cli) every layer
            if module.startswith(("chains", "fees")):
                offenders += [f"{module} -> {t}" for t, _, _ in _imports(path) if t.startswith("recover")]
            continue
        for target, _, line in _imports(path):
            theirs = _layer(target)
            if theirs is not None and LAYERS.index(theirs) > LAYERS.index(mine):
                offenders.append(f"{path.relative_to(REPO)}:{line}: {mine} imports {target} (a layer above it)")
    assert offenders == []


def test_every_module_of_recover_lives_in_its_concept():
    loose = sorted(p.name for p in (REPO / "recover").glob("*.py")) 
    assert set(loose) == FACES, set(loose) ^ FACES
    packages = {p.name for p in (REPO / "recover").iterdir() if (p / "__init__.py").exists()}
    assert {f"recover.{p}" for p in packages} == set(LAYERS) - {"recover", "recover.errors", "recover.text",
                                                                   "recover.api"}


def test_a_module_that_imports_inside_functions_says_why():
    unexplained, stale = [], []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        lazy = False
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                scope = parents.get(node)
                while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    scope = parents.get(scope)
                lazy = lazy or scope is not None
        says = any(line.startswith(SAYS_WHY) for line in text.splitlines())
        if lazy and not says:
            unexplained.append(module)
        if says and not lazy:
            stale.append(module)
    assert unexplained == [] and stale == [], (unexplained, stale)
