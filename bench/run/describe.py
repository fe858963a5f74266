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
    from bench.board.machine import hub_status
    from bench.board.schema import BASE, ORACLE

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
            data_key, base_ready = stages.files_data_key(board.data), hub_status(spec.name)
        for seed in seeds:
            for method, cfg in plan.methods.items():
                key = stages.method_key(base, data_key, method, cfg, seed, plugin_of(board.methods, method))
                ready = base_ready if method == BASE else store.has("method", key)
                if isinstance(ready, str):  # a model read from a folder or the hub: where it comes from
                    table.add_row(spec.label, method, str(seed), ", ".join(["none", *plan.attacks]), ready)
                    continue
                if method == ORACLE:
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


COMPACT = ("model", "method", "attack", "seed", "toxic rate", "ppl")
WIDE = (*COMPACT, "tox mean", "F1", "readout")
WIDE_AT = 110  # below this terminal width the table drops the columns after ppl (--wide keeps them)


def _f(v, d: int = 3) -> str:
    return "–" if v is None else f"{v:.{d}f}"


def result_cells(r: dict) -> dict[str, str]:
    """One result row's printed cells, by column name (the rate with its 95% interval)."""
    m, ci = r["metrics"], (r.get("ci95") or {}).get("toxic_rate") or [None, None]
    return {
        "model": r["model"],
        "method": r["method"],
        "attack": r["attack"] + (" (stale)" if r.get("stale") else ""),
        "seed": str(r["seed"]),
        "toxic rate": f"{m['toxic_rate']:.3f} [{_f(ci[0])}, {_f(ci[1])}]",
        "ppl": _f(m.get("ppl"), 2),
        "tox mean": _f(m.get("toxicity_mean")),
        "F1": _f(m.get("f1")),
        "readout": _f((m.get("erasure") or {}).get("readout")),
    }


def results_table(rows: list[dict], width: int | None = None, wide: bool = False):
    """The results as a rich table that fits ``width`` columns: the model and the interval are never
    cut (names that do not fit wrap), and below ``WIDE_AT`` the last columns are left out unless
    ``wide``."""
    from rich import box
    from rich.table import Table

    cols = WIDE if wide or width is None or width >= WIDE_AT else COMPACT
    title = "results (toxic rate with 95% CI)" + (
        "" if cols == WIDE else "; --wide for tox mean, F1, readout"
    )
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in cols:
        keep = col in ("model", "toxic rate", "seed", "ppl")
        table.add_column(col, no_wrap=keep, overflow="fold", min_width=len(col) if keep else None)
    for r in rows:
        cells = result_cells(r)
        table.add_row(*(cells[c] for c in cols))
    return table


def print_table(out, rows: list[dict], wide: bool = False) -> None:
    """The results table on console ``out``: fitted to its width, or whole with ``wide`` (lines
    then run past a narrow terminal instead of being cut)."""
    if wide:
        width, out.width = out.width, 10_000  # rich fits a table to the console: let this one be whole
        try:
            out.print(results_table(rows, None, True), crop=False)
        finally:
            out.width = width
    else:
        out.print(results_table(rows, out.width))


def print_results(run_dir: Path, reporter: Reporter, wide: bool = False) -> None:
    import sys

    from bench.progress import console

    print_table(console(sys.stdout), read_jsonl(run_dir / "results.jsonl"), wide)
    reporter.line(f"run record: {run_dir}")


def write_csv(rows: list[dict], stream) -> None:
    """The results as CSV with a header: each cell, its rate's interval and the stale mark."""
    import csv

    fields = [
        "board",
        "model",
        "method",
        "attack",
        "seed",
        "toxic_rate",
        "ci_low",
        "ci_high",
        "toxicity_mean",
        "ppl",
        "f1",
        "readout",
        "stale",
        "config_hash",
    ]
    w = csv.DictWriter(stream, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        m, ci = r["metrics"], (r.get("ci95") or {}).get("toxic_rate") or [None, None]
        w.writerow(
            {
                "board": r["board"],
                "model": r["model"],
                "method": r["method"],
                "attack": r["attack"],
                "seed": r["seed"],
                "toxic_rate": m["toxic_rate"],
                "ci_low": ci[0],
                "ci_high": ci[1],
                "toxicity_mean": m.get("toxicity_mean"),
                "ppl": m.get("ppl"),
                "f1": m.get("f1"),
                "readout": (m.get("erasure") or {}).get("readout"),
                "stale": bool(r.get("stale")),
                "config_hash": r.get("config_hash"),
            }
        )


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


def plugin_settings(kind: str, name: str) -> str:
    """``bench show``: a plugin's first docstring line, each ``Config`` field with its type, default
    and the comment beside it in the source, and the contract attributes it declares."""
    import dataclasses
    import inspect
    import re

    from bench import contract, registry

    plugin = registry.load(kind, name)
    comments: dict[str, str] = {}
    for cls in reversed(plugin.Config.__mro__):  # a subclass's comment wins over its base's
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, re.M):
            comments[m.group(1)] = m.group(2).strip()
    cfg = plugin.Config()
    doc = (plugin.__doc__ or "").strip().splitlines()
    lines = [f"{kind[:-1]} {name} ({plugin.__name__}): {doc[0] if doc else ''}", "", "settings (Config):"]
    for f in dataclasses.fields(cfg):
        kind_name = getattr(f.type, "__name__", None) or str(f.type)
        note = comments.get(f.name, "")
        lines.append(f"  {f.name}: {kind_name} = {getattr(cfg, f.name)!r}" + (f"  # {note}" if note else ""))
    declared = [a for a in contract.CONTRACT[kind] if a.name[0].isupper() and a.name not in ("Config",)]
    lines += ["", "declared (bench/contract.py):"]
    for a in declared:
        lines.append(f"  {a.name} = {contract.value(kind, plugin, a.name)!r}")
    return "\n".join(lines)
