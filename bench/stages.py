"""Pipeline stages over content-addressed artifacts.

base model -> method -> attack -> generations -> scores, plus utility and erasure probes per
model. Each stage's key hashes everything that determines its output (parent key, plugin name,
VERSION and config, data hash, seed; never batch sizes), so re-running is free and changing
only the scorer re-scores without regenerating. Long stages append per-item records to their
partial folder and resume from them.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from bench import roles
from bench.config import Board, ModelSpec
from bench.errors import BenchError
from bench.organism.build import ORGANISM_VERSION
from bench.progress import Reporter
from bench.store import Store, append_jsonl, fault, file_hash, make_key, read_jsonl, resume_jsonl, write_jsonl
from bench.typed import to_dict

SPLITS = (
    "pairs",
    "eval_prompts",
    "attack_prompts",
    "relearn_near",
    "relearn_far",
    "benign_text",
    "continuations",
    "probe_pairs",
)


@dataclass
class ModelRef:
    """A model later stages can load: a store folder, a local folder or a hub id."""

    key: str
    path: str
    spec: ModelSpec


@dataclass
class Splits:
    key: str
    parts: dict  # split name -> list

    def __getitem__(self, name: str):
        return self.parts[name]


class Runtime:
    """Everything a run shares: the board, the store, progress, the manifest, loaded models."""

    def __init__(self, board: Board, store: Store, reporter: Reporter, device: str):
        self.board, self.store, self.reporter, self.device = board, store, reporter, device
        self.manifest: list[dict] = []
        self._models: OrderedDict = OrderedDict()
        self._tokenizers: dict = {}

    def stage(self, stage: str, key: str, label: str, make, meta: dict | None = None) -> Path:
        from bench.cores import core_slot

        if self.store.has(stage, key):  # published: a lookup takes no core slot
            t0 = time.time()
            path, cached = self.store.get_or_make(stage, key, make, meta)
        else:  # computing takes one of the machine's core slots (always before the artifact's lock)
            with core_slot():
                t0 = time.time()
                path, cached = self.store.get_or_make(stage, key, make, meta)
        seconds = round(time.time() - t0, 3)
        self.manifest.append(
            {"stage": stage, "key": key, "label": label, "cached": cached, "seconds": seconds}
        )
        self.reporter.line(
            f"  {'[dim]cached[/dim]  ' if cached else '[green]computed[/green]'} "
            f"{stage:<9} {label}" + ("" if cached else f"  ({seconds:.1f}s)")
        )
        return path

    def tokenizer(self, ref: ModelRef):
        from bench.modeling import load_tokenizer

        if ref.path not in self._tokenizers:
            self._tokenizers[ref.path] = load_tokenizer(
                ref.path, ref.spec.trust_remote_code, ref.spec.revision if ref.path == ref.spec.name else None
            )
        return self._tokenizers[ref.path]

    def model(self, ref: ModelRef):
        """A loaded model (shared, do not modify: deep-copy before training)."""
        from bench.modeling import load_model

        if ref.key in self._models:
            self._models.move_to_end(ref.key)
            return self._models[ref.key]
        model = load_model(
            ref.path,
            self.device,
            ref.spec.dtype,
            ref.spec.trust_remote_code,
            ref.spec.revision if ref.path == ref.spec.name else None,
        )
        self._models[ref.key] = model
        while len(self._models) > 2:
            self._models.popitem(last=False)
        return model


CORE = ("torch", "transformers")


def software(*packages: str) -> dict[str, str | None]:
    """Installed versions of the packages that can change a stage's output: part of its key."""
    from bench.provenance import package_version

    return {p: package_version(p) for p in packages}


def scorer_identity(board: Board) -> dict:
    """Everything about the board's scorer that can change a score."""
    from bench import registry

    mod = registry.load("scorers", board.scorer.name)
    return {
        "name": board.scorer.name,
        "version": mod.VERSION,
        "config": board.scorer.config,
        "software": software(*getattr(mod, "PACKAGES", ())),
    }


def organism_config(spec: ModelSpec):
    from bench.organism.build import OrganismConfig
    from bench.typed import from_dict

    return from_dict(OrganismConfig, spec.organism, "models[].organism", "board")


def organism_key(spec: ModelSpec) -> str:
    return make_key(
        kind="organism",
        version=ORGANISM_VERSION,
        config=to_dict(organism_config(spec)),
        software=software(*CORE, "tokenizers"),
    )


def base_model(rt: Runtime, spec: ModelSpec) -> tuple[ModelRef, Path | None]:
    """The board's model; for the organism, build it (and its data) into the store."""
    if spec.name != "organism":
        from bench.modeling import check_model_source

        check_model_source(spec.name)
        local = Path(spec.name).is_dir()
        ident = file_hash(spec.name) if local else f"{spec.name}@{spec.revision or 'main'}"
        return ModelRef(make_key(kind="model", ident=ident, dtype=spec.dtype), spec.name, spec), None
    cfg = organism_config(spec)
    key = organism_key(spec)

    def make(tmp: Path, partial: Path) -> dict:
        from bench.modeling import seed_everything
        from bench.organism.build import train_organism
        from bench.organism.corpus import build_data

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
    return ModelRef(key, str(path / "model"), spec), path / "data"


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
        from bench.modeling import check_model_source

        check_model_source(spec.oracle)
        local = Path(spec.oracle).is_dir()
        ident = file_hash(spec.oracle) if local else f"{spec.oracle}@main"
        return ModelRef(make_key(kind="model", ident=ident, dtype=spec.dtype), spec.oracle, spec)
    cfg = organism_config(spec)
    key = oracle_organism_key(base)

    def make(tmp: Path, partial: Path) -> dict:
        from bench.modeling import seed_everything
        from bench.organism.build import train_organism
        from bench.organism.corpus import build_data

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


def organism_data_key(base: ModelRef, eval_limit: int | None = None) -> str:
    """Key of the organism's splits as a board uses them: ``data.eval_limit`` keeps the first N
    eval prompts (the key is unchanged without a limit)."""
    if eval_limit:
        return make_key(kind="organism-data", organism=base.key, eval_limit=eval_limit)
    return make_key(kind="organism-data", organism=base.key)


def board_data(rt: Runtime, base: ModelRef, organism_data: Path | None) -> Splits:
    """All splits, from the organism's folder or loaded from the board's files."""
    spec = rt.board.data
    if spec.source == "organism":
        if organism_data is None:
            raise BenchError(
                "data.source is 'organism' but the model is not the organism; "
                "set data.source: files and the data paths"
            )
        parts = {n: json.loads((organism_data / f"{n}.json").read_text()) for n in SPLITS}
        parts["relearn"] = parts["relearn_far"]
        if spec.eval_limit:
            parts["eval_prompts"] = parts["eval_prompts"][: spec.eval_limit]
        return Splits(organism_data_key(base, spec.eval_limit), parts)
    missing = [n for n in ("pairs", "eval_prompts", "benign_text") if getattr(spec, n) is None]
    if missing:
        raise BenchError(f"data.source is 'files' but data.{missing[0]} is not set")
    key = files_data_key(spec)

    def make(tmp: Path, partial: Path) -> dict:
        parts = files_parts(spec)
        for name, rows in parts.items():
            (tmp / f"{name}.json").write_text(json.dumps(rows), encoding="utf-8")
        return {"sizes": {k: len(v) for k, v in parts.items()}, "roles": roles.record(parts)}

    path = rt.stage("data", key, "board data", make)
    return Splits(key, {n: json.loads((path / f"{n}.json").read_text()) for n in FILE_PARTS})


FILE_PARTS = (
    "pairs",
    "eval_prompts",
    "attack_prompts",
    "relearn",
    "benign_text",
    "continuations",
    "probe_pairs",
)


def files_parts(spec) -> dict[str, list]:
    """Every split of a file-based board, with roles from :mod:`bench.roles` (train pairs under
    ``pairs``). Eval prompts keep a ``target`` only when their file gives one."""
    from bench import data as loaders

    split = roles.split_pairs(loaders.load_pairs(spec.pairs), spec, f"data.pairs ({spec.pairs})")
    return {
        "pairs": split["train"],
        "eval_prompts": loaders.load_eval_prompts(spec.eval_prompts, spec.challenging_only, spec.eval_limit),
        "attack_prompts": roles.attack_items(
            loaders.load_pairs(spec.attack) if spec.attack else split["attack"]
        ),
        "relearn": loaders.load_texts(spec.relearn)
        if spec.relearn
        else roles.relearn_texts(split["relearn"]),
        "benign_text": loaders.load_texts(spec.benign_text),
        "continuations": loaders.load_continuations(spec.continuations) if spec.continuations else [],
        "probe_pairs": loaders.load_pairs(spec.probe) if spec.probe else split["probe"],
    }


def files_data_key(spec) -> str:
    return make_key(
        kind="data",
        spec={
            n: (file_hash(v) if isinstance(v, str) and Path(v).is_file() else v)
            for n, v in to_dict(spec).items()
        },
    )


def method_key(base: ModelRef, data_key: str, name: str, cfg, seed: int, use: str | None = None) -> str:
    """Key of a trained method; ``use`` is the plugin of a named variant (its name is its own)."""
    from bench import registry

    if name == "none":
        return base.key
    if name == "oracle":
        return oracle_organism_key(base)
    plugin = registry.load("methods", use or name)
    variant = {"use": use} if use and use != name else {}
    return make_key(
        kind="method",
        parent=base.key,
        data=data_key,
        method=name,
        **variant,
        version=plugin.VERSION,
        config=to_dict(cfg),
        seed=seed,
        software=software(*CORE, "peft"),
    )


def method_model(rt: Runtime, base: ModelRef, data: Splits, name: str, cfg, seed: int) -> ModelRef:
    from bench import registry

    if name == "none":
        return base
    if name == "oracle":
        oracle = oracle_model(rt, base)
        if oracle is None:
            raise BenchError(f"model '{base.spec.label}' has no oracle: set models[].oracle in the board")
        return oracle
    from bench.config import plugin_of

    use = plugin_of(rt.board.methods, name)
    plugin = registry.load("methods", use)
    key = method_key(base, data.key, name, cfg, seed, use)

    def make(tmp: Path, partial: Path) -> dict:
        from bench.methods import MethodData
        from bench.modeling import save_model, seed_everything

        seed_everything(seed)
        model = copy.deepcopy(rt.model(base))
        with rt.reporter.task(f"{name} training", getattr(cfg, "steps", 1)) as advance:
            model, stats = plugin.apply(
                model,
                rt.tokenizer(base),
                MethodData(data["pairs"], data["benign_text"]),
                cfg,
                seed,
                progress=lambda s, n, logs: (advance(**logs), s == 3 and fault("method")),
            )
        save_model(model, rt.tokenizer(base), tmp / "model")
        return {"train": stats}

    path = rt.stage("method", key, f"{name} seed={seed}", make)
    return ModelRef(key, str(path / "model"), base.spec)


def generations(
    rt: Runtime, model: ModelRef, prompts: list[str], seed: int, label: str
) -> tuple[str, list[list[str]]]:
    """Continuations of ``prompts`` (resumable per chunk); returns (key, continuations)."""
    from bench import registry

    g = rt.board.generation
    key = make_key(
        kind="gen",
        model=model.key,
        prompts=make_key(p=prompts),
        backend=g.backend,
        max_new_tokens=g.max_new_tokens,
        k=g.num_samples,
        sampling=[g.temperature, g.top_p, seed, "per-sample seeds"] if g.num_samples > 1 else None,
        software=software(*getattr(registry.load("generators", g.backend), "PACKAGES", CORE)),
    )
    # Chunks of prompt indices; each sample's seed derives from its prompt's index (``offset``),
    # so a resumed run that regenerates the unrecorded chunks draws the same samples.
    chunk = g.batch_size * 4
    chunks = [list(range(c, min(c + chunk, len(prompts)))) for c in range(0, len(prompts), chunk)]

    def make(tmp: Path, partial: Path) -> dict:
        done = {r["i"]: r["out"] for r in resume_jsonl(partial / "items.jsonl")}
        todo = [c for c in chunks if any(i not in done for i in c)]
        if todo:
            gen = registry.load("generators", g.backend).create(
                model.path,
                registry.load("generators", g.backend).Config(),
                device=rt.device,
                dtype=model.spec.dtype,
                trust_remote_code=model.spec.trust_remote_code,
                **({"model": rt.model(model), "tokenizer": rt.tokenizer(model)} if g.backend == "hf" else {}),
            )
            try:
                with rt.reporter.task(f"generate {label}", sum(map(len, todo))) as advance:
                    for idx in todo:
                        outs = gen.generate(
                            [prompts[i] for i in idx],
                            max_new_tokens=g.max_new_tokens,
                            num_samples=g.num_samples,
                            temperature=g.temperature,
                            top_p=g.top_p,
                            seed=seed,
                            batch_size=g.batch_size,
                            offset=idx[0],
                        )
                        append_jsonl(partial / "items.jsonl", [{"i": i, "out": o} for i, o in zip(idx, outs)])
                        done.update(zip(idx, outs))
                        advance(len(idx))
                        fault("gen")
            finally:
                gen.close()
        write_jsonl(
            tmp / "generations.jsonl",
            [{"i": i, "prompt": prompts[i], "out": done[i]} for i in range(len(prompts))],
        )
        return {"n": len(prompts)}

    path = rt.stage("gen", key, label, make)
    return key, [r["out"] for r in read_jsonl(path / "generations.jsonl")]


def scores(
    rt: Runtime, gen_key: str, outs: list[list[str]], scorer, version: int, label: str
) -> list[list[float]]:
    """Toxicity of every continuation, shaped like ``outs``; NaN is refused."""
    import math

    key = make_key(
        kind="score",
        gen=gen_key,
        scorer=rt.board.scorer.name,
        version=version,
        config=to_dict(scorer.config),
        software=scorer_identity(rt.board)["software"],
    )

    def make(tmp: Path, partial: Path) -> dict:
        flat = [t for o in outs for t in o]
        with rt.reporter.task(f"score {label}", len(flat)) as advance:
            vals = scorer.score(flat, on_chunk=advance)
        fault("score")
        if len(vals) != len(flat) or any(not isinstance(v, float) or math.isnan(v) for v in vals):
            raise BenchError(f"scorer '{rt.board.scorer.name}' returned NaN or a wrong number of scores")
        write_jsonl(tmp / "scores.jsonl", [{"s": vals[i : i + len(o)]} for i, o in zip(_offsets(outs), outs)])
        return {"scorer": scorer.version, "n": len(flat)}

    path = rt.stage("score", key, label, make)
    return [r["s"] for r in read_jsonl(path / "scores.jsonl")]


def _offsets(outs: list[list[str]]) -> list[int]:
    offs, n = [], 0
    for o in outs:
        offs.append(n)
        n += len(o)
    return offs


def utility(rt: Runtime, model: ModelRef, data: Splits, label: str) -> dict:
    """Perplexity on benign held-out text and F1 of greedy continuations against gold."""
    e = rt.board.eval
    key = make_key(
        kind="utility",
        model=model.key,
        data=data.key,
        window=e.ppl_window,
        max_texts=e.ppl_max_texts,
        f1_max=e.f1_max,
        new=rt.board.generation.max_new_tokens,
        software=software(*CORE),
    )

    def make(tmp: Path, partial: Path) -> dict:
        from bench.eval.metrics import f1, perplexity
        from bench.generators.hf import generate
        from bench.modeling import context_length

        m, tok = rt.model(model), rt.tokenizer(model)
        window = min(e.ppl_window, context_length(m))
        ppl = perplexity(m, tok, data["benign_text"], window, e.ppl_max_texts)
        pairs = data["continuations"][: e.f1_max]
        f1s = []
        if pairs:
            outs = generate(
                m,
                tok,
                [p["prompt"] for p in pairs],
                max_new_tokens=rt.board.generation.max_new_tokens,
                batch_size=rt.board.generation.batch_size,
            )
            f1s = [f1(o[0], p["gold"]) for o, p in zip(outs, pairs)]
        return {"ppl": ppl, "f1": sum(f1s) / len(f1s) if f1s else None, "f1_all": f1s}

    path = rt.stage("utility", key, label, make)
    return json.loads((path / "_artifact.json").read_text())


def probe(
    rt: Runtime,
    model: ModelRef,
    base: ModelRef,
    data: Splits,
    seed: int,
    label: str,
    prompt_labels: list[float] | None = None,
) -> dict:
    """Erasure metrics of ``model`` against ``base`` (``bench.eval.erasure``), the base model's
    top toxic neurons, and the localisation of the model's edit on them with its chance share."""
    e = rt.board.eval
    key = make_key(
        kind="probe",
        model=model.key,
        base=base.key,
        data=data.key,
        seed=seed,
        max_pairs=e.probe_max_pairs,
        k=e.top_neurons,
        labels=None if prompt_labels is None else make_key(labels=prompt_labels),
        version=2,
        software=software(*CORE),
    )

    def make(tmp: Path, partial: Path) -> dict:
        from bench.eval import erasure, probes
        from bench.eval.directions import toxic_only_vocab

        pairs = data["probe_pairs"][: e.probe_max_pairs]
        tok = rt.tokenizer(model)
        base_m, m = rt.model(base), rt.model(model)
        vocab = toxic_only_vocab(tok, data["pairs"], data["benign_text"])
        er = erasure.measure(m, base_m, tok, pairs, prompt_labels, vocab, seed)
        neurons = probes.toxic_neurons(base_m, probes.probe_direction(base_m, tok, pairs), e.top_neurons)
        loc = None if model.key == base.key else probes.localisation(base_m, m, neurons)
        total = sum(v.shape[0] for v in probes.value_vectors(base_m))
        return {
            "probe_acc": er["layers"]["cont_probe"],
            "erasure": er,
            "toxic_neurons": neurons,
            "localisation": loc,
            "localisation_chance": len(neurons) / total,
        }

    path = rt.stage("probe", key, label, make)
    return json.loads((path / "_artifact.json").read_text())


def attack(
    rt: Runtime,
    model: ModelRef,
    base: ModelRef,
    data: Splits,
    name: str,
    cfg,
    seed: int,
    eval_items: list[dict],
    scorer_fn,
    label: str,
    train_items: list[dict] | None = None,
) -> dict:
    """Run one attack on one model. Prompt attacks return rewritten eval prompts; weight attacks
    return the attacked model and the checkpoints of its curve."""
    from bench import registry
    from bench.attacks import PromptJob, WeightJob
    from bench.config import plugin_of

    use = plugin_of(rt.board.attacks, name)
    plugin = registry.load("attacks", use)
    needs_base = getattr(plugin, "NEEDS_BASE", False)
    train_items = data["attack_prompts"] if train_items is None else train_items
    key = make_key(
        kind="attack",
        model=model.key,
        base=base.key if needs_base else None,
        data=data.key,
        attack=name,
        **({"use": use} if use != name else {}),
        version=plugin.VERSION,
        config=to_dict(cfg),
        seed=seed,
        targets=make_key(t=[it.get("target") for it in eval_items]),
        # data.key covers the data's own attack prompts; only overridden targets need hashing
        train_targets=None
        if train_items is data["attack_prompts"]
        else make_key(t=[it.get("target") for it in train_items]),
        # early stopping asks the scorer whether the attack has succeeded
        scorer=scorer_identity(rt.board) if getattr(cfg, "early_stop", False) else None,
        software=software(*CORE, "peft"),
    )
    n_steps = getattr(cfg, "num_steps", getattr(cfg, "steps", 1))

    def make(tmp: Path, partial: Path) -> dict:
        from bench.modeling import save_model, seed_everything, torch_dtype
        from bench.trainer import load_state, save_state

        seed_everything(seed)
        tok = rt.tokenizer(model)
        if plugin.KIND == "prompt":
            done = {r["i"]: r for r in resume_jsonl(partial / "prompts.jsonl")}
            job = PromptJob(
                eval_prompts=eval_items,
                train_prompts=train_items,
                base_model=rt.model(base) if needs_base else None,
                scorer=scorer_fn,
                resume=done,
                record=lambda i, rec: (append_jsonl(partial / "prompts.jsonl", [rec]), fault(name)),
            )
            m = rt.model(model)
            m.requires_grad_(False)

            def prog(total):
                return rt.reporter.task(f"{name} {label}", total)

            result = plugin.apply(m, tok, job, cfg, seed, progress=prog)
            (tmp / "result.json").write_text(json.dumps(result), encoding="utf-8")
            return {"cost": result.get("cost", {})}
        marks = sorted(set(getattr(cfg, "curve_steps", [])) - {0})

        def checkpoint(step: int, live, state=None) -> None:
            out = partial / f"step-{step}"
            if not out.exists():  # stored in the board's dtype, like the final model
                snap = copy.deepcopy(live)
                if hasattr(snap, "merge_and_unload"):  # LoRA: merge in fp32, then cast once
                    snap = snap.merge_and_unload()
                save_model(snap.to(torch_dtype(model.spec.dtype)), tok, partial / f".step-{step}")
                (partial / f".step-{step}").rename(out)
            if state is not None and not (partial / f"state-{step}").exists():
                save_state(state(), partial / f".state-{step}")  # what a killed run resumes from
                (partial / f".state-{step}").rename(partial / f"state-{step}")
                for old in partial.glob("state-*"):  # only the latest is ever resumed from
                    if old.name != f"state-{step}":
                        shutil.rmtree(old, ignore_errors=True)
            fault(name)

        saved = [
            int(p.name[6:]) for p in partial.glob("state-*") if (partial / f"step-{p.name[6:]}").is_dir()
        ]

        m = copy.deepcopy(rt.model(model))
        job = WeightJob(
            texts=data["relearn"],
            checkpoint=checkpoint,
            benign_texts=[p["prompt"] + p["benign"] for p in data["pairs"]],
            pairs=data["pairs"],
            base_model=rt.model(base) if needs_base else None,
            resume=load_state(partial / f"state-{max(saved)}") if saved else None,
        )
        with rt.reporter.task(f"{name} {label}", n_steps) as advance:
            m, stats = plugin.apply(m, tok, job, cfg, seed, progress=lambda s, n, logs: advance(**logs))
        if "points" in stats:
            marks = [p["step"] for p in stats["points"]]
        save_model(m, tok, tmp / "model")
        (tmp / "curve").mkdir()
        for step in marks:
            (partial / f"step-{step}").rename(tmp / "curve" / f"step-{step}")
        return {"train": stats, "curve_steps": marks, "points": stats.get("points")}

    path = rt.stage("attack", key, f"{name} on {label}", make)
    info = json.loads((path / "_artifact.json").read_text())
    if plugin.KIND == "prompt":
        return {"kind": "prompt", "result": json.loads((path / "result.json").read_text()), "key": key}
    curve = [
        (s, ModelRef(make_key(parent=key, step=s), str(path / "curve" / f"step-{s}"), model.spec))
        for s in info["curve_steps"]
    ]
    return {
        "kind": "weights",
        "model": ModelRef(key, str(path / "model"), model.spec),
        "curve": curve,
        "info": info,
        "key": key,
    }
