"""Builds the C measuring tools in ``bench/`` (``openloop``, ``fixed_server``,
``cpu_stalls``) into ``build/`` with the machine's ``cc``, when a binary is missing or
older than its source. They are tools for measuring, not part of quorumdb, so nothing of
the package depends on a compiler."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"


def build(name: str) -> Path:
    """The path of ``build/<name>``, compiled from ``bench/<name>.c`` if it or a header
    in ``bench/`` is newer."""
    source = ROOT / "bench" / f"{name}.c"
    binary = BUILD / name
    newest = max(path.stat().st_mtime for path in (source, *source.parent.glob("*.h")))
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit(f"{name}: no C compiler (cc) on PATH")
    BUILD.mkdir(exist_ok=True)
    partial = BUILD / f"{name}.{os.getpid()}"
    subprocess.run([compiler, "-O2", "-Wall", "-o", str(partial), str(source)], check=True)
    partial.replace(binary)
    return binary


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to one CPU (None: no pinning)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})
