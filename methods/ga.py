"""``ga``: gradient ascent on toxic continuations plus a weighted NLL on benign ones.

The simplest unlearning baseline; it diverges if run long, which is what the retain term and
the small default budget are for.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1
STRENGTH = "steps"  # the knob calibration sweeps (matched operating points)


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 60
    lr: float = 2e-4
    retain_weight: float = 1.0  # weight of NLL on benign continuations


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign", "toxic"), config.max_length)
        fw = losses.run(model, enc)
        forget = -losses.nll(fw["toxic"])
        retain = losses.nll(fw["benign"])
        loss = forget + config.retain_weight * retain
        return loss, {"forget": forget.item(), "retain": retain.item(), "n_tokens": losses.n_tokens(enc)}

    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "ga", use_ref=False, progress=progress)
