"""The attack stage: one prompt or weight attack on one model, resumable per prompt or checkpoint."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from bench import contract, registry
from bench.attacks import PromptJob, WeightJob
from bench.board.load import plugin_of
from bench.board.typed import to_dict
from bench.modeling import save_model, seed_everything, torch_dtype
from bench.stages.runtime import CORE, ModelRef, Runtime, Splits, scorer_identity, software
from bench.store import append_jsonl, fault, make_key, resume_jsonl


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
    return the attacked model and the checkpoints of its curve.

    The key is the attack's content: the plugin that runs (never the row's name), its version and
    config, the model, the targets, the seed; two rows that run the same plugin with the same
    config share one artifact. A checkpoint the plugin declares to be its input on a model with no
    edit (``unchanged_on_base``: ``ablate``'s direction is then zero) is neither saved nor measured
    again: its reference is the attacked model's own, so its generations, scores and utility are
    the ones already stored for the model."""
    use = plugin_of(rt.board.attacks, name)
    plugin = registry.load("attacks", use)
    needs_base = contract.value("attacks", plugin, "NEEDS_BASE")
    same = set(plugin.unchanged_on_base(cfg)) if unedited(plugin, model, base) else set()
    train_items = data["attack_prompts"] if train_items is None else train_items
    key = make_key(
        kind="attack",
        model=model.key,
        base=base.key if needs_base else None,
        data=data.key,
        attack=use,  # the plugin, not the row: a plain entry keeps the key it had by name
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
            if step not in same and not out.exists():  # stored in the board's dtype, like the final model
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
            # benign text unrelated to the toxic register (never the pairs' answers: that is a detox)
            benign_texts=data["relearn_benign"],
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
            if step not in same:  # the attacked model itself: stored already, not copied
                (partial / f"step-{step}").rename(tmp / "curve" / f"step-{step}")
        return {"train": stats, "curve_steps": marks, "points": stats.get("points")}

    path = rt.stage("attack", key, f"{name} on {label}", make)
    info = json.loads((path / "_artifact.json").read_text())
    if plugin.KIND == "prompt":
        return {"kind": "prompt", "result": json.loads((path / "result.json").read_text()), "key": key}
    curve = [
        (
            s,
            model
            if s in same
            else ModelRef(make_key(parent=key, step=s), str(path / "curve" / f"step-{s}"), model.spec),
        )
        for s in info["curve_steps"]
    ]
    return {
        "kind": "weights",
        "model": ModelRef(key, str(path / "model"), model.spec),
        "curve": curve,
        "info": info,
        "key": key,
    }


def unedited(plugin, model: ModelRef, base: ModelRef) -> bool:
    """Whether ``plugin`` attacks a model that is its own base (the method ``none``, or the oracle
    attacked with its own directions: one key) and declares checkpoints that are then its input."""
    return (
        contract.value("attacks", plugin, "NEEDS_BASE")
        and hasattr(plugin, "unchanged_on_base")
        and model.key == base.key
    )
