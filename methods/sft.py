"""``sft``: supervised fine-tuning on the benign continuation of each pair (prompt masked)."""

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


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign",), config.max_length)
        loss = losses.nll(losses.run(model, enc)["benign"])
        return loss, {"n_tokens": losses.n_tokens(enc)}

    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "sft", use_ref=False, progress=progress)
