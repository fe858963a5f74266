"""Run a board's grid (models × methods × attacks × seeds) and write the run record.

Cells are computed in order: the base model (and, for the organism, its data), each method's
model, its utility and erasure probes, its generations and scores without attack, then each
attack. A run writes ``config.yaml`` (resolved, secrets masked), ``manifest.json`` (every stage:
key, cached or computed, seconds; versions, commit, device) and ``results.jsonl`` (one row per
model × method × attack × seed) under ``$BENCH_HOME/runs/``.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from bench import stages
from bench.config import Plan
from bench.errors import BenchError
from bench.report import Reporter
from bench.store import Store, write_json, write_jsonl
from bench.typed import to_dict


def eval_items(rt: stages.Runtime, base: stages.ModelRef, data: stages.Splits) -> list[dict]:
    """Eval prompts cut to ``prompt_max_tokens`` tokens; each keeps its GCG target if it has one."""
    from bench.modeling import context_length

    tok = rt.tokenizer(base)
    spec, gen = rt.board.data, rt.board.generation
    ctx = context_length(rt.model(base))
    items, pairs = [], data["pairs"]
    for i, item in enumerate(data["eval_prompts"]):
        ids = tok(item["prompt"], add_special_tokens=False)["input_ids"][: spec.prompt_max_tokens]
        if len(ids) + gen.max_new_tokens > ctx:
            raise BenchError(
                f"eval prompt {i} needs {len(ids) + gen.max_new_tokens} tokens with generation; "
                f"the model's context is {ctx}: lower data.prompt_max_tokens"
            )
        target = item.get("target") or pairs[i % len(pairs)]["toxic"]
        items.append({"prompt": tok.decode(ids), "target": target})
    if not items:
        raise BenchError("no evaluation prompts")
    return items


def toxicity_row(
    rt, model, items, seed, label, scorer, scorer_version, prompts=None
) -> tuple[dict, dict, dict]:
    from bench.eval.metrics import bootstrap_ci, toxicity_summary

    prompts = prompts or [it["prompt"] for it in items]
    gen_key, outs = stages.generations(rt, model, prompts, seed, label)
    sc = stages.scores(rt, gen_key, outs, scorer, scorer_version, label)
    e = rt.board.eval
    metrics = toxicity_summary(sc, e.toxic_threshold)
    ci = bootstrap_ci(sc, e.toxic_threshold, e.bootstrap, seed)
    return metrics, ci, {"generations": gen_key}


class LazyScorer:
    """The board's scorer, created on first use, so a fully cached run never loads it."""

    def __init__(self, module, config, device: str):
        self.module, self.config, self.device, self._scorer = module, config, device, None

    def _get(self):
        if self._scorer is None:
            self._scorer = self.module.create(self.config, self.device)
        return self._scorer

    @property
    def version(self) -> str:
        return self._get().version

    def score(self, texts, on_chunk=None):
        return self._get().score(texts, on_chunk)

    def close(self) -> None:
        if self._scorer is not None:
            self._scorer.close()


def runtime(plan: Plan, reporter: Reporter, store: Store | None = None) -> stages.Runtime:
    from bench.modeling import pick_device, quiet_transformers

    quiet_transformers()
    return stages.Runtime(plan.board, store or Store(), reporter, pick_device(plan.board.device))


def prepare(rt: stages.Runtime, spec) -> tuple:
    """Base model, data and eval items of one model spec (builds the organism if needed)."""
    base, org_dir = stages.base_model(rt, spec)
    data = stages.board_data(rt, base, org_dir)
    return base, data, eval_items(rt, base, data)


def run_cell(rt: stages.Runtime, plan: Plan, spec, method: str, seed: int, prepared=None) -> list[dict]:
    """Every row of one model × method × seed cell: no attack, then each attack."""
    from bench import registry

    base, data, items = prepared or prepare(rt, spec)
    board = plan.board
    scorer_mod = registry.load("scorers", board.scorer.name)
    scorer = LazyScorer(scorer_mod, plan.scorer_config, rt.device)
    rows: list[dict] = []
    try:
        base_outs = None  # the base model's own continuations, for attacks with `target: base`
        if any(getattr(c, "target", "data") == "base" for c in plan.attacks.values()):
            label = f"{spec.label}/none/s{seed}"
            train = [it["prompt"] for it in data["attack_prompts"]]
            base_outs = {
                "eval": stages.generations(rt, base, [it["prompt"] for it in items], seed, label)[1],
                "train": stages.generations(rt, base, train, seed, label + " attack prompts")[1],
            }
        mcfg = plan.methods[method]
        model = stages.method_model(rt, base, data, method, mcfg, seed)
        tag = f"{spec.label}/{method}/s{seed}"
        shared = method_metrics(
            stages.utility(rt, model, data, tag), stages.probe(rt, model, base, data, seed, tag), mcfg
        )
        common = {"board": board.name, "model": spec.label, "method": method, "seed": seed}
        metrics, ci, keys = toxicity_row(rt, model, items, seed, tag, scorer, scorer_mod.VERSION)
        rows.append(
            {
                **common,
                "attack": "none",
                "metrics": {**metrics, **shared},
                "ci95": ci,
                "keys": {"model": model.key, **keys},
                "train": train_stats(model),
            }
        )
        base_rate = None
        if method != "none":
            base_rate = toxicity_row(
                rt, base, items, seed, f"{spec.label}/none/s{seed}", scorer, scorer_mod.VERSION
            )[0]["toxic_rate"]
        for attack, acfg in plan.attacks.items():
            row = attack_row(
                rt,
                model,
                base,
                data,
                attack,
                acfg,
                seed,
                items,
                base_outs,
                tag,
                scorer,
                scorer_mod.VERSION,
                metrics,
                base_rate if base_rate is not None else metrics["toxic_rate"],
            )
            rows.append({**common, "attack": attack, **row, "metrics": {**row["metrics"], **shared}})
    finally:
        scorer.close()
    return rows


def cells(plan: Plan) -> list[tuple]:
    return [
        (i, method, seed)
        for i, _ in enumerate(plan.board.models)
        for seed in plan.board.seeds
        for method in plan.methods
    ]


def write_record(
    plan: Plan,
    store: Store,
    rows: list[dict],
    manifest: list[dict],
    device: str,
    seconds: float,
    executor: str = "local",
) -> Path:
    import yaml

    from bench.provenance import environment, masked

    board = plan.board
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{board.name}-{uuid.uuid4().hex[:6]}"
    run_dir = store.home / "runs" / run_id
    tmp = store.home / "runs" / f".{run_id}"
    tmp.mkdir(parents=True)
    order = {c: n for n, c in enumerate(cells(plan))}
    rows = sorted(
        rows,
        key=lambda r: (
            order.get((_model_index(plan, r["model"]), r["method"], r["seed"]), 0),
            ["none", *plan.attacks].index(r["attack"]),
        ),
    )
    write_jsonl(tmp / "results.jsonl", rows)
    (tmp / "config.yaml").write_text(
        yaml.safe_dump(masked(to_dict(board)), sort_keys=False), encoding="utf-8"
    )
    write_json(
        tmp / "manifest.json",
        {
            "run": run_id,
            "board": board.name,
            "board_file": str(plan.path),
            "seconds": round(seconds, 2),
            "device": device,
            "executor": executor,
            "stages": manifest,
            **environment(),
        },
    )
    tmp.rename(run_dir)  # a run record appears whole or not at all
    return run_dir


def _model_index(plan: Plan, label: str) -> int:
    return next(i for i, m in enumerate(plan.board.models) if m.label == label)


def run(plan: Plan, reporter: Reporter, store: Store | None = None) -> Path:
    """Run the grid in this process and write the run record."""
    t0 = time.time()
    rt = runtime(plan, reporter, store)
    rows: list[dict] = []
    prepared = {}
    for i, method, seed in cells(plan):
        spec = plan.board.models[i]
        if i not in prepared:
            reporter.line(f"[bold]{plan.board.name}[/bold] · model {spec.label} · device {rt.device}")
            prepared[i] = prepare(rt, spec)
        rows += run_cell(rt, plan, spec, method, seed, prepared[i])
    return write_record(plan, rt.store, rows, rt.manifest, rt.device, time.time() - t0)


def method_metrics(util: dict, pr: dict, cfg) -> dict:
    layers = getattr(cfg, "layers", None) or getattr(cfg, "update_layers", None)
    acc = pr["probe_acc"]
    edited = [acc[i] for i in layers if 0 <= i < len(acc)] if layers else acc[1:]
    return {
        "ppl": util["ppl"],
        "f1": util["f1"],
        "probe_acc": acc,
        "probe_max": max(edited) if edited else None,
        "localisation": pr["localisation"],
    }


def train_stats(model) -> dict | None:
    meta = Path(model.path).parent / "_artifact.json"
    if not meta.is_file():
        return None
    train = json.loads(meta.read_text()).get("train")
    if not train:
        return None
    return {k: train.get(k) for k in ("steps", "seconds", "tokens", "tokens_per_s", "stopped_early")}


def attack_row(
    rt, model, base, data, attack, acfg, seed, items, base_outs, tag, scorer, sv, clean_metrics, base_rate
) -> dict:
    """One attack's row: toxicity under the attack, its cost, and for weight attacks the curve."""
    from bench.eval.metrics import curve_auc, steps_to_recover

    train_items = data["attack_prompts"]
    if getattr(acfg, "target", "data") == "base" and base_outs is not None:
        items = [{**it, "target": out[0]} for it, out in zip(items, base_outs["eval"])]
        train_items = [{**it, "target": out[0]} for it, out in zip(train_items, base_outs["train"])]
    res = stages.attack(rt, model, base, data, attack, acfg, seed, items, scorer.score, tag, train_items)
    if res["kind"] == "prompt":
        r = res["result"]
        metrics, ci, keys = toxicity_row(rt, model, items, seed, f"{tag}+{attack}", scorer, sv, r["prompts"])
        metrics["loss_lowered_share"] = r["loss_lowered_share"]
        return {
            "metrics": metrics,
            "ci95": ci,
            "keys": {"model": model.key, "attack": res["key"], **keys},
            "attack_info": {"cost": r["cost"], "string": r.get("string")},
        }
    metrics, ci, keys = toxicity_row(rt, res["model"], items, seed, f"{tag}+{attack}", scorer, sv)
    curve = [(0, clean_metrics["toxic_rate"])]
    for step, ref in res["curve"]:
        m, _, _ = toxicity_row(rt, ref, items, seed, f"{tag}+{attack}@{step}", scorer, sv)
        curve.append((step, m["toxic_rate"]))
    metrics.update(steps_to_recover=steps_to_recover(curve, base_rate), curve_auc=curve_auc(curve))
    return {
        "metrics": metrics,
        "ci95": ci,
        "keys": {"model": res["model"].key, "attack": res["key"], **keys},
        "curve": curve,
        "attack_info": {"train": {k: res["info"]["train"].get(k) for k in ("steps", "seconds")}},
    }
