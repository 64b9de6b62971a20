"""The code's shape: no module in src/ over 400 lines, no function over 60 lines.

Long files are split along their seams and long functions into named steps. Code that must stay
long for a while is listed in the allow-lists below, each with why, to be trimmed as it is split
(both are empty now); an entry whose code is gone or short again fails the staleness test.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "radprep"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60

# Files allowed over MAX_FILE_LINES (path relative to src/radprep).
FILE_ALLOW: dict[str, str] = {}

# Functions allowed over MAX_FUNCTION_LINES ("path::qualified name").
FUNCTION_ALLOW: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _functions(tree: ast.AST, prefix: str = ""):
    """Yield (qualified name, node) for every function, methods and nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + node.name
            yield name, node
            yield from _functions(node, name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_walk_finds_the_code() -> None:
    """The check looks at the real tree: many modules, and functions in them."""
    mods = _modules()
    assert len(mods) > 100
    tree = ast.parse((SRC / "cli" / "_common.py").read_text(encoding="utf-8"))
    assert "where_from" in {name for name, _ in _functions(tree)}


def test_no_long_files() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := _lines(p)) > MAX_FILE_LINES and str(p.relative_to(SRC)) not in FILE_ALLOW
    }
    assert not long, f"modules over {MAX_FILE_LINES} lines (split along a seam): {long}"


def test_no_long_functions() -> None:
    long = {}
    for p in _modules():
        rel = str(p.relative_to(SRC))
        for name, node in _functions(ast.parse(p.read_text(encoding="utf-8"))):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and f"{rel}::{name}" not in FUNCTION_ALLOW:
                long[f"{rel}::{name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _stale(key: str) -> str | None:
    """Why an allow-list entry is dead (its code is gone or now short), or None if it is not."""
    rel, _, name = key.partition("::")
    path = SRC / rel
    if not path.exists():
        return f"{key}: no such module"
    if not name:
        if _lines(path) <= MAX_FILE_LINES:
            return f"{key} is short now: drop it from FILE_ALLOW"
        return None
    found = dict(_functions(ast.parse(path.read_text(encoding="utf-8"))))
    if name not in found:
        return f"{key}: no such function"
    node = found[name]
    if node.end_lineno - node.lineno + 1 <= MAX_FUNCTION_LINES:
        return f"{key} is short now: drop it from FUNCTION_ALLOW"
    return None


def test_allow_list_entries_still_exist() -> None:
    """An allow-list entry for code that is gone or now short is dead: remove it."""
    dead = [why for key in [*FILE_ALLOW, *FUNCTION_ALLOW] if (why := _stale(key))]
    assert not dead, dead


def test_the_staleness_check_finds_dead_entries() -> None:
    """The check itself: gone modules and functions, and short ones, are all reported."""
    assert "no such module" in str(_stale("no/such_module.py"))
    assert "no such function" in str(_stale("cli/_common.py::no_such_function"))
    assert "short now" in str(_stale("cli/_common.py"))
    assert "short now" in str(_stale("cli/_common.py::where_from"))
