"""``cb``: Circuit Breakers / Representation Rerouting (Zou et al. 2024, arXiv 2406.04313).

At each target layer, over continuation tokens:

    L_rr     = mean ReLU(cos(h_θ(x, y-), h_ref(x, y-)))        (toxic states made orthogonal)
    L_retain = mean ||h_θ(x, y+) - h_ref(x, y+)||₂            (benign states kept)
    L        = c_rr(t) · L_rr + c_retain(t) · L_retain,
    c_rr(t) = α (1 - t / (2T)),  c_retain(t) = α t / (2T)

so training shifts from rerouting to retaining, as in the paper. Layers use hidden-state
numbering (k = output of block k).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1
STRENGTH = "steps"  # the knob calibration sweeps (matched operating points)
LAYER_FIELDS = ("layers",)  # Config fields naming blocks (checked against the model, shrunk by stand-ins)
EDITED_LAYERS = "layers"  # the blocks the method edits (the probes read them)


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 150
    lr: float = 3e-4
    layers: list[int] = field(default_factory=lambda: [2, 3])  # target layers (hidden-state index)
    alpha: float = 5.0  # overall coefficient α


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    layers = losses.resolve_layers(config.layers, model.config.num_hidden_layers)

    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign", "toxic"), config.max_length)
        pol = losses.run(model, enc, hidden=True)
        ref_fw = losses.run(ref, enc, hidden=True, no_grad=True)
        rr, keep = 0.0, 0.0
        for layer in layers:
            ht = losses.cont_states(pol["toxic"]["hidden"], layer, enc["toxic"][2])
            ht_ref = losses.cont_states(ref_fw["toxic"]["hidden"], layer, enc["toxic"][2])
            hb = losses.cont_states(pol["benign"]["hidden"], layer, enc["benign"][2])
            hb_ref = losses.cont_states(ref_fw["benign"]["hidden"], layer, enc["benign"][2])
            rr = rr + torch.relu(torch.cosine_similarity(ht, ht_ref, dim=-1)).mean()
            keep = keep + (hb - hb_ref).norm(dim=-1).mean()
        rr, keep = rr / len(layers), keep / len(layers)
        frac = ctx.step / (2 * ctx.total)
        loss = config.alpha * (1 - frac) * rr + config.alpha * frac * keep
        return loss, {"rr": rr.item(), "retain": keep.item(), "n_tokens": losses.n_tokens(enc)}

    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "cb", progress=progress)
