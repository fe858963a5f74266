"""What the CLI prints around a run: the dry run's grid (which trained models are cached), the
results table and where a run's time went."""

from __future__ import annotations

from pathlib import Path

from bench.board.load import Plan
from bench.progress import Reporter
from bench.store import Store, read_jsonl


def describe(plan: Plan, reporter: Reporter) -> None:
    """Print the grid and which trained models are already in the store."""
    from rich.table import Table

    from bench import stages
    from bench.board.load import plugin_of, seeded_spec

    board, store = plan.board, Store()
    table = Table(
        title=f"board {board.name}: {len(board.models)} model(s) × {len(plan.methods)} method(s) × "
        f"{1 + len(plan.attacks)} attack row(s) × {len(board.seeds)} seed(s)"
    )
    for col in ("model", "method", "seed", "attacks", "trained model"):
        table.add_column(col)
    for spec, seeds in [(seeded_spec(m, s), [s]) for m in board.models if m.reseed for s in board.seeds] + [
        (m, board.seeds) for m in board.models if not m.reseed
    ]:
        if spec.name == "organism":
            base = stages.ModelRef(stages.organism_key(spec), "", spec)
            data_key = stages.organism_data_key(base, board.data.eval_limit)
            base_ready = store.has("organism", base.key)
        else:
            from bench.modeling import check_model_source

            check_model_source(spec.name)
            base = stages.ModelRef(stages.model_key(spec.name, spec.revision, spec.dtype), spec.name, spec)
            data_key, base_ready = stages.files_data_key(board.data), True
        for seed in seeds:
            for method, cfg in plan.methods.items():
                key = stages.method_key(base, data_key, method, cfg, seed, plugin_of(board.methods, method))
                ready = base_ready if method == "none" else store.has("method", key)
                if method == "oracle":
                    if not stages.has_oracle(spec):
                        table.add_row(
                            spec.label, method, str(seed), "–", "[yellow]no oracle: row skipped[/yellow]"
                        )
                        continue
                    ready = store.has("organism", key) if spec.name == "organism" else True
                table.add_row(
                    spec.label,
                    method,
                    str(seed),
                    ", ".join(["none", *plan.attacks]),
                    "[dim]cached[/dim]" if ready else "[yellow]to compute[/yellow]",
                )
    reporter.console.print(table)


def print_results(run_dir: Path, reporter: Reporter) -> None:
    import sys

    from rich.table import Table

    from bench.progress import console

    rows = read_jsonl(run_dir / "results.jsonl")
    table = Table(title="results (toxic rate with 95% CI)")
    for col in ("model", "method", "attack", "seed", "toxic rate", "tox mean", "ppl", "F1", "readout"):
        table.add_column(col)
    for r in rows:
        m, ci = r["metrics"], r["ci95"].get("toxic_rate", [None, None])
        f = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
        table.add_row(
            r["model"],
            r["method"],
            r["attack"],
            str(r["seed"]),
            f"{m['toxic_rate']:.3f} [{f(ci[0])}, {f(ci[1])}]",
            f(m["toxicity_mean"]),
            f(m.get("ppl"), 2),
            f(m.get("f1")),
            f((m.get("erasure") or {}).get("readout")),
        )
    console(sys.stdout).print(table)
    reporter.line(f"run record: {run_dir}")


def time_summary(manifest: dict) -> list[dict]:
    """Seconds by stage kind (computed and cached apart), largest first, from a run's manifest."""
    out: dict[str, dict] = {}
    for st in manifest["stages"]:
        row = out.setdefault(st["stage"], {"stage": st["stage"], "computed": 0, "cached": 0, "seconds": 0.0})
        row["cached" if st["cached"] else "computed"] += 1
        row["seconds"] += st["seconds"]
    return sorted(out.values(), key=lambda r: -r["seconds"])


def print_time_summary(run_dir: Path, reporter: Reporter, top: int = 5) -> None:
    """Where the run's time went: each stage kind's count and seconds, and the slowest stages."""
    import json
    import sys

    from rich.table import Table

    from bench.progress import console

    manifest = json.loads((run_dir / "manifest.json").read_text())
    total = manifest["seconds"] or 1e-9
    table = Table(title=f"time by stage (run {manifest['seconds']:.1f} s)")
    for col in ("stage", "computed", "cached", "seconds", "share of run"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    staged = 0.0
    for r in time_summary(manifest):
        staged += r["seconds"]
        table.add_row(
            r["stage"],
            str(r["computed"]),
            str(r["cached"]),
            f"{r['seconds']:.1f}",
            f"{r['seconds'] / total:.0%}",
        )
    table.add_row(
        "(outside stages)",
        "",
        "",
        f"{max(0.0, total - staged):.1f}",
        f"{max(0.0, total - staged) / total:.0%}",
    )
    out = console(sys.stdout)
    out.print(table)
    slow = sorted((s for s in manifest["stages"] if not s["cached"]), key=lambda s: -s["seconds"])[:top]
    if slow:
        out.print("slowest: " + "; ".join(f"{s['label']} ({s['stage']}) {s['seconds']:.1f} s" for s in slow))
