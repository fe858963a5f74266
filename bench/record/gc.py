"""Garbage collection of the store: artifacts no run record references, and leftovers of killed
runs."""

from __future__ import annotations

import shutil

from bench.store import Store


def gc() -> tuple[int, int]:
    """Delete store artifacts that no run manifest references, and leftovers of killed runs
    (temporary and partial folders whose lock nobody holds); returns (removed, kept)."""
    import json

    from bench.record.runs import run_dirs

    store = Store()
    referenced = set()
    for d in run_dirs(store.home):
        for st in json.loads((d / "manifest.json").read_text()).get("stages", []):
            referenced.add((st["stage"], st["key"]))
    removed = kept = 0
    # leftovers of killed runs: temporary and partial folders nobody is computing right now
    leftovers = list((store.root / ".tmp").glob("*")) if (store.root / ".tmp").is_dir() else []
    leftovers += list(store.root.glob("*/.partial/*"))
    for path in leftovers:
        stage, key = (
            path.name.split("-")[:2] if path.parent.name == ".tmp" else (path.parent.parent.name, path.name)
        )
        if store.try_lock_and_remove(stage, key, path):
            removed += 1
    for stage, key, path in list(store.all_artifacts()):
        if (stage, key) in referenced:
            kept += 1
            continue
        with store.lock(stage, key):
            shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed, kept
