"""Which attacks can reach which suppressed-by-construction control, as the plugins declare it.

An attack declares its family (``FAMILY``: "prompt", "residual" or "training"); a control declares
the families that cannot undo its suppression, each with the argument why (``UNREACHABLE``). Only
such an argument may leave a control out of an attack's known-answer validation
(:mod:`bench.eval.validity`), and the leaderboard lists every exclusion with its reason.
"""

from __future__ import annotations

import functools

from bench import contract, registry
from bench.errors import BenchError


@functools.cache
def attack_family(attack: str) -> str | None:
    """The attack's family as its plugin declares it (``FAMILY``: "prompt", "residual" or
    "training"); a plugin without ``FAMILY`` is a prompt attack if its ``KIND`` is "prompt", else of
    no known family. A row's attack name that is no plugin (a board's variant ``name-x`` or
    ``name@x``) is read as the plugin it is named after; None where none is found."""
    for name in dict.fromkeys((attack, attack.split("~")[0], attack.split("@")[0], attack.split("-")[0])):
        try:
            module = registry.load("attacks", name)
        except BenchError:
            continue
        family = contract.value("attacks", module, "FAMILY")
        return family or ("prompt" if module.KIND == "prompt" else None)
    return None


@functools.cache
def unreachable(control: str) -> dict[str, str]:
    """{attack family: reason} of a suppressed-by-construction control (its plugin's ``UNREACHABLE``):
    the families that cannot undo the control's suppression, each with the argument why."""
    return contract.value("methods", registry.load("methods", control), "UNREACHABLE")


def exclusion(control: str, attack: str) -> str | None:
    """Why ``control`` is left out of the validation of R under ``attack`` (None: it is not). Only a
    plugin's argument excludes a control; an attack of no known family reaches every control."""
    family = attack_family(attack)
    if family is None:
        return None
    reason = unreachable(control).get(family)
    return None if reason is None else f"{family} attacks cannot reach it: {reason}"
