"""The house explains itself (issue 40): ``bench/`` keeps at most about ten top-level modules beside
folders that each answer one question (their ``__init__`` docstring says which), no two modules
share a name, and the folders' imports run one way: no folder imports one that imports it back."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[1]
BENCH = ROOT / "bench"


def _modules() -> list[Path]:
    return [p for d in ("bench", "methods", "attacks") for p in (ROOT / d).rglob("*.py")]


def test_bench_has_few_top_level_modules_and_every_folder_says_what_it_answers():
    top = sorted(p.name for p in BENCH.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 10, top
    for folder in (d for d in BENCH.iterdir() if d.is_dir() and (d / "__init__.py").is_file()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc) > 20, (
            f"{folder.relative_to(ROOT)}/__init__.py needs a docstring saying what it answers"
        )


def test_no_two_modules_share_a_name():
    names = defaultdict(list)
    for p in _modules():
        if p.name != "__init__.py":
            names[p.stem].append(str(p.relative_to(ROOT)))
    for d in BENCH.rglob("*"):  # a package is a module too: bench/data/ and a data.py would collide
        if d.is_dir() and (d / "__init__.py").is_file() and d != BENCH:
            names[d.name].append(str(d.relative_to(ROOT)) + "/")
    shared = {n: ps for n, ps in names.items() if len(ps) > 1 and n not in ("methods", "attacks")}
    assert not shared, shared


def _room(module: str) -> str | None:
    """The room a ``bench.*`` module lives in: its folder under bench/, or the top-level module."""
    parts = module.split(".")
    if parts[0] != "bench" or len(parts) < 2:
        return None
    return parts[1]


def test_the_folders_imports_have_no_circle():
    edges = defaultdict(set)
    for p in BENCH.rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("")
        here = _room(".".join(rel.parts))
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = (
                    [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                    if node.module == "bench"
                    else [node.module]
                )
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                room = _room(t)
                if room and here and room != here and room not in ("methods", "attacks", "leaderboards"):
                    edges[here].add(room)
    # depth-first search for a circle between rooms
    state, path = {}, []

    def visit(n):
        state[n] = "open"
        path.append(n)
        for m in sorted(edges[n]):
            if state.get(m) == "open":
                raise AssertionError("rooms import each other: " + " -> ".join(path[path.index(m) :] + [m]))
            if m not in state:
                visit(m)
        state[n] = "done"
        path.pop()

    for n in sorted(edges):
        if n not in state:
            visit(n)
