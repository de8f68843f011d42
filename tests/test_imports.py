"""The import graph has no circle: statically (every import, lazy ones too) and in practice (each module
imported alone in a fresh interpreter), and the config package imports no training code."""
from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent.parent / "lib"
PKG = LIB / "embcompat"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(LIB).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str, path: Path) -> set[str]:
    """embcompat modules that ``name`` imports anywhere: at module level or lazily in a function
    (a lazy import closes a circle as surely as an eager one, only later)."""
    tree = ast.parse(path.read_text(), str(path))
    base = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                up = base.split(".")[: len(base.split(".")) - node.level + 1]
                mod = ".".join(up + ([mod] if mod else []))
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.add(sub if sub in MODULES else mod)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
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

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    # A package importing its own submodules is how packages work; every other loop is a circle.
    graph = {m: {d for d in deps if not (_is_package(m) and d.startswith(m + "."))}
             for m, deps in GRAPH.items()}
    assert _cycles(graph) == []


def test_config_is_at_the_bottom_of_the_import_graph():
    """embcompat.config imports nothing of embcompat but itself and params (pure parsing)."""
    allowed = {"embcompat", "embcompat.params"}
    for name, deps in GRAPH.items():
        if name.startswith("embcompat.config"):
            bad = {d for d in deps if not d.startswith("embcompat.config") and d not in allowed}
            assert not bad, f"{name} imports {bad}"
    code = ("import sys, embcompat.config as c; c.get_scale('demo'); c.bc_config('smoke'); "
            "c.fct_config('smoke'); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'embcompat') and not m.startswith(('embcompat.config', 'embcompat.params'))"
            " and m != 'embcompat'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


def _import_alone(name: str) -> tuple[str, int, str]:
    r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True,
                       timeout=300)
    return name, r.returncode, r.stderr[-2000:]


def test_every_module_imports_alone_in_a_fresh_interpreter():
    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [(n, err) for n, rc, err in pool.map(_import_alone, MODULES) if rc != 0]
    assert not failed, "\n\n".join(f"{n}:\n{err}" for n, err in failed)


@pytest.mark.parametrize("limit", [320])
def test_no_module_is_longer_than_the_house_limit(limit):
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in long.items() if k > limit} == {}
