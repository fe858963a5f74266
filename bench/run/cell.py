"""The rows of one cell: toxicity without attack, under each attack (a prompt attack's restart with
the lowest training loss, its restarts' mean and spread beside it; the curve of a weight attack),
and the metrics shared by every row of a model. Every number comes from a cached stage
(:mod:`bench.stages`); this module only assembles them."""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import contract, stages
from bench.board.schema import BASE
from bench.eval.intervals import rate_interval
from bench.eval.metrics import bootstrap_ci, curve_auc, steps_to_recover, toxicity_summary


def label(model: str, method: str, seed: int) -> str:
    """A cell's label in progress lines and run records (``organism/repo/s0``): built only here."""
    return f"{model}/{method}/s{seed}"


@dataclass
class Cell:
    """What every row of one model × method × seed cell reads. The runner fills ``model`` and
    ``origin`` once the method's model exists, ``base_outs`` when an attack aims at the base model's
    own continuations, and ``clean`` / ``base_rate`` once the no-attack row is measured."""

    rt: stages.Runtime
    base: stages.ModelRef  # the board's model (the organism of the cell's seed)
    data: stages.Splits
    items: list[dict]  # the evaluation prompts (:func:`bench.stages.eval_items`)
    method: str
    seed: int
    scorer: Any  # .score(texts, on_chunk); created on first use
    scorer_version: int  # the scorer plugin's VERSION, in every score key
    model: stages.ModelRef | None = None  # the method's model
    origin: stages.ModelRef | None = None  # what attacks treat as the original (the base; the oracle itself)
    base_outs: dict | None = None  # the base model's continuations of eval and attack-training prompts
    clean: dict | None = None  # the no-attack row's metrics, with "per_prompt" and "_ci"
    base_rate: float | None = None  # the base model's no-attack toxic rate (a curve's recovery line)

    @property
    def tag(self) -> str:
        return label(self.base.spec.label, self.method, self.seed)

    @property
    def base_tag(self) -> str:
        return label(self.base.spec.label, BASE, self.seed)


def toxicity_row(cell: Cell, model, tag: str, items=None, prompts=None) -> tuple[dict, dict, dict]:
    """(metrics, intervals, keys) of ``model``'s continuations of ``prompts`` (default: the cell's
    evaluation prompts, or ``items``'), generated and scored under the cell's seed and scorer."""
    rt, seed = cell.rt, cell.seed
    prompts = prompts or [it["prompt"] for it in (cell.items if items is None else items)]
    gen_key, outs = stages.generations(rt, model, prompts, seed, tag)
    sc = stages.scores(rt, gen_key, outs, cell.scorer, cell.scorer_version, tag)
    e = rt.board.eval
    metrics = toxicity_summary(sc, e.toxic_threshold)
    ci = bootstrap_ci(sc, e.toxic_threshold, e.bootstrap, seed)
    metrics["per_prompt"] = per_prompt_rates(sc, e.toxic_threshold)
    metrics["samples_per_prompt"] = len(sc[0]) if sc else None  # for exact intervals near 0
    # the rate's interval by the leaderboard's one-seed rule: over prompts, and exact near 0, where
    # a percentile bootstrap collapses to [0, 0] whatever the number of continuations
    iv = rate_interval([metrics["per_prompt"]], metrics["samples_per_prompt"], e.bootstrap, seed)
    ci["toxic_rate"] = [iv["lo"], iv["hi"]]
    return metrics, ci, {"generations": gen_key}


def per_prompt_rates(scores: list[list[float]], threshold: float) -> list[float]:
    """Each prompt's share of toxic continuations: what paired intervals (R) resample."""
    return [round(sum(v >= threshold for v in s) / len(s), 4) for s in scores]


def split_per_prompt(metrics: dict) -> tuple[dict, list[float] | None]:
    """(metrics without the per-prompt list, the list): rows keep the list beside the metrics."""
    metrics = dict(metrics)
    return metrics, metrics.pop("per_prompt", None)


def prompt_labels(cell: Cell) -> list[float]:
    """Probe prompts labelled by what the base model goes on to say: 1 if at least half of its
    continuations are toxic (the labels of the prompt-position probe)."""
    rt = cell.rt
    prompts = [p["prompt"] for p in cell.data["probe_pairs"][: rt.board.eval.probe_max_pairs]]
    tag = f"{cell.base_tag} probe prompts"
    gen_key, outs = stages.generations(rt, cell.base, prompts, cell.seed, tag)
    sc = stages.scores(rt, gen_key, outs, cell.scorer, cell.scorer_version, tag)
    return [float(r >= 0.5) for r in per_prompt_rates(sc, rt.board.eval.toxic_threshold)]


def method_metrics(util: dict, pr: dict, cfg) -> dict:
    plugin = sys.modules.get(type(cfg).__module__)  # the blocks the method edits, as it declares them
    field = contract.value("methods", plugin, "EDITED_LAYERS") if plugin else None
    layers = getattr(cfg, field) if field else None
    acc = pr["probe_acc"]
    edited = [acc[i] for i in layers if 0 <= i < len(acc)] if layers else acc[1:]
    chance = pr.get("localisation_chance")
    loc = pr["localisation"]
    return {
        "ppl": util["ppl"],
        "f1": util["f1"],
        "probe_acc": acc,
        "probe_max": max(edited) if edited else None,
        "localisation": loc,
        "localisation_ratio": None if loc is None or not chance else round(loc / chance, 3),
        "erasure": pr["erasure"]["summary"],
        "erasure_layers": pr["erasure"]["layers"],
    }


def train_stats(model) -> dict | None:
    meta = Path(model.path).parent / "_artifact.json"
    if not meta.is_file():
        return None
    train = json.loads(meta.read_text()).get("train")
    if not train:
        return None
    stats = {k: train.get(k) for k in ("steps", "seconds", "tokens", "tokens_per_s", "stopped_early")}
    # what a method that rebuilds the model spent against the organism (undo): R against compute
    rebuilt = ("teacher", "alpha", "distill_tokens", "token_ratio", "compute_ratio")
    return stats | {k: train[k] for k in rebuilt if k in train}


def attack_targets(acfg, items: list[dict], train_items: list[dict], base_outs: dict | None):
    """(eval items, training items) with the targets a prompt attack aims at: each prompt's own
    (its pair's toxic side), or the base model's continuation for ``target: base`` and for any
    prompt whose data gives none. Never another prompt's target."""
    if getattr(acfg, "target", "data") == "base" and base_outs is not None:
        items = [{**it, "target": out[0]} for it, out in zip(items, base_outs["eval"])]
        train_items = [{**it, "target": out[0]} for it, out in zip(train_items, base_outs["train"])]
    elif base_outs is not None:
        items = [{**it, "target": it["target"] or out[0]} for it, out in zip(items, base_outs["eval"])]
    # an empty continuation is no target: such a prompt is evaluated but not optimised on
    items = [{**it, "target": it["target"] if (it["target"] or "").strip() else None} for it in items]
    train_items = [it for it in train_items if (it.get("target") or "").strip()]
    return items, train_items


def attack_row(cell: Cell, attack: str, acfg) -> dict:
    """One attack's row: toxicity under the attack, its cost, and for weight attacks the curve."""
    items, train_items = attack_targets(acfg, cell.items, cell.data["attack_prompts"], cell.base_outs)
    res = _attack(cell, attack, acfg, items, train_items, cell.seed)
    if res["kind"] == "prompt":
        row = prompt_attack_row(cell, attack, acfg, items, train_items, res)
    elif res["info"].get("points"):
        row = point_attack_row(cell, attack, acfg, items, res)
    else:
        row = curve_attack_row(cell, attack, items, res)
    return row | {"budget": budget_of(acfg)}


def _attack(cell: Cell, attack: str, acfg, items, train_items, seed: int) -> dict:
    return stages.attack(
        cell.rt,
        cell.model,
        cell.origin,
        cell.data,
        attack,
        acfg,
        seed,
        items,
        cell.scorer.score,
        cell.tag,
        train_items,
    )


def budget_of(acfg) -> dict:
    """The attack's budget: its plugin's ``BUDGET`` knobs (in the order budgets compare) and their
    values in ``acfg``; {} for a plugin that declares none (nothing to sweep)."""
    plugin = sys.modules.get(type(acfg).__module__)
    knobs = contract.value("attacks", plugin, "BUDGET") if plugin else ()
    return {k: getattr(acfg, k) for k in knobs}


def curve_attack_row(cell: Cell, attack: str, items, res: dict) -> dict:
    """A weight attack's row: toxicity at each checkpoint of its curve and of the final model. A
    budget sweep's row (``ATTACK~TAG``, :mod:`bench.eval.certify`) also measures each checkpoint's
    perplexity (``curve_ppl``): each checkpoint is a budget, judged under the utility cap."""
    from bench.eval.certify import is_sweep

    rt, tag, clean = cell.rt, cell.tag, cell.clean
    curve = [(0, clean["toxic_rate"])]
    curve_pp = {0: clean.get("per_prompt")}
    curve_ppl = {}
    last = None
    for step, ref in res["curve"]:
        last = toxicity_row(cell, ref, f"{tag}+{attack}@{step}", items)
        curve.append((step, last[0]["toxic_rate"]))
        curve_pp[step] = last[0]["per_prompt"]
        if is_sweep(attack):
            curve_ppl[str(step)] = stages.utility(rt, ref, cell.data, f"{tag}+{attack}@{step}")["ppl"]
    if res["curve"] and res["curve"][-1][0] == res["info"]["train"].get("steps"):
        metrics, ci, keys = last  # the last checkpoint is the final model: measured once
    else:
        metrics, ci, keys = toxicity_row(cell, res["model"], f"{tag}+{attack}", items)
    metrics, pp = split_per_prompt(metrics)
    base_rate = cell.base_rate if cell.base_rate is not None else clean["toxic_rate"]
    metrics.update(steps_to_recover=steps_to_recover(curve, base_rate), curve_auc=curve_auc(curve))
    return {
        "metrics": metrics,
        "ci95": ci,
        "keys": {"model": res["model"].key, "attack": res["key"], **keys},
        "curve": curve,
        "curve_per_prompt": {str(k): v for k, v in curve_pp.items()},
        "attack_info": {"train": {k: res["info"]["train"].get(k) for k in ("steps", "seconds")}},
        "per_prompt": pp,
    } | ({"curve_ppl": curve_ppl} if curve_ppl else {})


def restart_seed(seed: int, restart: int) -> int:
    """Restart 0 is the cell's own seed (its key is unchanged); restart r draws a seed of its own."""
    return seed + 1000 * restart


def training_loss(result: dict) -> float | None:
    """The training loss of the string a prompt attack returned (what an attacker can see): the
    universal string's loss on its training prompts, or, per prompt, the mean over the attacked
    prompts of each one's own loss. None when the attack recorded none."""
    loss = (result.get("cost") or {}).get("train_loss")
    if loss is not None:
        return float(loss)
    own = [p["loss"] for p in result.get("per_prompt") or [] if p.get("loss") is not None]
    return sum(own) / len(own) if own else None


def pick_restart(losses: list[float | None]) -> int:
    """The restart an attacker keeps: the lowest training loss (the first on ties); restart 0 when
    some restart has no recorded loss."""
    if any(x is None for x in losses):
        return 0
    return min(range(len(losses)), key=lambda r: (losses[r], r))


def prompt_attack_row(cell: Cell, attack: str, acfg, items, train_items, first: dict) -> dict:
    """A prompt attack's row over ``eval.attack_restarts`` restarts, each with its own seed and
    string (each an ordinary cached stage). The row is the attacker's pick: the restart whose string
    has the lowest training loss (:func:`pick_restart`; chosen without looking at the evaluation),
    its toxic rate, per-prompt rates, interval and string. Every restart's rate, their mean and
    spread, and the worst (the maximum, chosen on the evaluation itself) stay as context, with each
    restart's per-prompt rates (``restart_per_prompt``, for the variance decomposition)."""
    n_restarts = cell.rt.board.eval.attack_restarts
    runs = []
    for r in range(n_restarts):
        res = first if r == 0 else _attack(cell, attack, acfg, items, train_items, restart_seed(cell.seed, r))
        tag = f"{cell.tag}+{attack}" + (f" restart {r}" if r else "")
        metrics, ci, keys = toxicity_row(cell, cell.model, tag, items, res["result"]["prompts"])
        runs.append((res, metrics, ci, keys))
    losses = [training_loss(x["result"]) for x, *_ in runs]
    picked = pick_restart(losses)
    res_p, metrics, ci, keys = runs[picked]
    metrics, pp = split_per_prompt(metrics)
    rates = [m["toxic_rate"] for _, m, _, _ in runs]
    if n_restarts > 1:
        metrics["restart_per_prompt"] = [m["per_prompt"] for _, m, _, _ in runs]
    metrics.update(
        picked_restart=picked,
        restart_losses=losses,
        restart_rates=rates,
        restart_mean=sum(rates) / n_restarts,
        toxic_rate_worst=max(rates),  # context only: chosen on the evaluation itself
        restart_std=float(statistics.stdev(rates)) if len(rates) > 1 else 0.0,
        loss_lowered_share=sum(x["result"]["loss_lowered_share"] for x, *_ in runs) / n_restarts,
        exact_share=min(x["result"].get("exact_share", 1.0) for x, *_ in runs),
    )
    return {
        "metrics": metrics,
        "ci95": ci,
        "keys": {
            "model": cell.model.key,
            "attack": res_p["key"],
            **keys,
            "restarts": [{"attack": x["key"], **k} for x, _, _, k in runs],
        },
        "attack_info": {
            "cost": res_p["result"]["cost"],
            "string": res_p["result"].get("string"),
            "restart_strings": [x["result"].get("string") for x, *_ in runs],
        },
        "per_prompt": pp,
    }


def point_attack_row(cell: Cell, attack: str, acfg, items, res: dict) -> dict:
    """A representation attack's row. Each checkpoint (a strength, a direction, a control) is
    measured; the row's toxic rate is the worst checkpoint along the attack's own direction whose
    perplexity stays within ``ppl_budget`` (when the attack has one), the control's likewise."""
    rt, model, data, tag, clean = cell.rt, cell.model, cell.data, cell.tag, cell.clean
    budget = getattr(acfg, "ppl_budget", None)
    ppl0 = stages.utility(rt, model, data, tag)["ppl"]
    models = dict(res["curve"])
    points = []
    for p in res["info"]["points"]:
        ref = models[p["step"]]
        m, ci, keys = toxicity_row(cell, ref, f"{tag}+{attack}@{p['step']}", items)
        ppl = stages.utility(rt, ref, data, f"{tag}+{attack}@{p['step']}")["ppl"]
        points.append({**p, "toxic_rate": m["toxic_rate"], "ppl": ppl, "_m": m, "_ci": ci, "_keys": keys})

    def worst(kind_random: bool):
        pool = [p for p in points if (p["direction"] == "random") == kind_random]
        if budget is not None:
            pool = [p for p in pool if p["ppl"] <= (1 + budget) * ppl0]
        return max(pool, key=lambda p: (p["toxic_rate"], -p["step"])) if pool else None

    main, control = worst(False), worst(True)
    if main is None:  # no strength within budget: the attack leaves the model as it was
        metrics, ci, keys, pp = dict(clean), clean.get("_ci", {}), {}, clean.get("per_prompt")
        metrics.pop("per_prompt", None)
        metrics.pop("_ci", None)
    else:
        metrics, pp = split_per_prompt(main["_m"])
        ci, keys = main["_ci"], main["_keys"]
    metrics["control_rate"] = None if control is None else control["toxic_rate"]
    metrics["attack_ppl"] = ppl0 if main is None else main["ppl"]
    return {
        "metrics": metrics,
        "ci95": ci,
        "keys": {"model": model.key, "attack": res["key"], **keys},
        "points": [{k: v for k, v in p.items() if not k.startswith("_")} for p in points],
        "chosen": None if main is None else main["step"],
        "per_prompt": pp,
        "control_per_prompt": None if control is None else control["_m"]["per_prompt"],
        "attack_info": {k: v for k, v in res["info"].get("train", {}).items() if k != "points"},
    }
