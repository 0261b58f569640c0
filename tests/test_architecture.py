"""The package's shape, as rules a newcomer can rely on (issue 12):

- the panel client knows nothing of Telegram, the store nothing of HTTP or Telegram,
  the domain nothing of Telegram's handlers;
- production modules never import the playground (fake Telegram, sandbox panel, demo);
  only the command line reaches it, late, for the `demo` and `sandbox` commands;
- `python -m bot watcher` does not load the Telegram handlers;
- no import circles among the package's modules (imports under TYPE_CHECKING and inside
  functions count: a circle read by a person is a circle);
- an import inside a function says why on its line or the line before it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BOT.rglob("*.py")) if "migrations" not in p.parts}


MODULES = all_modules()


def resolve(importer: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """The bot modules an import statement loads (`from a import b` loads a.b when b is a module)."""
    found: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("bot"):
                found.append(alias.name)
        return [m for m in found if m in MODULES]
    if node.level:
        package = importer if is_package else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if not base.startswith("bot"):
        return []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in MODULES:
            found.append(sub)
        elif base in MODULES:
            found.append(base)
    return sorted(set(found))


def imports_of(name: str) -> list[tuple[str, ast.stmt, bool]]:
    """(imported module, statement, inside a function) for every import in `name`."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, ast.stmt, bool]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in resolve(name, child, path.name == "__init__.py"):
                    out.append((target, child, in_function))
            walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    walk(tree, False)
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _stmt, _late in imports_of(name):
            if target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert cycles(graph()) == []


def layer_imports(prefix: str) -> set[tuple[str, str]]:
    return {(name, target) for name in MODULES if name == prefix or name.startswith(prefix + ".")
            for target, _s, _l in imports_of(name)}


@pytest.mark.parametrize("layer, forbidden", [
    ("bot.panel", ("bot.handlers", "bot.store", "bot.domain", "bot.app")),
    ("bot.store", ("bot.handlers", "bot.panel", "bot.domain", "bot.app")),
    ("bot.domain", ("bot.handlers", "bot.app")),
])
def test_layers_know_only_what_is_below_them(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted((name, target) for name, target in layer_imports(layer)
                   if target.startswith(forbidden))
    assert wrong == []


@pytest.mark.parametrize("layer", ["bot.panel", "bot.store"])
def test_panel_client_and_store_know_nothing_of_telegram(layer: str) -> None:
    for name, path in MODULES.items():
        if name.startswith(layer):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert not node.module.startswith("telegram"), name
                if isinstance(node, ast.Import):
                    assert not any(a.name.startswith("telegram") for a in node.names), name


def test_production_modules_never_import_the_playground() -> None:
    wrong = []
    for name in MODULES:
        if name.startswith("bot.playground"):
            continue
        for target, _stmt, late in imports_of(name):
            if target.startswith("bot.playground") and not (name == "bot.cli" and late):
                wrong.append((name, target))
    assert wrong == []


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for _target, stmt, late in imports_of(name):
            if not late:
                continue
            here = lines[stmt.lineno - 1]
            before = lines[stmt.lineno - 2].strip() if stmt.lineno >= 2 else ""
            if "#" not in here and not before.startswith("#"):
                unexplained.append(f"{name}:{stmt.lineno}")
    assert sorted(set(unexplained)) == []


def test_the_watcher_process_does_not_load_the_telegram_handlers() -> None:
    probe = (
        "import sys, bot.worker\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('bot.handlers', 'bot.playground')))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=BOT.parent)
    assert out.stdout.strip() == ""
