"""``ablate``: project one direction out of every weight that writes to the residual stream.

Łucki et al. 2024 (arXiv 2409.18025) undo unlearning by orthogonalising the weights against
the direction mean(unlearned states) - mean(original states): the offset an edit adds to hide
a capability. Arditi et al. 2024 (arXiv 2406.11717) fold the same ablation, x - r r^T x at every
layer, into the embeddings and the attention and MLP output projections. ``direction: diff`` is
Łucki et al.'s (at residual layer ``layer``, by default the last block's output, over the pairs' continuation tokens, both sides);
``direction: toxic`` ablates the base model's toxic direction instead. A second checkpoint
ablates a random direction (the control). On the base model the diff is zero: nothing to ablate,
and the row equals no attack.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 1
KIND = "weights"
NEEDS_BASE = True
LAYER_FIELDS = ("layer",)  # Config fields naming blocks (checked against the model)
FAMILY = "residual"  # edits residual writers before the final norm (bench.eval.validity)


@dataclass(frozen=True)
class Config:
    direction: str = "diff"  # "diff": edited-minus-original mean state; "toxic": the base's toxic direction
    layer: int = 0  # residual layer 1..L the direction is measured at; 0: the last (every edit's net offset)
    control: bool = True  # also ablate a random direction

    def __post_init__(self):
        if self.direction not in ("diff", "toxic"):
            raise ValueError(f"direction must be 'diff' or 'toxic', not {self.direction!r}")


def unchanged_on_base(config: Config) -> list[int]:
    """The checkpoints that are the attacked model itself when it is its own base (the method
    ``none``; the oracle, attacked with its own directions): ``diff`` is then edited-minus-original
    of one model, exactly zero, and nothing is projected out of step 1. The pipeline measures the
    model's stored artifacts for it instead of a copy. The control (step 2) ablates a random
    direction: a new model. ``toxic`` ablates the base's own direction: a new model too."""
    return [1] if config.direction == "diff" else []


def apply(model, tokenizer, job, config: Config, seed: int, progress=None):
    import copy

    from bench.attacks.steer import resolve_layer

    from bench.eval.directions import blocks, project_out, random_like, residual_states, toxic_direction

    origin = job.base_model if job.base_model is not None else model
    layer = resolve_layer(model, config.layer) if config.layer else len(blocks(model))
    if config.direction == "toxic":
        d = toxic_direction(origin, tokenizer, job.pairs)[layer]
    else:
        texts = [(p["prompt"], p[s]) for p in job.pairs for s in ("benign", "toxic")]
        d = residual_states(model, tokenizer, texts)[layer].mean(0)
        d = d - residual_states(origin, tokenizer, texts)[layer].mean(0)
    norm = float(d.norm())
    points = []
    control = copy.deepcopy(model) if config.control else None
    if norm > 1e-6:
        project_out(model, d)
    if job.checkpoint:
        job.checkpoint(1, model)
    points.append({"step": 1, "direction": config.direction if norm > 1e-6 else "none"})
    if control is not None:
        project_out(control, random_like(d if norm > 1e-6 else d + 1.0, seed))
        if job.checkpoint:
            job.checkpoint(2, control)
        points.append({"step": 2, "direction": "random"})
    if progress:
        progress(1, 1, {"norm": norm})
    return model, {"points": points, "layer": layer, "direction_norm": norm}
