"""The plugin contract, written once: every attribute a method, attack, scorer or generator module may
declare, with its type, its default and what the pipeline does with it.

:func:`check` runs when :func:`bench.registry.load` imports a plugin: a missing required attribute,
a wrong type, or an upper-case name the contract does not know (a misspelt ``GRADED_BYY`` would
otherwise silently take ``GRADED_BY``'s default) is a one-line error naming the plugin. A plugin's
own constants are private (``_HELD_OUT``). Everything in ``bench/`` reads an optional attribute
through :func:`value`, so no default is written twice; ``docs/adding-plugins.md`` lists exactly
these attributes (``tests/test_contract.py`` compares them).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bench.errors import BenchError, did_you_mean

REQUIRED = object()  # the default of an attribute a plugin must declare


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: str  # "config" (a dataclass), "int", "str", "kind", "names" (tuple of str), "map", "bool", "call"
    default: Any  # REQUIRED, or the value a plugin that does not declare it gets
    meaning: str  # one line, as docs/adding-plugins.md prints it


_CONFIG = Attribute(
    "Config", "config", REQUIRED, "frozen dataclass of settings; its defaults are the paper's"
)
_VERSION = Attribute("VERSION", "int", REQUIRED, "bump when results would change: it enters every cache key")
_PACKAGES = Attribute(
    "PACKAGES", "names", (), "packages whose versions can change the output (their versions enter the key)"
)
_LAYERS = Attribute(
    "LAYER_FIELDS",
    "names",
    (),
    "Config fields that name blocks: checked against each model's depth, shrunk by the stand-ins",
)
CONTRACT: dict[str, tuple[Attribute, ...]] = {
    "methods": (
        _CONFIG,
        _VERSION,
        Attribute(
            "apply", "call", REQUIRED, "apply(model, tokenizer, data, config, seed, progress) -> model"
        ),
        Attribute("STRENGTH", "str", None, "the Config field matched-operating-point calibration sweeps"),
        Attribute("GRADED_BY", "str", None, "a known-answer control's graded Config field (`locked-s640`)"),
        Attribute("UNREACHABLE", "map", {}, "{attack family: why it cannot undo this control's suppression}"),
        Attribute(
            "NEEDS_TEACHER", "bool", False, "the pipeline trains `teacher_of(config)` and passes it in"
        ),
        Attribute(
            "teacher_of", "call", None, "teacher_of(config) -> (method name, its Config); with NEEDS_TEACHER"
        ),
        _LAYERS,
        Attribute(
            "EDITED_LAYERS", "str", None, "the Config field listing the blocks the method edits (probes)"
        ),
        _PACKAGES,
    ),
    "attacks": (
        _CONFIG,
        _VERSION,
        Attribute("KIND", "kind", REQUIRED, '"prompt" (rewrites prompts) or "weights" (returns a model)'),
        Attribute("apply", "call", REQUIRED, "apply(model, tokenizer, job, config, seed, progress)"),
        Attribute(
            "FAMILY", "str", None, 'reachability: "prompt", "residual" or "training"; default: KIND\'s'
        ),
        Attribute(
            "BUDGET", "names", (), "Config fields a certification sweep varies, in the order budgets compare"
        ),
        Attribute("NEEDS_BASE", "bool", False, "the job carries the base model (directions, matching)"),
        _LAYERS,
        _PACKAGES,
    ),
    "scorers": (
        _CONFIG,
        _VERSION,
        Attribute("create", "call", REQUIRED, "create(config, device) -> scorer with score() and close()"),
        Attribute(
            "resources",
            "call",
            None,
            "resources(config) -> [(what, local path)]: files it reads (the dry run's check)",
        ),
        _PACKAGES,
    ),
    "generators": (
        _CONFIG,
        Attribute("create", "call", REQUIRED, "create(model_path, config, ...) -> generator with close()"),
        _PACKAGES,
    ),
}
KINDS = ("prompt", "weights")
_PUBLIC = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _fits(attr: Attribute, v: Any) -> bool:
    if attr.kind == "config":
        return isinstance(v, type) and dataclasses.is_dataclass(v)
    if attr.kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if attr.kind == "bool":
        return isinstance(v, bool)
    if attr.kind == "str":
        return v is None or isinstance(v, str)
    if attr.kind == "kind":
        return v in KINDS
    if attr.kind == "names":
        return isinstance(v, (tuple, list)) and all(isinstance(x, str) for x in v)
    if attr.kind == "map":
        return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
    return v is None or callable(v)


def check(kind: str, name: str, module: ModuleType) -> None:
    """Raise one line naming the plugin if ``module`` breaks the contract of ``kind``."""
    where = f"{kind[:-1]} plugin '{name}' ({module.__name__})"
    attrs = {a.name: a for a in CONTRACT[kind]}
    missing = [a.name for a in attrs.values() if a.default is REQUIRED and not hasattr(module, a.name)]
    if missing:
        raise BenchError(f"{where} lacks {', '.join(missing)}")
    for key, v in vars(
        module
    ).items():  # an imported module (``F`` for torch.nn.functional) is no declaration
        if _PUBLIC.match(key) and key not in attrs and not isinstance(v, ModuleType):
            known = sorted(k for k in attrs if _PUBLIC.match(k))
            raise BenchError(
                f"{where} declares {key}, which is no {kind[:-1]} attribute (known: {', '.join(known)}; "
                f"a plugin's own constants start with _).{did_you_mean(key, known)}"
            )
    for a in attrs.values():
        if hasattr(module, a.name) and not _fits(a, getattr(module, a.name)):
            raise BenchError(
                f"{where}: {a.name} = {getattr(module, a.name)!r} does not fit the contract ({a.meaning})"
            )
        if a.name in ("STRENGTH", "GRADED_BY", "EDITED_LAYERS") and getattr(module, a.name, None):
            _field_of(where, module, a.name, getattr(module, a.name))
        if a.kind == "names" and a.name in ("BUDGET", "LAYER_FIELDS"):
            for field in getattr(module, a.name, ()):
                _field_of(where, module, a.name, field)
    if getattr(module, "NEEDS_TEACHER", False) and not callable(getattr(module, "teacher_of", None)):
        raise BenchError(f"{where} sets NEEDS_TEACHER but defines no teacher_of(config)")


def _field_of(where: str, module: ModuleType, attr: str, field: str) -> None:
    fields = [f.name for f in dataclasses.fields(module.Config)]
    if field not in fields:
        raise BenchError(
            f"{where}: {attr} names '{field}', which is no Config field.{did_you_mean(field, fields)}"
        )


def value(kind: str, module: ModuleType, name: str) -> Any:
    """The attribute ``name`` of a ``kind`` plugin, or the contract's default; an attribute the
    contract does not declare is an error in the caller, not a silent default."""
    attr = next((a for a in CONTRACT[kind] if a.name == name), None)
    if attr is None:
        raise KeyError(f"{name} is no attribute of the {kind} contract (bench.contract)")
    if attr.default is REQUIRED:
        return getattr(module, name)
    default = attr.default
    return getattr(module, name, dict(default) if isinstance(default, dict) else default)


def table(kind: str) -> list[str]:
    """The markdown table of ``kind``'s contract, as ``docs/adding-plugins.md`` prints it."""
    out = ["| attribute | required | default | meaning |", "|---|---|---|---|"]
    for a in CONTRACT[kind]:
        required = a.default is REQUIRED
        default = "–" if required else f"`{a.default!r}`"
        out.append(f"| `{a.name}` | {'yes' if required else 'no'} | {default} | {a.meaning} |")
    return out


BEGIN, END = "<!-- contract: generated from bench/contract.py; do not edit by hand -->", "<!-- /contract -->"


def block() -> str:
    """Every kind's table between the markers ``docs/adding-plugins.md`` carries."""
    parts = [BEGIN]
    for kind in CONTRACT:
        parts += ["", f"**{kind.capitalize()}**", "", *table(kind)]
    return "\n".join([*parts, "", END])
