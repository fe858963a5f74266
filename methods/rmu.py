"""``rmu``: Representation Misdirection for Unlearning (Li et al. 2024, WMDP, arXiv 2403.03218).

At hidden layer ℓ, with u a fixed random unit vector (seeded) scaled by c:

    L = mean_tokens ||h_θ(x, y-)_t - c·u||²  +  α · mean_tokens ||h_θ(x, y+)_t - h_ref(x, y+)_t||²

over continuation tokens (toxic for the forget term, benign for the retain term). Only the
MLP output projections of ``update_layers`` are trained. Layers use hidden-state numbering:
``k`` is the output of block k (1-based), so block k's weights are ``h.{k-1}``.
WMDP defaults for 7B models: layer 7, layers 5-7 updated, lr 5e-5, c 6.5, α 1200. The organism
defaults are scaled to its 4 blocks and its hidden-state norms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1
STRENGTH = "steps"  # the knob calibration sweeps (matched operating points)
LAYER_FIELDS = ("layer", "update_layers")  # Config fields naming blocks (checked against the model)
EDITED_LAYERS = "update_layers"  # the blocks the method edits (the probes read them)
_MLP_OUT = re.compile(r"(?:^|\.)(?:h|layers)\.(\d+)\.mlp\.(?:c_proj|down_proj|fc2|dense_4h_to_h)\.")


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 150
    lr: float = 5e-3
    layer: int = 2  # hidden-state index of the steered activations
    update_layers: list[int] = field(default_factory=lambda: [1, 2])  # blocks whose MLP out-proj trains
    steering_coef: float = 20.0  # c
    alpha: float = 10.0  # retain weight


def mlp_out_trainable(blocks: list[int]):
    """Predicate on parameter names: True for MLP output projections of 1-based ``blocks``."""
    wanted = {b - 1 for b in blocks}

    def ok(name: str) -> bool:
        m = _MLP_OUT.search(name)
        return bool(m) and int(m.group(1)) in wanted

    return ok


def rmu_terms(h_forget, h_retain, h_retain_ref, target):
    """Forget and retain terms. h_* (N, D); target (D,)."""
    forget = ((h_forget - target) ** 2).sum(-1).mean()
    retain = ((h_retain - h_retain_ref) ** 2).sum(-1).mean()
    return forget, retain


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    layer = losses.resolve_layers([config.layer], model.config.num_hidden_layers)[0]
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(model.config.hidden_size, generator=gen)
    target = (config.steering_coef * u / u.norm()).to(next(model.parameters()).device)

    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign", "toxic"), config.max_length)
        pol = losses.run(model, enc, hidden=True)
        ref_b = losses.run(ref, {"benign": enc["benign"]}, hidden=True, no_grad=True)["benign"]
        hf = losses.cont_states(pol["toxic"]["hidden"], layer, enc["toxic"][2])
        hr = losses.cont_states(pol["benign"]["hidden"], layer, enc["benign"][2])
        hr_ref = losses.cont_states(ref_b["hidden"], layer, enc["benign"][2])
        forget, retain = rmu_terms(hf, hr, hr_ref, target)
        loss = forget + config.alpha * retain
        return loss, {"forget": forget.item(), "retain": retain.item(), "n_tokens": losses.n_tokens(enc)}

    return train(
        model,
        tokenizer,
        data.pairs,
        config,
        loss_fn,
        seed,
        "rmu",
        trainable=mlp_out_trainable(config.update_layers),
        progress=progress,
    )
