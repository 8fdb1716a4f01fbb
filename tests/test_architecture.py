"""The architecture holds: no import circle, no private name used across modules, and the
packages depend on each other one way only (docs/architecture.md).

Read from the source with `ast`, so a violation names the file and the line. Imports inside
functions count (a lazy import is still a dependency); imports under ``if TYPE_CHECKING:``
do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: distribution folder -> the top-level packages it may import (besides its own).
ALLOWED = {
    "simshop_core": set(),
    "simshop_lab": {"simshop_core"},
    "simshop_users": {"simshop_core"},
    "simshop_recommenders": {"simshop_core"},
    "simshop_cli": {"simshop_core", "simshop_lab", "simshop_ui"},  # `simshop ui` starts the app
    "simshop_ui": {"simshop_core", "simshop_lab"},
}
OURS = set(ALLOWED)


def _modules() -> dict[str, Path]:
    """Every module of the workspace's packages: dotted name -> file."""
    found = {}
    for dist in ALLOWED:
        src = ROOT / dist / "src"
        for path in sorted(src.rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[ast.stmt, str, list[str]]]:
    """(statement, imported module, names imported from it) for every import that runs."""
    found: list[tuple[ast.stmt, str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((child, alias.name, []))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    package = package[: len(package) - child.level + 1]
                    base = ".".join([*package, base] if base else package)
                found.append((child, base, [a.name for a in child.names]))
            visit(child)

    visit(tree)
    return found


def _parsed() -> dict[str, tuple[Path, list[tuple[ast.stmt, str, list[str]]], ast.AST]]:
    parsed = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        parsed[module] = (path, _imports(tree, module, path.name == "__init__.py"), tree)
    return parsed


PARSED = _parsed()


def _target(base: str, name: str) -> str | None:
    """The workspace module that ``from base import name`` loads (a submodule, else base)."""
    if f"{base}.{name}" in MODULES:
        return f"{base}.{name}"
    return base if base in MODULES else None


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def test_the_workspace_is_found() -> None:
    assert "simshop_core.env" in MODULES
    assert len(MODULES) > 50


def test_packages_depend_one_way() -> None:
    wrong = []
    for module, (path, imports, _) in PARSED.items():
        top = module.split(".")[0]
        for node, base, _names in imports:
            other = base.split(".")[0]
            if other in OURS and other != top and other not in ALLOWED[top]:
                wrong.append(f"{_where(path, node)} imports {base}")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_crosses_a_module() -> None:
    """``from m import _x`` from another module, or ``m._x`` on an imported module."""
    wrong = []
    for module, (path, imports, tree) in PARSED.items():
        aliases = {}
        for node, base, names in imports:
            for name in names:
                target = _target(base, name)
                if target is None or target == module:
                    continue
                if target == f"{base}.{name}":
                    aliases[name] = target
                elif name.startswith("_") and not name.startswith("__"):
                    wrong.append(f"{_where(path, node)} imports {name} from {base}")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != module
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                wrong.append(f"{_where(path, node)} uses {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)


#: Private-looking names that are public API (named tuples').
NAMED_TUPLE_API = {"_replace", "_asdict", "_fields", "_make"}
#: Another library's private names we use, and why.
THEIRS = {
    # stable-baselines3's own `load` builds a model with _init_setup_model=False, then this.
    "_setup_model",
}


def _own_private_names(tree: ast.AST) -> set[str]:
    """The private names a module defines itself: its functions, classes, assignments and
    ``self._x`` attributes (so a class may read ``other._x`` of its own instances)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if n.startswith("_")}


def test_no_module_reads_another_objects_private_state() -> None:
    """``obj._x`` where this module does not define ``_x``: another module's private state."""
    wrong = []
    for path, _imports, tree in PARSED.values():
        own = _own_private_names(tree) | NAMED_TUPLE_API | THEIRS
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in own
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                wrong.append(f"{_where(path, node)} reads .{node.attr}")
    assert not wrong, "\n".join(wrong)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, (_path, imports, _) in PARSED.items():
        for _node, base, names in imports:
            targets = {_target(base, name) for name in names} if names else {_target(base, "")}
            # Importing a.b.c runs a and a.b first; those edges are the package's, not ours.
            graph[module] |= {t for t in targets if t and t != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _is_package_init_edge(a: str, b: str) -> bool:
    """A package's ``__init__`` re-exporting its submodules (a → a.b, or a.b → a as the
    package it lives in) is how Python packages work, not a circle between concepts."""
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_circle() -> None:
    graph = {
        a: {b for b in targets if not _is_package_init_edge(a, b)}
        for a, targets in _graph().items()
    }
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


@pytest.mark.parametrize(
    ("graph", "circle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ],
)
def test_the_circle_finder_finds_circles(graph: dict[str, set[str]], circle: bool) -> None:
    assert (_cycle(graph) is not None) == circle
