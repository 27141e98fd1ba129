"""The package's shape, measured from its code: floors, cycles, sizes, typed rows.

Every import counts, also one inside a function or under ``TYPE_CHECKING``.
``python -m tests.test_architecture`` prints the measures.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "exchange"

# Floors, bottom up: a module may import its own floor's siblings and anything below.
FLOORS = {
    "core": 0,
    "logs": 0,
    "runloop": 0,
    "config": 1,
    "store": 2,
    "ops": 3,
    "service": 4,
    "workers": 5,
    "web": 6,
    "node": 7,
    "bench": 8,
    "cli": 9,
    "__main__": 10,
}
# A database job, the store package, SQLite or a transaction, named in a line.
DATABASE_USE = r"\bdb\.run|\.store\b|from \.\.+store|import sqlite3|\btransaction\("
MAX_LINES = 500
STRING_TABLES = ("web/ui/strings.py", "web/ui/locales/")
MAX_ANY_DICTS = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports, wherever the import stands."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    result: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            result.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    result.add(sub)
                elif target in known:
                    result.add(target)
    result.discard(name)
    return result


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def floor(name: str) -> tuple[str, int]:
    top = name.split(".")[1] if name != "exchange" else "__main__"
    return top, FLOORS[top]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Imports between packages (the folder a module sits in)."""

    def package(name: str) -> str:
        path = modules()[name]
        return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]

    result: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            a, b = package(source), package(target)
            if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
                result.setdefault(a, set()).add(b)
    return result


def upward(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} -> {target}"
        for source, targets in sorted(edges.items())
        for target in sorted(targets)
        if floor(target)[1] > floor(source)[1]
    ]


def web_database_calls() -> list[str]:
    """Web modules that import the store or run database jobs themselves."""
    found = []
    for name, path in modules().items():
        if not name.startswith("exchange.web"):
            continue
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(
                r"\bdb\.run|\.store\b|from \.\.+store|import sqlite3|\btransaction\(", line
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    return found


def sql_outside_the_store() -> list[str]:
    """Statements run outside ``store/`` (the bench, a measuring harness, reads its
    figures straight from the database files it made)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("store/", "bench/")):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.execute(many)?\(|\b(SELECT|INSERT|UPDATE|DELETE|PRAGMA) ", line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def long_modules() -> list[str]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(STRING_TABLES):
            continue
        count = len(path.read_text().splitlines())
        if count > MAX_LINES:
            found.append(f"{relative}: {count} lines")
    return found


def any_dicts() -> int:
    return sum(
        len(re.findall(r"dict\[str, Any\]", path.read_text())) for path in PACKAGE.rglob("*.py")
    )


def test_no_import_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages() -> None:
    assert cycles(package_edges(graph())) == []


def test_dependencies_point_down_the_floors() -> None:
    assert upward(graph()) == []


def test_web_modules_never_touch_the_database() -> None:
    assert web_database_calls() == []


def test_sql_stays_in_the_store() -> None:
    assert sql_outside_the_store() == []


def test_no_module_is_too_long_to_read() -> None:
    assert long_modules() == []


def test_rows_are_typed() -> None:
    assert any_dicts() <= MAX_ANY_DICTS


if __name__ == "__main__":
    edges = graph()
    print("module cycles:", cycles(edges))
    print("package cycles:", cycles(package_edges(edges)))
    print("upward imports:", *upward(edges), sep="\n  ")
    print("database calls in web modules:", len(web_database_calls()))
    print(*web_database_calls(), sep="\n  ")
    print("SQL outside store/:", sql_outside_the_store())
    print("modules over", MAX_LINES, "lines:", long_modules())
    print("dict[str, Any]:", any_dicts())
