"""The app's modules import one way: no cycle between them (and, run as a script, each imports alone)."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _app_imports(path: Path, name: str) -> set[str]:
    """The app modules `path` imports (at the top or inside a function)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("app")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("app"):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    return out


def test_no_import_cycle_between_app_modules():
    modules = {_module(p): p for p in APP.rglob("*.py")}
    graph = {name: {m for m in _app_imports(path, name) if m in modules and m != name}
             for name, path in modules.items()}
    # a package's own __init__ is imported by its submodules by Python itself: not an edge here
    done, path = set(), []

    def visit(name: str) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        path.append(name)
        for dep in sorted(graph[name]):
            visit(dep)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def each_app_module_imports_alone() -> list[tuple[str, int, str]]:
    """Import every app module alone in a fresh interpreter; the ones that fail. About a minute
    on 2 cores (each loads torch and dash), so not part of the suite: run this file to check.

        python tests/app/test_imports.py
    """
    modules = sorted(_module(p) for p in APP.rglob("*.py"))

    def alone(name: str) -> tuple[str, int, str]:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
        return name, done.returncode, done.stderr[-600:]

    with ThreadPoolExecutor(2) as pool:
        return [r for r in pool.map(alone, modules) if r[1] != 0]


if __name__ == "__main__":
    failed = each_app_module_imports_alone()
    print("every app module imports alone" if not failed else failed)
    sys.exit(1 if failed else 0)
