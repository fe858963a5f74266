"""Checks of a whole plan before any heavy work: every layer a plugin names exists in every
board model, every local data file reads, and every name and path in the board means something.

:func:`bench.board.load.load_plan` calls :func:`validate_plan` once the final board and the plugin
configs are known; the checks take those values as arguments and import :mod:`bench.board.schema`,
:mod:`bench.registry` and :mod:`bench.modeling` (none of which imports :mod:`bench.board.load`), never
:mod:`bench.board.load` itself.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from bench import contract, modeling, registry
from bench.board.schema import MATCHED, Board, ModelSpec, plugin_of
from bench.board.typed import from_dict
from bench.errors import BenchError, did_you_mean


def validate_plan(
    board: Board, methods: list[str], attacks: list[str], configs: dict[str, Any], source: str, dry_run: bool
) -> list[str]:
    """Every check of a plan, cheapest first: the board's names, the layers its plugins name, its
    data (fields, then files), then its model folders. Returns the warnings to print (a real
    run keeps only the data overlaps)."""
    notes = check_names(board, methods, attacks, source)
    check_layers(board, configs)
    check_data_fields(board)
    check_data_needs(board, methods, attacks)
    warnings = validate_data(board, missing_ok=dry_run)
    check_model_folders(board)
    return decoding_notes(board) + warnings + (notes if dry_run else [])


def decoding_notes(board: Board) -> list[str]:
    """What one setting silently does to others, said before the run (and recorded with it): one
    continuation per prompt is decoded greedily, so temperature and top-p are not used."""
    g = board.generation
    if g.num_samples == 1:
        return [
            f"generation.num_samples is 1: decoding is greedy; generation.temperature ({g.temperature}) "
            f"and generation.top_p ({g.top_p}) are not used (the run record says decoding: greedy)"
        ]
    return []


def decoding(board: Board) -> str:
    """How a board's continuations are decoded, as the run record states it."""
    g = board.generation
    return "greedy" if g.num_samples == 1 else f"sampled (temperature {g.temperature}, top-p {g.top_p})"


def check_names(board: Board, methods: list[str], attacks: list[str], source: str) -> list[str]:
    """Every field that names a thing names one that exists: the grid and the ``methods:`` and
    ``attacks:`` entries (a plugin, or a variant whose ``use:`` is one), the device, each model's
    label, oracle and revision, the calibrated methods and the claims' methods and attacks.
    Returns the dry run's notes: what the claims need that this run leaves out."""
    known = {kind: set(registry.available(kind)) for kind in ("methods", "attacks")}
    for kind, section, grid in (
        ("methods", board.methods, board.run_methods),
        ("attacks", board.attacks, board.run_attacks),
    ):
        added = methods if kind == "methods" else []  # NAME@matched entries calibration made
        for name in [*section, *grid]:
            if (name in added and name.endswith(MATCHED)) or (kind == "attacks" and name == "none"):
                continue
            where = f"{kind}.{name}" if name in section else f"run_{kind}: '{name}'"
            use = plugin_of(section, name, kind[:-1], source)
            if use not in known[kind]:
                what = f"uses '{use}', which is" if use != name else "is"
                raise BenchError(
                    f"{source}: {where} {what} not {'an' if kind == 'attacks' else 'a'} {kind[:-1]} plugin "
                    "(a variant says `use: PLUGIN`). "
                    f"Plugins: {', '.join(sorted(known[kind]))}.{did_you_mean(use, known[kind])}"
                )
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", board.device):
        raise BenchError(f"device must be auto, cpu, cuda, cuda:N or mps, got {board.device!r}")
    check_models(board)
    check_calibration(board, methods)
    return check_claims(board, methods, attacks, known)


def check_models(board: Board) -> None:
    labels: dict[str, int] = {}
    for i, spec in enumerate(board.models):
        if spec.label in labels:
            raise BenchError(
                f"models[{i}].label '{spec.label}' is also models[{labels[spec.label]}]'s: rows are filed "
                "by label, so give each model its own"
            )
        labels[spec.label] = i
        if spec.name == "organism" and spec.oracle:
            raise BenchError(
                f"models[{i}].oracle: the organism trains its own oracle (the same organism without the "
                f"toxic register); remove models[{i}].oracle, which names one for a pretrained model"
            )
        if spec.revision and (spec.name == "organism" or Path(spec.name).is_dir()):
            raise BenchError(
                f"models[{i}].revision: {spec.name} is not a hub id, so a revision means nothing; remove it"
            )


def check_calibration(board: Board, methods: list[str]) -> None:
    """``calibration.methods`` names methods on this board (its grid, ``methods:`` or the run's
    own), and with a target each one's plugin has the strength knob calibration sweeps."""
    cal = board.calibration
    on_board = list(dict.fromkeys([*board.run_methods, *board.methods, *methods]))
    for name in cal.methods:
        if name not in on_board:
            raise BenchError(
                f"calibration.methods: '{name}' is not a method of this board (run_methods, methods: "
                f"or --method). On the board: {', '.join(on_board)}.{did_you_mean(name, on_board)}"
            )
        use = plugin_of(board.methods, name)
        if cal.target is not None and not contract.value(
            "methods", registry.load("methods", use), "STRENGTH"
        ):
            raise BenchError(
                f"calibration.methods: '{name}' cannot be calibrated: method plugin {use} has no strength "
                "knob (STRENGTH) to sweep; remove it from calibration.methods"
            )


def check_claims(board: Board, methods: list[str], attacks: list[str], known: dict[str, set]) -> list[str]:
    """The claims' subject and comparators are methods, their attacks attacks (a plugin or a
    variant of this board): an error otherwise, since a misspelt name would only leave the
    claims unjudged. When this run has the subject but leaves out something the claims compare,
    the dry run says so: it may come from another run of the board."""
    cs = board.claims
    names = [("subject", cs.subject, "method")]
    names += [("comparators", c, "method") for c in cs.comparators]
    names += [("relearn", cs.relearn, "attack"), ("enhanced", cs.enhanced, "attack")]
    names += [("prompt_attacks", a, "attack") for a in cs.prompt_attacks]
    for where, name, kind in names:
        pool = known[kind + "s"] | set(board.methods if kind == "method" else board.attacks)
        if (name.removesuffix(MATCHED) if kind == "method" else name) not in pool:
            raise BenchError(
                f"claims.{where}: '{name}' is not a known {kind} (a plugin or a variant of this board)."
                f"{did_you_mean(name, pool)}"
            )
    if cs.subject in cs.comparators:
        raise BenchError(f"claims.comparators: '{cs.subject}' is the subject itself; compare it with others")
    if cs.subject not in methods:
        return []
    left_out = [c for c in cs.comparators if c not in methods]
    left_out += [a for a in dict.fromkeys([cs.relearn, *cs.prompt_attacks, cs.enhanced]) if a not in attacks]
    if not left_out:
        return []
    return [
        f"claims: this run has the subject {cs.subject} but not {', '.join(left_out)}: the claims that "
        "need them stay inconclusive unless another run of this board adds them"
    ]


def check_data_fields(board: Board) -> None:
    """The data fields fit ``data.source``: the organism's own splits need the organism and no
    files; files need the pairs, the eval prompts and the benign text."""
    spec = board.data
    if spec.source == "organism":
        other = next((m for m in board.models if m.name != "organism"), None)
        if other is not None:
            raise BenchError(
                f"data.source is 'organism' but model {other.name} is not the organism; "
                "set data.source: files and the data paths"
            )
        given = next((n for n in DATA_FILES if getattr(spec, n)), None)
        if given:
            raise BenchError(
                f"data.{given} is set but data.source is 'organism', whose own splits are used: "
                f"set data.source: files, or remove data.{given}"
            )
        return
    missing = [n for n in ("pairs", "eval_prompts", "benign_text") if getattr(spec, n) is None]
    if missing:
        raise BenchError(f"data.source is 'files' but data.{missing[0]} is not set")


DATA_FILES = (
    "pairs",
    "eval_prompts",
    "relearn",
    "relearn_benign",
    "benign_text",
    "continuations",
    "probe",
    "attack",
)


def check_data_needs(board: Board, methods: list[str], attacks: list[str]) -> None:
    """Plugins that need data only some boards have say so before anything trains: a method that
    distils (``undo``) needs the organism's corpus; ``relearn_benign`` needs benign text unrelated
    to the toxic register (the organism's held-out prose, Wikitext-2 train, or data.relearn_benign)."""
    organism = all(m.name == "organism" for m in board.models) and board.data.source == "organism"
    for name in methods:
        plugin = registry.load("methods", plugin_of(board.methods, name.split(MATCHED)[0]))
        if contract.value("methods", plugin, "NEEDS_TEACHER") and not organism:
            raise BenchError(
                f"method {name} distils on the organism's corpus: this board has no distillation set "
                "(run it on the organism board)"
            )
    for name in attacks:
        use = plugin_of(board.attacks, name, "attack")
        benign = registry.load("attacks", use).Config.__dataclass_fields__.get("data")
        wants_prose = (
            benign is not None and (board.attacks.get(name) or {}).get("data", benign.default) == "prose"
        )
        if (
            wants_prose
            and not organism
            and not board.data.relearn_benign
            and board.data.benign_text != "wikitext"
        ):
            raise BenchError(
                f"attack {name} relearns on benign text unrelated to the toxic register, and this board has "
                "none: set data.relearn_benign to a text or JSONL file (or measure perplexity on wikitext)"
            )


def _is_file(name: str, value: str) -> bool:
    """Whether a data field names a local file, or a data set its loader fetches from the hub:
    ``wikitext`` (texts, continuations), or an eval prompt id like ``allenai/real-toxicity-prompts``
    (bench.data.loaders's rule, less paths that look local: those are files that must exist)."""
    if name in ("relearn", "benign_text", "continuations"):
        return value != "wikitext"
    if name == "eval_prompts":
        p = Path(value)
        hub = "/" in value and not p.exists() and p.suffix not in (".jsonl", ".json", ".txt")
        return not (hub and not value.startswith((".", "/", "~")))
    return True


def check_model_folders(board: Board) -> None:
    """Every model and oracle that is a local folder exists and its files load (one line naming
    the file and the reason: :func:`bench.modeling.check_model_files`); hub ids load later."""
    for i, spec in enumerate(board.models):
        for field, name in (("name", spec.name), ("oracle", spec.oracle)):
            if not name or name == "organism":
                continue
            try:
                modeling.check_model_files(name)
            except BenchError as e:
                raise BenchError(f"models[{i}].{field}: {e}") from None


def model_depth(spec: ModelSpec) -> int | None:
    """Number of blocks of a board model, from its config alone (None when it cannot be read
    offline: a hub id not in the local cache)."""
    if spec.name == "organism":
        from bench.organism.build import OrganismConfig

        return from_dict(OrganismConfig, spec.organism, "models[].organism", "board").n_layer
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(
            spec.name,
            revision=spec.revision,
            trust_remote_code=spec.trust_remote_code,
            local_files_only=True,
        )
    except Exception:
        return None
    cfg = getattr(cfg, "text_config", None) or cfg
    return getattr(cfg, "num_hidden_layers", None)


def check_layers(board: Board, configs: dict[str, Any]) -> None:
    """Every layer a method or attack names must exist in every board model: one line, before
    anything is computed (negatives count from the end; 0 and -1 keep their plugin meanings)."""
    for spec in board.models:
        depth = model_depth(spec)
        if depth is None:
            continue
        for where, cfg in configs.items():
            plugin = sys.modules.get(type(cfg).__module__)  # the Config fields its plugin says name blocks
            kind = where.split(".")[0]
            for name in contract.value(kind, plugin, "LAYER_FIELDS") if plugin else ():
                value = getattr(cfg, name, None)
                for layer in value if isinstance(value, (list, tuple)) else [] if value is None else [value]:
                    if not -depth - 1 <= layer <= depth:
                        raise BenchError(
                            f"{where}.{name}: layer {layer} is beyond model {spec.label}, which has "
                            f"{depth} blocks (use 1..{depth}, or negatives from the end)"
                        )


def validate_data(board: Board, missing_ok: bool = False) -> list[str]:
    """Read every local data file once, so bad data fails before any model is loaded, and check
    the data roles (:mod:`bench.data.roles`): sizes, missing roles and overlaps become warnings.

    With ``missing_ok`` (dry runs) absent files are warnings instead of errors, and every role
    warning is returned; a real run returns only overlaps.
    """
    spec = board.data
    warnings: list[str] = []
    if spec.source != "files":
        return warnings
    from bench.data import loaders, roles

    checks = (
        ("pairs", loaders.load_pairs),
        ("eval_prompts", loaders.load_eval_prompts),
        ("relearn", loaders.load_texts),
        ("relearn_benign", loaders.load_texts),
        ("benign_text", loaders.load_texts),
        ("continuations", loaders.load_continuations),
        ("probe", loaders.load_pairs),
        ("attack", loaders.load_pairs),
    )
    loaded = {}
    for name, load in checks:
        value = getattr(spec, name)
        if value and _is_file(name, value):
            if missing_ok and not Path(value).exists():
                warnings.append(f"data.{name}: {value} does not exist yet (needed before a real run)")
                continue
            loaded[name] = load(value)
    if not spec.continuations:
        warnings.append("data.continuations is not set: F1 (utility) is not computed")
    if "pairs" not in loaded:
        return warnings if missing_ok else []
    split = roles.split_pairs(loaded["pairs"], spec, f"data.pairs ({spec.pairs})")
    probe = loaded.get("probe", split["probe"])
    attack = loaded.get("attack", split["attack"])
    relearn = loaded.get("relearn", roles.relearn_texts(split["relearn"]))
    if not probe:
        msg = "the probe role is empty (data.probe_pairs 0, no data.probe): erasure probes have no data"
        if not missing_ok:
            raise BenchError(msg)
        warnings.append(msg)
    elif len(probe) < board.eval.probe_max_pairs:
        warnings.append(
            f"eval.probe_max_pairs is {board.eval.probe_max_pairs} but the probe role has {len(probe)} pairs"
        )
    if not attack:
        warnings.append("the attack role is empty: universal prompt attacks have no training prompts")
    if not relearn:
        warnings.append("the relearn role is empty: the relearning attack has no toxic text")
    overlap = roles.overlaps(split["train"], attack, probe, relearn, loaded.get("eval_prompts", []))
    return warnings + overlap if missing_ok else overlap  # a real run repeats only the overlaps
