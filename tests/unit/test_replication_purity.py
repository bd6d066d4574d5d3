"""The replication core is sans-I/O (DESIGN.md "Pure cores, thin drivers"; STYLE.md habit
1): no module of ``quorumdb.replication`` (the Promela model under ``spec/`` aside) may
import a clock, a socket, the OS, threads, asyncio or the global random module."""

from __future__ import annotations

import ast
from pathlib import Path

import quorumdb.replication

FORBIDDEN = {"time", "asyncio", "socket", "os", "threading", "random", "datetime",
             "subprocess", "selectors", "multiprocessing", "pathlib", "io", "signal"}
PACKAGE = Path(quorumdb.replication.__file__).parent


def core_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "spec" not in p.relative_to(PACKAGE).parts)


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            roots.add("__import__")
    return roots


def test_core_modules_found() -> None:
    names = {p.stem for p in core_modules()}
    assert {"node", "election", "replicate", "lease", "membership", "snapshot"} <= names


def test_no_io_clock_or_global_random_imports() -> None:
    for path in core_modules():
        bad = imported_roots(path) & (FORBIDDEN | {"__import__"})
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_only_stdlib_typing_and_msgspec_outside_the_package() -> None:
    allowed = {"__future__", "collections", "dataclasses", "enum", "typing", "msgspec",
               "quorumdb"}
    for path in core_modules():
        extra = imported_roots(path) - allowed
        assert not extra, f"{path.name} imports {sorted(extra)}"
