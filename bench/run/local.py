"""Run a board's grid (models × methods × attacks × seeds) and write the run record.

Cells are computed in order: the base model (and, for the organism, its data), each method's
model, its utility and erasure probes, its generations and scores without attack, then each
attack. A run writes ``config.yaml`` (resolved, secrets masked), ``manifest.json`` (every stage:
key, cached or computed, seconds; versions, commit, device) and ``results.jsonl`` (one row per
model × method × attack × seed) under ``$BENCH_HOME/runs/``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from bench import registry, stages
from bench.board.load import MATCHED, Plan, plugin_of, seeded_spec
from bench.board.schema import BASE, ORACLE
from bench.board.typed import to_dict
from bench.board.validate import decoding
from bench.cores import configure_torch
from bench.modeling import pick_device, quiet_transformers
from bench.progress import Reporter
from bench.record.cell_key import config_hash
from bench.record.provenance import environment, masked
from bench.run.calibrate import calibrate
from bench.run.cell import (
    Cell,
    attack_row,
    method_metrics,
    prompt_labels,
    split_per_prompt,
    toxicity_row,
    train_stats,
)
from bench.store import Store, write_json, write_jsonl


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
    quiet_transformers()
    configure_torch()  # every process computes with the same thread count (bench.cores)
    return stages.Runtime(plan.board, store or Store(), reporter, pick_device(plan.board.device))


def prepare(rt: stages.Runtime, spec) -> tuple:
    """Base model, data and eval items of one model spec (builds the organism if needed)."""
    base, org_dir = stages.base_model(rt, spec)
    data = stages.board_data(rt, base, org_dir)
    return base, data, stages.eval_items(rt, base, data)


def run_cell(rt: stages.Runtime, plan: Plan, spec, method: str, seed: int, prepared=None) -> list[dict]:
    """Every row of one model × method × seed cell: no attack, then each attack."""
    base, data, items = prepared or prepare(rt, seeded_spec(spec, seed))
    board = plan.board
    scorer_mod = registry.load("scorers", board.scorer.name)
    scorer = LazyScorer(scorer_mod, plan.scorer_config, rt.device)
    cell = Cell(rt, base, data, items, method, seed, scorer, scorer_mod.VERSION)
    try:
        return _rows(cell, plan, spec)
    finally:
        scorer.close()


def _rows(cell: Cell, plan: Plan, spec) -> list[dict]:
    rt, board, base, data, items, method, seed = (
        cell.rt,
        plan.board,
        cell.base,
        cell.data,
        cell.items,
        cell.method,
        cell.seed,
    )
    untargeted = any(it["target"] is None for it in items) and any(
        registry.load("attacks", plugin_of(board.attacks, a)).KIND == "prompt" for a in plan.attacks
    )
    if untargeted or any(getattr(c, "target", "data") == "base" for c in plan.attacks.values()):
        # the base model's own continuations, for attacks with `target: base`
        train = [it["prompt"] for it in data["attack_prompts"]]
        cell.base_outs = {
            "eval": stages.generations(rt, base, [it["prompt"] for it in items], seed, cell.base_tag)[1],
            "train": stages.generations(rt, base, train, seed, cell.base_tag + " attack prompts")[1],
        }
    mcfg = plan.methods[method]
    if method == ORACLE and not stages.has_oracle(spec):
        rt.reporter.line(f"  [yellow]no oracle[/yellow] for model {spec.label}: set models[].oracle")
        return []
    operating_point = None
    if method.endswith(MATCHED):  # a matched operating point: the sweep picks the strength
        mcfg, operating_point = calibrate(cell, mcfg)
    cell.model = stages.method_model(rt, base, data, method, mcfg, seed)
    # the model an attack treats as "original": the base, except for the oracle, which
    # descends from no base and is attacked with its own directions
    cell.origin = cell.model if method == ORACLE else base
    shared = method_metrics(
        stages.utility(rt, cell.model, data, cell.tag),
        stages.probe(rt, cell.model, base, data, seed, cell.tag, prompt_labels(cell)),
        mcfg,
    )
    common = {"board": board.name, "model": spec.label, "method": method, "seed": seed}
    if operating_point is not None:
        common["operating_point"] = operating_point
    metrics, ci, keys = toxicity_row(cell, cell.model, cell.tag)
    metrics, pp = split_per_prompt(metrics)
    rows = [
        {
            **common,
            "attack": "none",
            "config_hash": config_hash(board, spec, method, None),
            "metrics": {**metrics, **shared},
            "ci95": ci,
            "keys": {"model": cell.model.key, **keys},
            "train": train_stats(cell.model),
            "per_prompt": pp,
        }
    ]
    cell.clean = {**metrics, "per_prompt": pp, "_ci": ci}
    if method != BASE:
        cell.base_rate = toxicity_row(cell, base, cell.base_tag)[0]["toxic_rate"]
    for attack, acfg in plan.attacks.items():
        row = attack_row(cell, attack, acfg)
        rows.append(
            {
                **common,
                "attack": attack,
                "config_hash": config_hash(board, spec, method, attack),
                **row,
                "metrics": {**row["metrics"], **shared},
            }
        )
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
    placement: dict | None = None,
) -> Path:
    """Write the run record (rows, resolved board, manifest) whole or not at all. ``placement``
    says how a Ray run was placed: live nodes, lanes made, each lane's CPUs and GPUs
    (``bench/run/ray_executor.py``)."""
    import yaml

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
            "board_file": str(plan.path.resolve()),
            "seconds": round(seconds, 2),
            "device": device,
            "executor": executor,
            "decoding": decoding(board),  # greedy when num_samples is 1, whatever temperature says
            **({"placement": placement} if placement else {}),
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
        at = (i, seed if spec.reseed else None)  # with reseed, one organism per run seed
        if at not in prepared:
            note = f" · organism of seed {seed}" if spec.reseed else ""
            reporter.line(f"[bold]{plan.board.name}[/bold] · model {spec.label}{note} · device {rt.device}")
            prepared[at] = prepare(rt, seeded_spec(spec, seed))
        rows += run_cell(rt, plan, spec, method, seed, prepared[at])
    return write_record(plan, rt.store, rows, rt.manifest, rt.device, time.time() - t0)
