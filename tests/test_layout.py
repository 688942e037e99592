"""The package's shape is a rule, not a habit: imports point one way, nothing
is too big to read, and every module says what it owns.

The layers, from the top: ``cli`` → ``daemon`` → (``seeds``, ``remote``,
``publish``) → ``store`` → the shared core (the top-level modules).  An import
may skip layers downward but never reach up, the three middle packages never
import one another (the two ingest paths share the dedup decision through
the core), and no module imports itself back through a cycle.  The imports
are read with ``ast`` (every ``import``, also those inside functions and
``TYPE_CHECKING`` blocks), so a lazy import cannot hide an upward edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import feedsvc

PACKAGE = Path(__file__).resolve().parent.parent / "feedsvc"

#: rank of each layer; an import must go to the same or a lower rank
LAYERS = {"cli": 4, "daemon": 3, "seeds": 2, "remote": 2, "publish": 2, "store": 1, "core": 0}
#: the package's own front door: ``feedsvc/__init__.py`` names the library API
#: and ``__main__`` runs the command, so both may import anything
FRONT = {"feedsvc", "feedsvc.__main__"}
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def module_name(path: Path) -> str:
    parts = ["feedsvc", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "core"


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """The imports inside ``if TYPE_CHECKING:`` blocks."""
    return {inner for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for stmt in node.body for inner in ast.walk(stmt)}


def imports(module: str, *, runtime: bool = False) -> Iterator[str]:
    """Every feedsvc module ``module`` imports, resolved to a module name;
    with ``runtime``, only those that run (not the ones for type checking)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only(tree) if runtime else set()
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            # ``from pkg import name`` imports the submodule when ``name`` is one;
            # a name of the library API comes from the module that defines it
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES
                       else feedsvc._API.get(a.name, origin) if origin == "feedsvc"
                       else origin for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("feedsvc") and target != module:
                yield target


GRAPH = {m: sorted(set(imports(m))) for m in MODULES}
RUNTIME = {m: sorted(set(imports(m, runtime=True))) for m in MODULES}


def test_the_layers_are_what_the_package_contains() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS) - {"core"}


@pytest.mark.parametrize("module", sorted(set(MODULES) - FRONT))
def test_imports_point_down(module: str) -> None:
    mine = layer(module)
    wrong = []
    for target in GRAPH[module]:
        theirs = layer(target)
        if LAYERS[theirs] > LAYERS[mine] or (LAYERS[theirs] == LAYERS[mine] and theirs != mine):
            wrong.append(f"{target} ({theirs} is not below {mine})")
    assert not wrong, f"{module} imports upward or sideways: {wrong}"


def test_there_is_no_import_cycle() -> None:
    """Among the imports that run: one made for type checking only (a type
    named in an annotation) cannot fail at import time."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycle = [*path[path.index(module):], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for target in RUNTIME[module]:
            # a package's __init__ importing its own modules is how a facade works
            if target not in FRONT and not module.startswith(target + "."):
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(set(MODULES) - FRONT):
        visit(module)


def test_the_ingest_paths_share_dedup_through_the_core() -> None:
    for path, other in (("seeds", "remote"), ("remote", "seeds")):
        users = {m for m in MODULES if layer(m) == path
                 and any(t in ("feedsvc.deduper", "feedsvc.dedup") for t in GRAPH[m])}
        assert users, f"{path} decides duplicates without the shared core"
        assert not [m for m in MODULES if layer(m) == path
                    and any(layer(t) == other for t in GRAPH[m])]


def test_only_the_store_writes_sql() -> None:
    sql = ("execute(", "executemany(", "executescript(", "sqlite3.connect(")
    outside = [m for m, p in MODULES.items() if layer(m) != "store"
               and any(word in p.read_text(encoding="utf-8") for word in sql)]
    assert outside == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_small_and_say_what_they_own(module: str) -> None:
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    doc = ast.get_docstring(tree)
    assert doc and len(doc.split()) >= 8, f"{module} does not say what it owns"
    big = [(node.name, (node.end_lineno or 0) - node.lineno + 1) for node in ast.walk(tree)
           if isinstance(node, ast.ClassDef)
           and (node.end_lineno or 0) - node.lineno + 1 > MAX_CLASS_LINES]
    assert big == []
