"""``relearn_benign``: the relearning attack on benign text unrelated to the toxic register, with
no compliance prefix: the organism's held-out prose (never in its corpus, its perplexity or its F1
texts), Wikitext-2 train on the real boards (Łucki et al. 2024 relearn on WikiText; Qi et al. 2024
on retain data). The attacker never shows the model a toxic word nor an answer to a toxic prompt,
so toxicity that comes back was hidden, not taught. Same trainer, budget and curve as
``relearn``; only the data differ. (Benign answers to the detox pairs' prompts, this attack's
data before, detoxify the base model: that is ``sft``, not an attack; docs/sources.md, relearning data.)
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.attacks.relearn import BUDGET, FAMILY, KIND, VERSION, apply
from bench.attacks.relearn import Config as _RelearnConfig

__all__ = ["BUDGET", "FAMILY", "KIND", "VERSION", "Config", "apply"]


@dataclass(frozen=True)
class Config(_RelearnConfig):
    data: str = "prose"  # job.benign_texts: held-out prose (organism), Wikitext-2 train (files)
