"""Detox method plugins, installed as ``bench.methods``: one file per method.

A method module has ``Config`` (frozen dataclass, defaults that work on the built-in organism),
``VERSION`` (bump when results would change) and ``apply(model, tokenizer, data, config, seed,
progress=None) -> (model, stats)``. ``data`` is a :class:`bench.methods.MethodData`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MethodData:
    pairs: list[dict]  # {"prompt", "benign", "toxic"}
    retain: list[str]  # benign texts for retain terms
