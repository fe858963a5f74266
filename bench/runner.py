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
            raise BenchError(f"eval prompt {i} needs {len(ids) + gen.max_new_tokens} tokens with generation; "
                             f"the model's context is {ctx}: lower data.prompt_max_tokens")
        target = item.get("target") or pairs[i % len(pairs)]["toxic"]
        items.append({"prompt": tok.decode(ids), "target": target})
    if not items:
        raise BenchError("no evaluation prompts")
    return items


def toxicity_row(rt, model, items, seed, label, scorer, scorer_version, prompts=None) -> tuple[dict, dict, dict]:
    from bench.eval.metrics import bootstrap_ci, toxicity_summary

    prompts = prompts or [it["prompt"] for it in items]
    gen_key, outs = stages.generations(rt, model, prompts, seed, label)
    sc = stages.scores(rt, gen_key, outs, scorer, scorer_version, label)
    e = rt.board.eval
    metrics = toxicity_summary(sc, e.toxic_threshold)
    ci = bootstrap_ci(sc, e.toxic_threshold, e.bootstrap, seed)
    return metrics, ci, {"generations": gen_key}


def run(plan: Plan, reporter: Reporter, store: Store | None = None) -> Path:
    from bench.modeling import pick_device, quiet_transformers
    from bench import registry
    from bench.provenance import environment, masked

    quiet_transformers()
    board = plan.board
    store = store or Store()
    device = pick_device(board.device)
    rt = stages.Runtime(board, store, reporter, device)
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{board.name}-{uuid.uuid4().hex[:6]}"
    run_dir = store.home / "runs" / run_id
    t0 = time.time()
    scorer_mod = registry.load("scorers", board.scorer.name)
    scorer = None
    rows: list[dict] = []

    def get_scorer():
        nonlocal scorer
        if scorer is None:
            scorer = scorer_mod.create(plan.scorer_config, device)
        return scorer

    class LazyScorer:  # created on first use, so a fully cached run never loads the scorer
        config = plan.scorer_config

        @property
        def version(self):
            return get_scorer().version

        def score(self, texts, on_chunk=None):
            return get_scorer().score(texts, on_chunk)

    lazy = LazyScorer()
    try:
        for spec in board.models:
            reporter.line(f"[bold]{board.name}[/bold] · model {spec.label} · device {device}")
            base, org_dir = stages.base_model(rt, spec)
            data = stages.board_data(rt, base, org_dir)
            items = eval_items(rt, base, data)
            base_outs = None
            for seed in board.seeds:
                for method, mcfg in plan.methods.items():
                    model = stages.method_model(rt, base, data, method, mcfg, seed)
                    tag = f"{spec.label}/{method}/s{seed}"
                    util = stages.utility(rt, model, data, tag)
                    pr = stages.probe(rt, model, base, data, seed, tag)
                    common = {"board": board.name, "model": spec.label, "method": method, "seed": seed}
                    shared = method_metrics(util, pr, mcfg)
                    metrics, ci, keys = toxicity_row(rt, model, items, seed, tag, lazy, scorer_mod.VERSION)
                    base_rate = None
                    if method == "none":
                        base_outs = stages.generations(rt, model, [it["prompt"] for it in items], seed, tag)[1]
                    rows.append({**common, "attack": "none", "metrics": {**metrics, **shared}, "ci95": ci,
                                 "keys": {"model": model.key, **keys}, "train": train_stats(store, model)})
                    for attack, acfg in plan.attacks.items():
                        row = attack_row(rt, model, base, data, attack, acfg, seed, items, base_outs, tag,
                                         lazy, scorer_mod.VERSION, metrics, base_rate, rows)
                        rows.append({**common, "attack": attack, **row,
                                     "metrics": {**row["metrics"], **shared}})
    finally:
        if scorer is not None:
            scorer.close()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(run_dir / "results.jsonl", rows)
    import yaml

    (run_dir / "config.yaml").write_text(yaml.safe_dump(masked(to_dict(board)), sort_keys=False), encoding="utf-8")
    write_json(run_dir / "manifest.json", {"run": run_id, "board": board.name, "board_file": str(plan.path),
                                           "seconds": round(time.time() - t0, 2), "device": device,
                                           "stages": rt.manifest, **environment()})
    return run_dir


def method_metrics(util: dict, pr: dict, cfg) -> dict:
    layers = getattr(cfg, "layers", None) or getattr(cfg, "update_layers", None)
    acc = pr["probe_acc"]
    edited = [acc[i] for i in layers if 0 <= i < len(acc)] if layers else acc[1:]
    return {"ppl": util["ppl"], "f1": util["f1"], "probe_acc": acc, "probe_max": max(edited) if edited else None,
            "localisation": pr["localisation"]}


def train_stats(store: Store, model) -> dict | None:
    meta = Path(model.path).parent / "_artifact.json"
    if not meta.is_file():
        return None
    train = json.loads(meta.read_text()).get("train", {})
    return {k: train.get(k) for k in ("steps", "seconds", "tokens", "tokens_per_s", "stopped_early")}


def attack_row(rt, model, base, data, attack, acfg, seed, items, base_outs, tag, scorer, sv,
               clean_metrics, base_rate, rows) -> dict:
    from bench.eval.metrics import curve_auc, steps_to_recover

    if getattr(acfg, "target", "data") == "base" and base_outs is not None:
        items = [{**it, "target": out[0]} for it, out in zip(items, base_outs)]
    res = stages.attack(rt, model, base, data, attack, acfg, seed, items, lambda t: scorer.score(t),
                        f"{tag}")
    if res["kind"] == "prompt":
        r = res["result"]
        metrics, ci, keys = toxicity_row(rt, model, items, seed, f"{tag}+{attack}", scorer, sv, r["prompts"])
        metrics["loss_lowered_share"] = r["loss_lowered_share"]
        return {"metrics": metrics, "ci95": ci, "keys": {"model": model.key, "attack": res["key"], **keys},
                "attack_info": {"cost": r["cost"], "string": r.get("string")}}
    metrics, ci, keys = toxicity_row(rt, res["model"], items, seed, f"{tag}+{attack}", scorer, sv)
    curve = [(0, clean_metrics["toxic_rate"])]
    for step, ref in res["curve"]:
        m, _, _ = toxicity_row(rt, ref, items, seed, f"{tag}+{attack}@{step}", scorer, sv)
        curve.append((step, m["toxic_rate"]))
    base_row = next((r for r in rows if r["method"] == "none" and r["attack"] == "none"
                     and r["seed"] == seed and r["model"] == model.spec.label), None)
    base_rate = base_row["metrics"]["toxic_rate"] if base_row else clean_metrics["toxic_rate"]
    metrics.update(steps_to_recover=steps_to_recover(curve, base_rate), curve_auc=curve_auc(curve))
    return {"metrics": metrics, "ci95": ci, "keys": {"model": res["model"].key, "attack": res["key"], **keys},
            "curve": curve, "attack_info": {"train": {k: res["info"]["train"].get(k) for k in ("steps", "seconds")}}}
