"""Model stages: the base model (the organism is built here), its never-toxic oracle, and the
models a detox method trains from it. Each key is built once, here."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bench import contract, registry
from bench.board.load import ModelSpec, plugin_of
from bench.board.schema import BASE, ORACLE
from bench.board.typed import from_dict, to_dict
from bench.errors import BenchError
from bench.methods import MethodData
from bench.modeling import check_model_source, save_model, seed_everything
from bench.organism.build import ORGANISM_VERSION, OrganismConfig, train_organism
from bench.organism.corpus import build_data
from bench.stages.runtime import CORE, ModelRef, Runtime, Splits, software
from bench.stages.splits import SPLITS
from bench.store import fault, file_hash, make_key


def organism(spec: ModelSpec) -> tuple[OrganismConfig, str]:
    """The organism's typed config and its key, built once from the board's spec (later stages
    read the config from the :class:`ModelRef`, never from the spec again)."""
    cfg = from_dict(OrganismConfig, spec.organism, "models[].organism", "board")
    key = make_key(
        kind="organism",
        version=ORGANISM_VERSION,
        config=to_dict(cfg),
        software=software(*CORE, "tokenizers"),
    )
    return cfg, key


def organism_key(spec: ModelSpec) -> str:
    return organism(spec)[1]


def model_key(name: str, revision: str | None, dtype: str) -> str:
    """The key of a model the board names (a base or an oracle): a local folder by its files' hash,
    a hub id by ``id@revision``; the one place this key is derived (the dry run reads it too)."""
    ident = file_hash(name) if Path(name).is_dir() else f"{name}@{revision or 'main'}"
    return make_key(kind="model", ident=ident, dtype=dtype)


def base_model(rt: Runtime, spec: ModelSpec) -> tuple[ModelRef, Path | None]:
    """The board's model; for the organism, build it (and its data) into the store."""
    if spec.name != "organism":
        check_model_source(spec.name)
        return ModelRef(model_key(spec.name, spec.revision, spec.dtype), spec.name, spec), None
    cfg, key = organism(spec)

    def make(tmp: Path, partial: Path) -> dict:
        seed_everything(cfg.seed)
        data = build_data(cfg.seed, n_dialogue=cfg.n_dialogue, n_reports=cfg.n_reports)
        (tmp / "data").mkdir()
        for name in SPLITS:
            (tmp / "data" / f"{name}.json").write_text(json.dumps(getattr(data, name)), encoding="utf-8")
        with rt.reporter.task("organism", cfg.steps) as advance:

            def on_step(step: int, loss: float) -> None:
                advance(loss=loss)
                if step == 10:
                    fault("organism")

            stats = train_organism(cfg, data.corpus, tmp / "model", progress=on_step)
        return {"stats": stats}

    path = rt.stage("organism", key, f"organism seed={cfg.seed}", make)
    return ModelRef(key, str(path / "model"), spec, organism=cfg), path / "data"


def oracle_model(rt: Runtime, base: ModelRef) -> ModelRef | None:
    """The never-toxic reference of a board's model, or None when the board names none.

    For the organism: the same seed, steps and tokenizer, trained on the same corpus with every
    toxic dialogue continuation replaced by its benign counterpart (the far-word report lines
    stay: knowledge a model may keep). Elsewhere: ``models[].oracle``, a folder or hub id.
    """
    spec = base.spec
    if spec.name != "organism":
        if not spec.oracle:
            return None

        check_model_source(spec.oracle)
        return ModelRef(model_key(spec.oracle, None, spec.dtype), spec.oracle, spec)
    cfg = base.organism or organism(spec)[0]  # a reference made from a key alone carries none
    key = oracle_organism_key(base)

    def make(tmp: Path, partial: Path) -> dict:
        seed_everything(cfg.seed)
        data = build_data(cfg.seed, n_dialogue=cfg.n_dialogue, n_reports=cfg.n_reports, toxic_register=False)
        with rt.reporter.task("oracle organism", cfg.steps) as advance:
            stats = train_organism(
                cfg,
                data.corpus,
                tmp / "model",
                progress=lambda step, loss: advance(loss=loss),
                tokenizer_dir=Path(base.path),
            )
        return {"stats": stats}

    path = rt.stage("organism", key, f"oracle organism seed={cfg.seed}", make)
    return ModelRef(key, str(path / "model"), spec)


def has_oracle(spec: ModelSpec) -> bool:
    """Whether a board model has a never-toxic reference (the organism always builds its own)."""
    return spec.name == "organism" or bool(spec.oracle)


def oracle_organism_key(base: ModelRef) -> str:
    return make_key(kind="oracle", version=ORGANISM_VERSION, base=base.key)


def method_key(base: ModelRef, data_key: str, name: str, cfg, seed: int, use: str | None = None) -> str:
    """Key of a trained method, by content: the plugin that runs (``use``, else ``name``), its
    version, its config, the seed, the base and data, never the row's name. A named variant with
    its plugin's exact config (``npo@matched`` at factor 1, ``repo-same``) is the same model and
    shares its key and stored artifact; a row name can change without orphaning the store."""
    plugin_name = use or name
    if plugin_name == BASE:
        return base.key
    if plugin_name == ORACLE:
        return oracle_organism_key(base)
    plugin = registry.load("methods", plugin_name)
    teacher = {}
    if contract.value("methods", plugin, "NEEDS_TEACHER"):  # a changed teacher (config, version) retrains it
        tname, tcfg = plugin.teacher_of(cfg)
        teacher = {"teacher": method_key(base, data_key, tname, tcfg, seed)}
    return make_key(
        kind="method",
        parent=base.key,
        data=data_key,
        method=plugin_name,  # the plugin: a plain entry's key is what it was when the name was keyed
        **teacher,
        version=plugin.VERSION,
        config=to_dict(cfg),
        seed=seed,
        software=software(*CORE, "peft"),
    )


def method_model(
    rt: Runtime, base: ModelRef, data: Splits, name: str, cfg, seed: int, use: str | None = None
) -> ModelRef:
    """The model method ``name`` trains from ``base`` (``use``: its plugin, else the board's).
    The stored model is found by content (:func:`method_key`): a row whose plugin and config
    equal another's reuses that one's model; ``name`` only labels the stage.

    A method with ``NEEDS_TEACHER`` (``undo``) first gets its teacher's model, trained or loaded
    here under the teacher's own key, and distils it on :func:`distill_texts`."""
    use = use or plugin_of(rt.board.methods, name)
    if use == BASE:
        return base
    if use == ORACLE:
        oracle = oracle_model(rt, base)
        if oracle is None:
            raise BenchError(f"model '{base.spec.label}' has no oracle: set models[].oracle in the board")
        return oracle
    plugin = registry.load("methods", use)
    key = method_key(base, data.key, name, cfg, seed, use)

    def make(tmp: Path, partial: Path) -> dict:
        inputs = MethodData(data["pairs"], data["benign_text"])
        if contract.value("methods", plugin, "NEEDS_TEACHER"):  # only when this model is not stored yet
            inputs.distill, inputs.base_tokens = distill_texts(base, data), base_train_tokens(base)
            tname, tcfg = plugin.teacher_of(cfg)
            inputs.teacher = rt.model(method_model(rt, base, data, tname, tcfg, seed, use=tname))
        seed_everything(seed)
        model = copy.deepcopy(rt.model(base))
        with rt.reporter.task(f"{name} training", getattr(cfg, "steps", 1)) as advance:
            model, stats = plugin.apply(
                model,
                rt.tokenizer(base),
                inputs,
                cfg,
                seed,
                progress=lambda s, n, logs: (advance(**logs), s == 3 and fault("method")),
            )
        save_model(model, rt.tokenizer(base), tmp / "model")
        return {"train": stats}

    path = rt.stage("method", key, f"{name} seed={seed}", make)
    return ModelRef(key, str(path / "model"), base.spec)


def distill_texts(base: ModelRef, data: Splits) -> list[str]:
    """General text a teacher labels for distillation: on the organism, its own corpus (rebuilt
    from its seed) without any text the utility metrics read (:func:`without_utility_texts`)."""
    if base.spec.name != "organism":
        raise BenchError(
            "undo needs a distillation set of general text: only the organism board has one (its own "
            "corpus); file-based boards have no data.distill yet"
        )
    cfg = base.organism or organism(base.spec)[0]
    corpus = build_data(cfg.seed, n_dialogue=cfg.n_dialogue, n_reports=cfg.n_reports).corpus
    return without_utility_texts(corpus, data["benign_text"], data["continuations"])


def without_utility_texts(texts: list[str], benign_text: list[str], continuations: list[dict]) -> list[str]:
    """``texts`` less every perplexity text and every text that starts with an F1 prompt, so a
    distilled model has never been trained on what its utility is measured with."""
    held = set(benign_text)
    prompts = tuple(c["prompt"] for c in continuations)
    return [t for t in texts if t not in held and not t.startswith(prompts)]


def base_train_tokens(base: ModelRef) -> int:
    """Tokens the organism's training processed (steps × batch × block size); 0 elsewhere."""
    if base.spec.name != "organism":
        return 0
    cfg = base.organism or organism(base.spec)[0]
    return cfg.steps * cfg.batch_size * cfg.block_size
