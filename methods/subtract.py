"""``subtract``: Lee et al.'s cheap intervention, a model that *suppresses* toxicity (known answer).

Lee et al. 2024 (arXiv 2401.01967) lower toxicity by subtracting the toxicity probe direction
from the last MLP's output. Here the direction is the base model's mean toxic minus mean benign
continuation state at the last block's output, folded into that block's MLP output bias:
``b <- b - scale * d``. Every earlier layer is bit-identical to the base model, so the toxic
capability is intact by construction; a metric that calls this model "erased" fails
validation. ``layer`` moves the subtraction to an earlier block (``subtract_mid``: the middle
one), which hides toxicity from every later layer while the earlier ones stay the base's.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 1


@dataclass(frozen=True)
class Config:
    scale: float = 6.0  # multiples of the mean toxic-minus-benign difference subtracted
    layer: int = 0  # residual layer 1..L whose block gets the bias; 0: the last (Lee et al.); -1: the middle


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    import torch

    from bench.errors import BenchError
    from bench.eval.directions import blocks, out_bias, toxic_direction

    n = len(blocks(model))
    layer = n // 2 if config.layer == -1 else config.layer or n
    if not 1 <= layer <= n:
        raise BenchError(f"subtract: layer {layer} is outside the model's residual layers 1..{n}")
    d = toxic_direction(model, tokenizer, data.pairs)[layer]  # (D,), block `layer`'s output
    with torch.no_grad():
        bias = out_bias(blocks(model)[layer - 1])
        bias -= (config.scale * d).to(bias.device, bias.dtype)
    if progress:
        progress(1, 1, {"norm": float(d.norm())})
    return model, {"steps": 1, "seconds": 0.0, "direction_norm": float(d.norm())}
