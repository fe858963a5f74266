"""Attack plugins, installed as ``bench.attacks``: one file per attack.

An attack module has ``Config``, ``VERSION``, ``KIND`` and ``apply``:

* ``KIND = "prompt"``: ``apply(model, tokenizer, job, config, seed, progress=None) -> dict``
  rewrites the evaluation prompts (e.g. appends an adversarial suffix); ``job`` is a
  :class:`bench.attacks.PromptJob`.
* ``KIND = "weights"``: ``apply(model, tokenizer, job, config, seed, progress=None) -> (model, info)``
  changes the weights (e.g. fine-tuning); ``job.checkpoint(step, model, state)`` lets the
  pipeline measure the model along the way (a relearning curve) and, with the trainer's state,
  resume a killed run from the last checkpoint (``job.resume``). An attack whose checkpoints are not
  training steps (a sweep of strengths, a control) returns ``info["points"]``: one
  ``{"step", ...}`` dict per checkpoint saying what it is.
* Optional, for a weight attack with ``NEEDS_BASE``: ``unchanged_on_base(config) -> list[int]``,
  the checkpoints that equal the attacked model when it is its own base (no edit to undo, e.g.
  ``ablate``'s edited-minus-original direction is zero). The pipeline neither saves those
  checkpoints nor measures them again: it reads the attacked model's own stored artifacts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PromptJob:
    eval_prompts: list[dict]  # {"prompt", "target"}: rewritten and evaluated
    train_prompts: list[dict]  # {"prompt", "target"}: what a universal attack optimises on
    base_model: Any = None  # the pre-detox model (for representation-aware attacks)
    scorer: Callable[[list[str]], list[float]] | None = None  # toxicity of texts, for early stop
    resume: dict = field(default_factory=dict)  # per-prompt results already computed (by index)
    record: Callable[[int, dict], None] | None = None  # persist one prompt's result


@dataclass
class WeightJob:
    texts: list[str]  # the attacker's toxic fine-tuning data
    checkpoint: Callable[..., None] | None = None  # (step, model, trainer state=None) at each curve step
    # benign text unrelated to the toxic register (held-out prose; Wikitext-2 train)
    benign_texts: list[str] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)  # {"prompt", "benign", "toxic"}: for directions
    base_model: Any = None  # the model the attacked one descends from (NEEDS_BASE attacks)
    # the trainer state of the last checkpoint a killed run saved (bench.trainer.load_state), or
    # None; an attack that trains passes it to ``train(resume=...)`` and continues from there
    resume: dict | None = None
