"""Data roles of a file-based board: train, attack, relearn and probe, disjoint by construction.

One pair file (Lee et al. 2024 schema) is split deterministically (``data.split_seed``) into

* ``probe``: held-out pairs for the erasure probes (``data.probe_pairs``);
* ``relearn``: held-out pairs whose prompt + toxic continuation are the relearning attack's
  toxic text (``data.relearn_pairs``), never text a method was trained to avoid;
* ``attack``: held-out pairs whose prompts and toxic sides train universal prompt attacks
  (``data.attack_pairs``);
* ``train``: the rest, what every method trains on.

A role given its own file (``data.probe``, ``data.relearn``, ``data.attack``) takes nothing
from the pair file. Each role is recorded with its size and a sha256 of its rows, and
:func:`overlaps` reports any text that two roles share (possible only through duplicated rows
or separate files).
"""

from __future__ import annotations

import hashlib
import json
import random

from bench.errors import BenchError

HELD_OUT = ("probe", "relearn", "attack")


def split_pairs(pairs: list[dict], spec, where: str = "data.pairs") -> dict[str, list[dict]]:
    """Pairs per role: held-out roles first from a seeded shuffle, ``train`` the rest (file order)."""
    counts = {r: 0 if getattr(spec, r) else getattr(spec, f"{r}_pairs") for r in HELD_OUT}
    held = sum(counts.values())
    if held >= len(pairs):
        raise BenchError(
            f"{where}: {len(pairs)} pairs cannot hold out {held} "
            f"({', '.join(f'{r} {n}' for r, n in counts.items())}) and keep any for training: "
            "lower data.probe_pairs / relearn_pairs / attack_pairs or give those roles their own files"
        )
    order = list(range(len(pairs)))
    random.Random(spec.split_seed).shuffle(order)
    out, i = {}, 0
    for role in HELD_OUT:
        out[role] = [pairs[j] for j in order[i : i + counts[role]]]
        i += counts[role]
    out["train"] = [pairs[j] for j in sorted(order[i:])]
    return out


def relearn_texts(pairs: list[dict]) -> list[str]:
    return [p["prompt"] + p["toxic"] for p in pairs]


def attack_items(pairs: list[dict]) -> list[dict]:
    """Universal-attack training prompts, each with its own pair's toxic side as the target."""
    return [{"prompt": p["prompt"], "target": p["toxic"]} for p in pairs]


def digest(rows) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def record(parts: dict[str, list]) -> dict[str, dict]:
    """Size and sha256 of every role (what a run record keeps)."""
    return {name: {"n": len(rows), "sha256": digest(rows)} for name, rows in parts.items()}


def overlaps(
    train: list[dict], attack: list[dict], probe: list[dict], relearn: list[str], eval_prompts
) -> list[str]:
    """One line per pair of roles that share text."""
    tox = {p["toxic"].strip() for p in train if p["toxic"].strip()}
    joined = {(p["prompt"] + p["toxic"]).strip() for p in train}
    found = []
    for role, rows in (("attack", attack), ("probe", probe)):
        n = sum(p["toxic"].strip() in tox for p in rows)
        if n:
            found.append(f"data roles overlap: {n} {role} pairs share their toxic text with training pairs")
    n = sum(t.strip() in joined or t.strip() in tox for t in relearn)
    if n:
        found.append(f"data roles overlap: {n} relearning texts are training pairs' toxic texts")
    train_prompts = {p["prompt"].strip() for p in attack}
    n = sum(it["prompt"].strip() in train_prompts for it in eval_prompts)
    if n:
        found.append(f"data roles overlap: {n} eval prompts are also attack training prompts")
    return found
