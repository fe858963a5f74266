"""``gcg_enhanced``: GCG with an optimised prefix and representation matching.

Łucki et al. 2024, "An Adversarial Perspective on Machine Unlearning for AI Safety"
(arXiv 2409.18025, ethz-spylab/unlearning-vs-safety): the prefix is optimised for

    CE(target | prefix + prompt) + rep_weight · mean_ℓ ||h_ℓ(x) - h_ℓ^base(x)||² / ||h_ℓ^base(x)||²

with x = prefix + prompt + target read by both models, compared at the prompt and target
positions at layers ℓ: it pulls the attacked (detoxified) model's residual stream toward the
original model's on the same input, so an attacked model that matches the original reaches 0.
The base states depend on the prefix and are recomputed for every candidate; the token gradient
treats them as constants (it only proposes candidates, whose losses are then computed exactly). The paper uses ~100-token prefixes and
1,500 iterations; the organism board sets a smaller budget. Layers use hidden-state numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.attacks import gcg

from bench.losses import resolve_layers

VERSION = 3  # 2: both models read the same input (prefix included), exact token identity; 3: as gcg 3
KIND = "prompt"
FAMILY = "prompt"  # changes only the input (bench.eval.validity: reachability)
BUDGET = ("num_steps",)  # what a certification sweep varies (bench.eval.certify)
NEEDS_BASE = True
LAYER_FIELDS = ("rep_layers",)  # Config fields naming blocks (checked against the model)


@dataclass(frozen=True)
class Config(gcg.Config):
    num_steps: int = 1500  # reference: 1,500 iterations
    optim_str_init: str = " ".join(["x"] * 100)  # reference: ~100-token prefix
    use_prefix_cache: bool = False  # nothing fixed precedes a prefix
    position: str = "prefix"  # the reference optimises a prefix
    rep_layers: list[int] = field(default_factory=lambda: [2, 3])  # hidden-state indices matched
    rep_weight: float = 1.0  # weight of the representation term

    def __post_init__(self):
        super().__post_init__()
        if self.position != "prefix":
            raise ValueError("gcg_enhanced optimises a prefix: position must be prefix")


def apply(model, tokenizer, job, config: Config, seed: int, progress=None) -> dict:
    layers = tuple(resolve_layers(config.rep_layers, model.config.num_hidden_layers))
    base = job.base_model if job.base_model is not None else model
    kw = {"rep_layers": layers, "rep_weight": config.rep_weight, "base_model": base}
    return gcg.attack(model, tokenizer, job, config, seed, config.position, progress, objective_kwargs=kw)
