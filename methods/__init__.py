"""Detox method plugins, installed as ``bench.methods``: one file per method.

A method module has ``Config`` (frozen dataclass, defaults that work on the built-in organism),
``VERSION`` (bump when results would change) and ``apply(model, tokenizer, data, config, seed,
progress=None) -> (model, stats)``. ``data`` is a :class:`bench.methods.MethodData`.
A method that distils another method's model (``undo``) sets ``NEEDS_TEACHER = True`` and has
``teacher_of(config) -> (teacher name, teacher config)``; the pipeline trains or loads that model
and passes it in ``MethodData.teacher`` with the distillation texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MethodData:
    pairs: list[dict]  # {"prompt", "benign", "toxic"}
    retain: list[str]  # benign texts for retain terms
    teacher: Any = None  # NEEDS_TEACHER methods: the teacher's trained model (shared: do not modify)
    distill: list[str] = field(default_factory=list)  # general texts a teacher labels (disjoint from utility)
    base_tokens: int = 0  # tokens the base model's own training processed (organism); 0: unknown
