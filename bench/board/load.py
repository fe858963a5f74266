"""Boards: one YAML file describing a whole benchmark grid, loaded strictly into dataclasses.

Layering follows TRL: plugin ``Config`` dataclass defaults < the board YAML < ``--set`` flags.
Every plugin config in the selected grid is validated before any model is loaded.

The dataclasses themselves live in :mod:`bench.board.schema` and the whole-plan checks in
:mod:`bench.board.validate`; both import nothing from here. The board's types are re-exported below,
so ``from bench.board.load import Board, ModelSpec, Plan, MATCHED, ...`` keeps working.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bench.board.schema import (
    ANCHORS,
    MATCHED,
    Board,
    CalibrationSpec,
    ClaimsSpec,
    DataSpec,
    EvalSpec,
    GenerationSpec,
    ModelSpec,
    Plan,
    ScorerSpec,
    plugin_of,
    seeded_spec,
)
from bench.board.typed import from_dict, to_dict
from bench.board.validate import validate_plan
from bench.errors import BenchError, did_you_mean, unknown

__all__ = [  # the loader's own names, and the board's types it re-exports from bench.board.schema
    "BUILTIN_BOARDS",
    "MATCHED",
    "Board",
    "CalibrationSpec",
    "ClaimsSpec",
    "DataSpec",
    "EvalSpec",
    "GenerationSpec",
    "ModelSpec",
    "Plan",
    "ScorerSpec",
    "apply_set",
    "board_path",
    "load_plan",
    "matched_methods",
    "parse_set",
    "plugin_of",
    "read_yaml",
    "seeded_spec",
    "yaml_loader",
]

BUILTIN_BOARDS = ("tiny", "gpt2-medium", "gemma-2-2b")


def board_path(name_or_path: str) -> Path:
    """A board name (``tiny``) or a path to a board YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise BenchError(f"Board file not found: {p}")
        return p
    from importlib import resources

    root = resources.files("bench.leaderboards")
    names = sorted(d.name for d in root.iterdir() if (d / "board.yaml").is_file())
    if name_or_path not in names:
        raise unknown("board", name_or_path, names)
    return Path(str(root / name_or_path / "board.yaml"))


def yaml_loader():
    """A safe YAML loader that also reads ``1e-4`` as a float (YAML 1.1 reads it as a string)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$|^[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$"
        ),
        list("-+0123456789."),
    )
    return Loader


def read_yaml(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BenchError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise BenchError(f"{path}: malformed YAML{line}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: a board must be a YAML mapping")
    return data


def parse_set(item: str) -> tuple[list[str], Any]:
    import yaml

    if "=" not in item:
        raise BenchError(f"--set expects key=value, got {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = yaml.load(raw, Loader=yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError:
        raise BenchError(f"--set {key}: value {raw!r} is not valid YAML") from None
    return key.strip().split("."), value


def apply_set(full: dict, path: list[str], value: Any, item: str) -> None:
    node = full
    for i, part in enumerate(path):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            part = int(part)
        elif not isinstance(node, dict) or part not in node:
            where = ".".join(path[: i + 1])
            known = [str(k) for k in node] if isinstance(node, dict) else []
            raise BenchError(
                f"--set {item!r}: key '{where}' does not exist. Known there: "
                f"{', '.join(known) or '(none)'}.{did_you_mean(part, known)}"
            )
        if i == len(path) - 1:
            node[part] = value
        else:
            node = node[part]


def _blame_set(err: BenchError, sets: list[str], source: str) -> BenchError:
    """A value the board's schema or a plugin's Config refuses after ``--set`` overrides (the board
    alone was valid) is the flag's error, not the board file's: name the ``--set`` whose key the
    error names (or whose section it names), else every ``--set`` given."""
    msg = str(err).removeprefix(f"{source}: ")
    keys = [(item, item.split("=", 1)[0].strip()) for item in sets]
    hit = [item for item, key in keys if key in msg] or [
        item for item, key in keys if ".".join(key.split(".")[:2]) in msg
    ]
    return BenchError(f"--set {hit[-1] if hit else ' --set '.join(sets)}: {msg}")


def load_plan(
    board: str,
    methods: list[str] | None = None,
    attacks: list[str] | None = None,
    sets: list[str] = (),
    models: list[str] | None = None,
    seeds: int | None = None,
    dry_run: bool = False,
) -> Plan:
    """Load a board, pick the grid, apply ``--set`` overrides and validate every plugin config."""
    from bench import registry

    path = board_path(board)
    raw = read_yaml(path)
    source = str(path)
    parsed = from_dict(Board, raw, "", source)  # validates shape before defaults are expanded
    methods = list(dict.fromkeys(["none"] + (methods or parsed.run_methods)))
    attacks = list(dict.fromkeys(attacks if attacks is not None else parsed.run_attacks))
    attacks = [a for a in attacks if a != "none"]
    full = to_dict(parsed)
    for kind, names, section in (("method", methods, "methods"), ("attack", attacks, "attacks")):
        for name in names:
            given = dict(full[section].get(name, {}) or {})
            use = plugin_of(full[section], name, kind, source)
            plugin = registry.load(kind + "s", use)
            given.pop("use", None)
            cfg = from_dict(plugin.Config, given, f"{section}.{name}", source)
            full[section][name] = ({"use": use} if use != name else {}) | to_dict(cfg)
    from bench.organism.build import OrganismConfig

    for i, spec in enumerate(parsed.models):  # expand organism settings so --set can reach them
        if spec.name == "organism":
            full["models"][i]["organism"] = to_dict(
                from_dict(OrganismConfig, spec.organism, f"models[{i}].organism", source)
            )
    scorer = registry.load("scorers", parsed.scorer.name)
    full["scorer"]["config"] = to_dict(
        from_dict(scorer.Config, parsed.scorer.config, "scorer.config", source)
    )
    if models:
        from bench.modeling import check_model_source

        for m in models:  # a missing folder is said as such, before the board's data is judged against it
            try:
                check_model_source(m)
            except BenchError as e:
                raise BenchError(f"--model {m}: {e}") from None
        full["models"] = [to_dict(ModelSpec(name=m)) for m in models]
    if seeds is not None:
        if seeds <= 0:
            raise BenchError(f"--seeds must be a positive number, got {seeds}")
        full["seeds"] = list(range(seeds))
    for item in sets:
        key, value = parse_set(item)
        apply_set(full, key, value, item)
    try:
        final = from_dict(Board, copy.deepcopy(full), "", source)
        for i, spec in enumerate(final.models):  # the organism's settings, as --set left them
            if spec.name == "organism":
                from_dict(OrganismConfig, spec.organism, f"models.{i}.organism", source)
    except BenchError as e:
        raise _blame_set(e, sets, source) if sets else e from None
    methods = methods + matched_methods(final, methods, final.methods)
    registry.load("generators", final.generation.backend)

    def config(kind: str, section: dict, n: str):
        plugin = registry.load(kind, plugin_of(section, n, kind[:-1], source))
        given = {k: v for k, v in section[n].items() if k != "use"}
        return from_dict(plugin.Config, given, f"{kind}.{n}", source)

    try:
        mcfg = {n: config("methods", final.methods, n) for n in methods}
        acfg = {n: config("attacks", final.attacks, n) for n in attacks}
    except BenchError as e:
        raise _blame_set(e, sets, source) if sets else e from None
    scfg = from_dict(
        registry.load("scorers", final.scorer.name).Config, final.scorer.config, "scorer.config", source
    )
    configs = {**{f"methods.{n}": c for n, c in mcfg.items()}, **{f"attacks.{n}": c for n, c in acfg.items()}}
    warnings = validate_plan(final, methods, attacks, configs, source, dry_run)
    final.methods = {n: final.methods[n] for n in methods}
    final.attacks = {n: final.attacks[n] for n in attacks}
    return Plan(board=final, path=path, methods=mcfg, attacks=acfg, scorer_config=scfg, warnings=warnings)


def matched_methods(board: Board, methods: list[str], section: dict) -> list[str]:
    """The ``NAME@matched`` entries calibration adds (variants of each calibrated method's plugin
    with its config), registered in ``section``."""
    from bench import contract, registry

    cal = board.calibration
    if cal.target is None:
        return []
    out = []
    for name in methods:
        if name.endswith(MATCHED) or name in ANCHORS or (cal.methods and name not in cal.methods):
            continue
        use = plugin_of(section, name)
        if not contract.value("methods", registry.load("methods", use), "STRENGTH"):
            continue  # the zoo and the baselines without a strength knob
        section[name + MATCHED] = {**(section.get(name) or {}), "use": use}
        out.append(name + MATCHED)
    return out


LIMIT_STEPS = 2  # a smoke run's training and attack steps


def limit_sets(
    board: str, methods: list[str] | None, attacks: list[str] | None, n: int, models: list[str] | None = None
) -> list[str]:
    """The ``--set`` overrides of ``bench run --limit N``: ``N`` evaluation prompts, one restart, and
    every training and attack at its fewest steps (the organism too), so a first try shows the whole
    pipeline in seconds. Its cache keys differ from a full run's: nothing is mixed."""
    import dataclasses

    from bench import contract, registry

    if n <= 0:
        raise BenchError(f"--limit must be a positive number of prompts, got {n}")
    raw = read_yaml(board_path(board))
    out = [f"data.eval_limit={n}", "eval.attack_restarts=1"]
    for i, model in enumerate(
        [{"name": m} for m in models] if models else raw.get("models") or [{"name": "organism"}]
    ):
        if (model or {}).get("name", "organism") == "organism":
            out.append(f"models.{i}.organism.steps=60")
    chosen = (
        ("methods", methods or raw.get("run_methods") or ["none", "dpo", "repo"]),
        ("attacks", attacks if attacks is not None else raw.get("run_attacks") or ["gcg", "relearn"]),
    )
    for kind, names in chosen:
        section = raw.get(kind) or {}
        for name in names:
            if name in ANCHORS:
                continue
            plugin = registry.load(kind, plugin_of(section, name, kind[:-1]))
            fields = {f.name for f in dataclasses.fields(plugin.Config)}
            if kind == "methods" and contract.value(kind, plugin, "NEEDS_TEACHER"):  # its teacher trains too
                import yaml

                given = section.get(name) or {}
                teacher = registry.load(kind, given.get("teacher") or plugin.Config().teacher)
                tfields = {f.name for f in dataclasses.fields(teacher.Config)}
                tc = {**(given.get("teacher_config") or {}), "steps": LIMIT_STEPS}
                tc.update({"warmup": 0} if "warmup" in tfields else {})
                out.append(
                    f"{kind}.{name}.teacher_config={yaml.safe_dump(tc, default_flow_style=True).strip()}"
                )
            if "curve_steps" in fields:  # first: each override is checked as it is applied
                out.append(f"{kind}.{name}.curve_steps=[0, {LIMIT_STEPS}]")
            if "warmup" in fields:
                out.append(f"{kind}.{name}.warmup=0")
            for field in ("steps", "num_steps"):
                if field in fields:
                    out.append(f"{kind}.{name}.{field}={LIMIT_STEPS}")
    return out
