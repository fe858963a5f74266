"""Checks of a whole plan before any heavy work: every layer a plugin names exists in every
board model, every local data file reads, and every name and path in the board means something.

:func:`bench.config.load_plan` calls these once the final board and the plugin configs are
known; they take those values and import only :mod:`bench.specs` and the modules below it
(never :mod:`bench.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.specs import Board, ModelSpec
from bench.typed import from_dict

LAYER_FIELDS = ("layer", "layers", "update_layers", "rep_layers")


def model_depth(spec: ModelSpec) -> int | None:
    """Number of blocks of a board model, from its config alone (None when it cannot be read
    offline: a hub id not in the local cache)."""
    if spec.name == "organism":
        from bench.organism.build import OrganismConfig

        return from_dict(OrganismConfig, spec.organism, "models[].organism", "board").n_layer
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(
            spec.name,
            revision=spec.revision,
            trust_remote_code=spec.trust_remote_code,
            local_files_only=True,
        )
    except Exception:
        return None
    cfg = getattr(cfg, "text_config", None) or cfg
    return getattr(cfg, "num_hidden_layers", None)


def check_layers(board: Board, configs: dict[str, Any]) -> None:
    """Every layer a method or attack names must exist in every board model: one line, before
    anything is computed (negatives count from the end; 0 and -1 keep their plugin meanings)."""
    for spec in board.models:
        depth = model_depth(spec)
        if depth is None:
            continue
        for where, cfg in configs.items():
            for name in LAYER_FIELDS:
                value = getattr(cfg, name, None)
                for layer in value if isinstance(value, (list, tuple)) else [] if value is None else [value]:
                    if not -depth - 1 <= layer <= depth:
                        raise BenchError(
                            f"{where}.{name}: layer {layer} is beyond model {spec.label}, which has "
                            f"{depth} blocks (use 1..{depth}, or negatives from the end)"
                        )


def validate_data(board: Board, missing_ok: bool = False) -> list[str]:
    """Read every local data file once, so bad data fails before any model is loaded, and check
    the data roles (:mod:`bench.roles`): sizes, missing roles and overlaps become warnings.

    With ``missing_ok`` (dry runs) absent files are warnings instead of errors, and every role
    warning is returned; a real run returns only overlaps.
    """
    spec = board.data
    warnings: list[str] = []
    if spec.source != "files":
        return warnings
    from bench import data as loaders
    from bench import roles

    checks = (
        ("pairs", loaders.load_pairs),
        ("eval_prompts", loaders.load_eval_prompts),
        ("relearn", loaders.load_texts),
        ("benign_text", loaders.load_texts),
        ("continuations", loaders.load_continuations),
        ("probe", loaders.load_pairs),
        ("attack", loaders.load_pairs),
    )
    loaded = {}
    for name, load in checks:
        value = getattr(spec, name)
        if value and (Path(value).suffix in (".jsonl", ".txt", ".json") or Path(value).exists()):
            if missing_ok and not Path(value).exists():
                warnings.append(f"data.{name}: {value} does not exist yet (needed before a real run)")
                continue
            loaded[name] = load(value)
    if not spec.continuations:
        warnings.append("data.continuations is not set: F1 (utility) is not computed")
    if "pairs" not in loaded:
        return warnings if missing_ok else []
    split = roles.split_pairs(loaded["pairs"], spec, f"data.pairs ({spec.pairs})")
    probe = loaded.get("probe", split["probe"])
    attack = loaded.get("attack", split["attack"])
    relearn = loaded.get("relearn", roles.relearn_texts(split["relearn"]))
    if not probe:
        msg = "the probe role is empty (data.probe_pairs 0, no data.probe): erasure probes have no data"
        if not missing_ok:
            raise BenchError(msg)
        warnings.append(msg)
    elif len(probe) < board.eval.probe_max_pairs:
        warnings.append(
            f"eval.probe_max_pairs is {board.eval.probe_max_pairs} but the probe role has {len(probe)} pairs"
        )
    if not attack:
        warnings.append("the attack role is empty: universal prompt attacks have no training prompts")
    if not relearn:
        warnings.append("the relearn role is empty: the relearning attack has no toxic text")
    overlap = roles.overlaps(split["train"], attack, probe, relearn, loaded.get("eval_prompts", []))
    return warnings + overlap if missing_ok else overlap  # a real run repeats only the overlaps
