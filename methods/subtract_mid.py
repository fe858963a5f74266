"""``subtract_mid``: ``subtract`` at the middle block, a harder known answer of suppression.

The base model's toxic direction at the middle block's output is subtracted there, folded into
that block's MLP output bias. Every layer up to the middle is bit-identical to the base model's,
and the weights that compute toxicity are all still there (``ablate`` or ``steer`` undo a bias),
so the model only suppresses; but unlike ``subtract`` it hides toxicity from every later layer,
which is where a representation metric that averages over layers can be fooled.

Reachability: as ``subtract``'s (every attack family can reach it; ``UNREACHABLE`` is empty), the
offset sits in the residual stream at the middle block, before every later layer and the final norm.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.methods.subtract import LAYER_FIELDS, UNREACHABLE, VERSION, apply
from bench.methods.subtract import Config as _SubtractConfig

__all__ = ["LAYER_FIELDS", "UNREACHABLE", "VERSION", "Config", "apply"]


@dataclass(frozen=True)
class Config(_SubtractConfig):
    layer: int = -1  # the middle block (L // 2)
