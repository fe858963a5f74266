"""``npo``: Negative Preference Optimisation (Zhang et al. 2024, arXiv 2404.05868).

The form pinned here (implementations differ in the wild):

    L = mean_i [ -(2/β) · log σ(-β · (log π(y-_i|x_i) - log π_ref(y-_i|x_i))) ]
        + retain_weight · NLL(y+ | x)   (mean per benign continuation token)

with sequence log-probabilities summed over continuation tokens.
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
    lr: float = 1e-4
    beta: float = 0.1  # NPO temperature
    retain_weight: float = 1.0  # weight of the retain NLL on benign continuations


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign", "toxic"), config.max_length)
        pol = losses.run(model, enc)
        ref_neg = losses.run(ref, {"toxic": enc["toxic"]}, no_grad=True)["toxic"]["seq_logp"]
        forget = losses.npo(pol["toxic"]["seq_logp"], ref_neg, config.beta).mean()
        retain = losses.nll(pol["benign"])
        loss = forget + config.retain_weight * retain
        return loss, {"forget": forget.item(), "retain": retain.item(), "n_tokens": losses.n_tokens(enc)}

    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "npo", progress=progress)
