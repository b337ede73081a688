"""The package's import graph has no cycles, counting imports inside functions and under TYPE_CHECKING.

Same rule as ../shared/tools/import_cycles.py (run too when that tool is present beside the checkout).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "gaussflow"


def _graph() -> dict[str, set[str]]:
    mods: dict[str, Path] = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    g: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        is_pkg = p.name == "__init__.py"
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base_parts = m.split(".") if is_pkg else m.split(".")[:-1]
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                if node.level == 0:
                    base = node.module or ""
                else:
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    g[m].add(t)
    return g


def _cycles(g: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Kosaraju, iterative)."""
    order: list[str] = []
    seen: set[str] = set()
    for s in g:
        if s in seen:
            continue
        stack = [(s, iter(sorted(g[s])))]
        seen.add(s)
        while stack:
            v, it = stack[-1]
            w = next(it, None)
            if w is None:
                order.append(v)
                stack.pop()
            elif w not in seen:
                seen.add(w)
                stack.append((w, iter(sorted(g[w]))))
    rev: dict[str, set[str]] = {v: set() for v in g}
    for v, ws in g.items():
        for w in ws:
            rev[w].add(v)
    comp: dict[str, int] = {}
    out: list[set[str]] = []
    for s in reversed(order):
        if s in comp:
            continue
        members, todo = set(), [s]
        comp[s] = len(out)
        while todo:
            v = todo.pop()
            members.add(v)
            for w in rev[v]:
                if w not in comp:
                    comp[w] = len(out)
                    todo.append(w)
        out.append(members)
    return [c for c in out if len(c) > 1]


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycles() -> None:
    g = _graph()
    assert "gaussflow.symbols" in g and g["gaussflow.symbols"] == set(), "symbols.py must stay a leaf"
    assert _cycles(g) == []


def test_shared_tool_agrees() -> None:
    tool = ROOT.parent / "shared" / "tools" / "import_cycles.py"
    if not tool.exists():  # the tool lives beside the checkout, not in it
        pytest.skip(f"{tool} is not present")
    r = subprocess.run([sys.executable, str(tool), "gaussflow"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
