"""``relearn_benign``: the relearning attack on benign text only (the REPO paper's "relearning on
retain samples"; Łucki et al. 2024 find that fine-tuning on unrelated data recovers unlearned
capability). The attacker never shows the model a toxic word, so toxicity that comes back was
hidden, not taught. Same trainer, budget and curve as ``relearn``; only the data differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.attacks.relearn import KIND, VERSION, apply
from bench.attacks.relearn import Config as _RelearnConfig

__all__ = ["KIND", "VERSION", "Config", "apply"]


@dataclass(frozen=True)
class Config(_RelearnConfig):
    data: str = "benign"  # benign continuations of the pairs (prompt + benign side)
