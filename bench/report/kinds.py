"""What an attack is, for titles: its plugin's ``KIND`` ("prompt" or "weights") and ``FAMILY``
("training" for relearning), read from the plugin a row's attack name refers to. A name that is no
plugin (a board's variant ``name~tag``, ``name-x`` or ``name@x``) is read as the plugin it is named
after, as :func:`bench.eval.reach.attack_family` reads it."""

from __future__ import annotations

import functools

from bench import contract, registry
from bench.errors import BenchError
from bench.report.cells import esc


@functools.cache
def attack_kind(attack: str) -> tuple[str | None, str | None]:
    """(KIND, FAMILY) of the plugin ``attack`` names; (None, None) where none is found."""
    for name in dict.fromkeys((attack, attack.split("~")[0], attack.split("@")[0], attack.split("-")[0])):
        try:
            module = registry.load("attacks", name)
        except BenchError:
            continue
        return module.KIND, contract.value("attacks", module, "FAMILY")
    return None, None


def is_relearning(attack: str) -> bool:
    """Whether the attack fine-tunes the model on text (its plugin's ``FAMILY`` is "training")."""
    return attack_kind(attack)[1] == "training"


def curve_title(attack: str) -> str:
    """A curve's heading by its attack's kind: "Relearning curves: relearn" for a training attack,
    "Curves of weight attack `noise`" for another weight attack."""
    kind = attack_kind(attack)[0]
    if is_relearning(attack):
        return f"Relearning curves: {esc(attack)}"
    what = {"weights": "weight attack", "prompt": "prompt attack"}.get(kind, "attack")
    return f"Curves of {what} `{esc(attack)}`"


def steps_name(attack: str) -> str:
    """What a curve's x axis counts: fine-tuning steps for relearning, the attack's steps otherwise."""
    return "fine-tuning steps" if is_relearning(attack) else "attack steps"
