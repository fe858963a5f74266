"""``dpo``: Direct Preference Optimisation (Rafailov et al. 2023, arXiv 2305.18290).

    L = -log σ(β [(log π(y+|x) - log π_ref(y+|x)) - (log π(y-|x) - log π_ref(y-|x))])
        + kl_weight · KL(π || π_ref) on the tokens of both continuations

Sequence log-probabilities sum over continuation tokens only. Paper-era defaults for
GPT-2-medium (Lee et al. 2024, ajyl/dpo_toxic): β 0.1, RMSprop lr 1e-6..1e-5, batch 4,
150 warmup steps; a later extension adds a KL penalty of 0.06 (set in the real boards).
The organism defaults below use AdamW and a larger lr because the model is tiny.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1
STRENGTH = "steps"  # the knob calibration sweeps (matched operating points)


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 40
    lr: float = 1e-4
    beta: float = 0.1  # DPO temperature
    kl_weight: float = 0.0  # token-level KL to the reference on both continuations


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign", "toxic"), config.max_length)
        pol = losses.run(model, enc)
        ref_fw = losses.run(ref, enc, no_grad=True)
        pref = losses.pair_dpo(pol, ref_fw, config.beta)
        loss = pref
        logs = {"pref": pref.item(), "n_tokens": losses.n_tokens(enc)}
        if config.kl_weight:
            kl = sum(losses.token_kl(pol[k]["logits"], ref_fw[k]["logits"], pol[k]["mask"]) for k in enc)
            loss = loss + config.kl_weight * kl
            logs["kl"] = kl.item()
        return loss, logs

    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "dpo", progress=progress)
