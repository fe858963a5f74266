"""Data stages: the splits a board evaluates on, from the organism's folder or the board's files
(with roles from :mod:`bench.data.roles`), under one key each."""

from __future__ import annotations

import json
from pathlib import Path

from bench.board.typed import to_dict
from bench.data import loaders, roles
from bench.errors import BenchError
from bench.stages.runtime import ModelRef, Runtime, Splits
from bench.store import file_hash, make_key

SPLITS = (
    "pairs",
    "eval_prompts",
    "attack_prompts",
    "relearn_near",
    "relearn_far",
    "benign_text",
    "continuations",
    "probe_pairs",
    "relearn_benign",  # held-out prose (bench.organism.corpus): benign relearning's text
)


def organism_data_key(base: ModelRef, eval_limit: int | None = None) -> str:
    """Key of the organism's splits as a board uses them: ``data.eval_limit`` keeps the first N
    eval prompts (the key is unchanged without a limit)."""
    if eval_limit:
        return make_key(kind="organism-data", organism=base.key, eval_limit=eval_limit)
    return make_key(kind="organism-data", organism=base.key)


def board_data(rt: Runtime, base: ModelRef, organism_data: Path | None) -> Splits:
    """All splits, from the organism's folder or loaded from the board's files."""
    spec = rt.board.data
    if spec.source == "organism":
        if organism_data is None:
            raise BenchError(
                "data.source is 'organism' but the model is not the organism; "
                "set data.source: files and the data paths"
            )
        parts = {n: json.loads((organism_data / f"{n}.json").read_text()) for n in SPLITS}
        parts["relearn"] = parts["relearn_far"]
        if spec.eval_limit:
            parts["eval_prompts"] = parts["eval_prompts"][: spec.eval_limit]
        return Splits(organism_data_key(base, spec.eval_limit), parts)
    missing = [n for n in ("pairs", "eval_prompts", "benign_text") if getattr(spec, n) is None]
    if missing:
        raise BenchError(f"data.source is 'files' but data.{missing[0]} is not set")
    key = files_data_key(spec)

    def make(tmp: Path, partial: Path) -> dict:
        parts = files_parts(spec)
        for name, rows in parts.items():
            (tmp / f"{name}.json").write_text(json.dumps(rows), encoding="utf-8")
        return {"sizes": {k: len(v) for k, v in parts.items()}, "roles": roles.record(parts)}

    path = rt.stage("data", key, "board data", make)
    return Splits(key, {n: json.loads((path / f"{n}.json").read_text()) for n in FILE_PARTS})


FILE_PARTS = (
    "pairs",
    "eval_prompts",
    "attack_prompts",
    "relearn",
    "benign_text",
    "continuations",
    "probe_pairs",
    "relearn_benign",
)


def files_parts(spec) -> dict[str, list]:
    """Every split of a file-based board, with roles from :mod:`bench.data.roles` (train pairs under
    ``pairs``). Eval prompts keep a ``target`` only when their file gives one. ``relearn_benign``
    is text unrelated to the toxic register, for benign relearning (:func:`relearn_benign_texts`)."""
    split = roles.split_pairs(loaders.load_pairs(spec.pairs), spec, f"data.pairs ({spec.pairs})")
    return {
        "pairs": split["train"],
        "eval_prompts": loaders.load_eval_prompts(spec.eval_prompts, spec.challenging_only, spec.eval_limit),
        "attack_prompts": roles.attack_items(
            loaders.load_pairs(spec.attack) if spec.attack else split["attack"]
        ),
        "relearn": loaders.load_texts(spec.relearn)
        if spec.relearn
        else roles.relearn_texts(split["relearn"]),
        "benign_text": loaders.load_texts(spec.benign_text),
        "continuations": loaders.load_continuations(spec.continuations) if spec.continuations else [],
        "probe_pairs": loaders.load_pairs(spec.probe) if spec.probe else split["probe"],
        "relearn_benign": relearn_benign_texts(spec),
    }


def relearn_benign_texts(spec) -> list[str]:
    """Benign relearning text of a file board: a ``data.relearn_benign`` file (a text or JSONL file
    of ``text``) where the board names one, else Wikitext-2 raw *train* paragraphs where the
    board measures perplexity on Wikitext (its test split; F1 reads validation: the three are
    disjoint), else none (the attack then refuses to run with a one-line error)."""
    if spec.relearn_benign:
        return loaders.load_texts(spec.relearn_benign)
    if spec.benign_text == "wikitext":
        return loaders.wikitext_train_paragraphs()
    return []


def files_data_key(spec) -> str:
    return make_key(
        kind="data",
        parts=list(FILE_PARTS),  # a stored artifact holds these files: a new part is a new key
        spec={
            n: (file_hash(v) if isinstance(v, str) and Path(v).is_file() else v)
            for n, v in to_dict(spec).items()
        },
    )
