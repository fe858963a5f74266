"""The leaderboard's figures (PNGs beside LEADERBOARD.md) and the section that links them.

A board has some twenty rows, too many lines for one plot and too many colours for one cycle, so
curves (relearning, the latent readout by layer) are small multiples: one panel per method, its
``@matched`` row beside it, each drawn against the same model's base and oracle, methods and the
zoo's known-answer controls in separate blocks, one legend of line styles outside the panels.
The heatmaps (toxic rate, R) list the methods above the zoo; the R heatmap marks attacks whose
budget is not certified (:func:`uncertified_attacks`). Every figure is over all seeds: the mean,
with ± one standard deviation over seeds as a band where there are several.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.board.load import MATCHED
from bench.eval import validity
from bench.eval.recovery import recovery
from bench.report.cells import esc, mean_of

# drawn in every panel as the two ends of the scale, and never as panels of their own
ANCHORS = {
    "none": ("base (none)", dict(color="black", lw=1.4)),
    "oracle": ("oracle", dict(color="0.5", lw=1.4, ls="--")),
}
DEFAULT_STYLE = dict(color="tab:blue", lw=1.8, marker="o", ms=3.5)
MATCHED_STYLE = dict(color="tab:orange", lw=1.8, ls="-.", marker="s", ms=3.5)
# the known-answer controls, shown apart from the methods they validate
CONTROLS = [m for m in validity.ZOO if m not in ANCHORS] + list(validity.NEURONS.values())
SAVE = dict(dpi=110, metadata={"Software": None})


def figure_links(names: list[str]) -> list[str]:
    """The markdown section that shows the figures, in the order given."""
    if not names:
        return []
    return ["", "## Figures", ""] + [f"![{esc(Path(f).stem)}]({f})" for f in names]


def uncertified_attacks(rows: list[dict]) -> set[tuple[str, str]]:
    """(model, attack) pairs whose R is no evidence at the board's budget, which the R heatmap marks:
    R fails (or cannot run) the known-answer validation, or a budget sweep ran and the board's budget
    is not certified (:func:`bench.eval.certify.gate`)."""
    from bench.eval.certify import certification, gate
    from bench.report.view import main_rows

    main = main_rows(rows)
    failing = {
        (c["model"], c["metric"].removeprefix("R "))
        for c in validity.validation(main)
        if c["kind"] == "robustness" and c["verdict"] != "passes"
    }
    return failing | set(gate(certification(rows), main))


def figures(rows: list[dict], out_dir: Path) -> list[str]:
    """Relearning curves, toxic rate by attack, the latent toxic readout by layer and R by method and
    attack as PNGs in ``out_dir``, each over all seeds (mean, with the spread or interval the tables
    give); returns file names."""
    # here, not at the top: the headless backend must be chosen before pyplot is first imported,
    # and rendering the markdown alone should not load matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.report.view import main_rows

    every, rows = rows, main_rows(rows)
    made = []
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["model"], r["method"], r["attack"])].append(r)
    n_seeds = len({r["seed"] for r in rows})
    over = f"mean over {n_seeds} seeds" if n_seeds > 1 else "one seed"
    band = "; band: ± std over seeds" if n_seeds > 1 else ""
    curves = {
        k[:2]: runs
        for k, rs in cells.items()
        if k[2] == "relearn" and (runs := [r["curve"] for r in rs if r.get("curve")])
    }
    if curves:
        title = f"Relearning attack: toxic rate vs fine-tuning steps\n({over}{band})"
        axis = ("relearning steps (log scale; 0 drawn at 0.5)", "toxic rate")
        _panels(plt, curves, title, axis, out_dir / "relearn_curves.png", log_steps=True)
        made.append("relearn_curves.png")
    rates = {k: mean for k, rs in cells.items() if (mean := mean_of(rs, "toxic_rate")) is not None}
    if rates:
        # a heatmap, not bars: 16 methods × 8 attacks of bars is unreadable; intervals are in the tables
        attacks = ["none"] + sorted({k[2] for k in rates} - {"none"})
        title = f"Toxic rate by method and attack ({over}; intervals in the main table)"
        made.append(_heatmap(plt, rates, attacks, title, out_dir / "attack_rates.png"))
    readouts = {}
    for (model, method, attack), rs in cells.items():
        runs = [r["metrics"]["erasure_layers"]["readout"] for r in rs if attack == "none" and _readout(r)]
        if runs:  # cut to the layers every seed has
            n = min(len(v) for v in runs)
            readouts[(model, method)] = [list(enumerate(v[:n])) for v in runs]
    if readouts:
        title = f"Latent toxic readout by layer, through the base's unembedding\n({over}{band})"
        axis = ("layer (0 = embeddings)", "toxic-vocabulary probability")
        _panels(plt, readouts, title, axis, out_dir / "readout_layers.png", log_steps=False)
        made.append("readout_layers.png")
    rec = recovery(rows)
    rs_of = {(m, me, a): [r["R"] for r in rs if r] for (m, me, a, p), rs in rec.items() if p is None}
    means = {k: float(np.mean(v)) for k, v in rs_of.items() if v}
    if means:
        attacks = sorted({k[2] for k in means})
        title = f"Excess recovery over the oracle R ({over}; 0 = oracle, 1 = base)"
        path = out_dir / "recovery.png"
        made.append(_heatmap(plt, means, attacks, title, path, marked=uncertified_attacks(every)))
    made += _certification_and_compute(plt, every, rows, rec, out_dir)
    return made


def _certification_and_compute(plt, every, rows, rec, out_dir: Path) -> list[str]:
    """R against attack budget (the certification sweep) and R under relearning against compute."""
    from bench.eval.certify import certification
    from bench.report.certification import board_budget_r, certification_figure
    from bench.report.compute import compute_figure

    made = []
    certs = certification(every)
    name = certification_figure(plt, certs, board_budget_r(rows, rec, certs), out_dir / "r_by_budget.png")
    if name:
        made.append(name)
    name = compute_figure(plt, rows, rec, out_dir / "r_by_compute.png")
    if name:
        made.append(name)
    return made


def _readout(row: dict) -> list | None:
    return (row["metrics"].get("erasure_layers") or {}).get("readout")


def _mean_std(runs: list[list]) -> tuple[list, np.ndarray, np.ndarray | None]:
    """The x values of the seeds' (x, y) runs, the mean y at each, and the sample std (None for one run)."""
    xs = sorted({x for run in runs for x, _ in run})
    ys = [[y for run in runs for x, y in run if x == s] for s in xs]
    mean = np.array([np.mean(v) for v in ys])
    std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in ys]) if len(runs) > 1 else None
    return xs, mean, std


def _panels(plt, series: dict, title: str, axis: tuple[str, str], path: Path, log_steps: bool) -> None:
    """``series[(model, method)]`` (the seeds' runs of (x, y)) as small multiples: one panel per
    model and method family (``NAME`` with ``NAME@matched``), each with that model's base and oracle."""
    multi = len({m for m, _ in series}) > 1
    families: dict[tuple, list[str]] = defaultdict(list)
    for model, method in sorted(series):
        if method not in ANCHORS:
            families[(model, method.removesuffix(MATCHED))].append(method)
    controls = sorted((k for k in families if k[1] in CONTROLS), key=lambda k: (CONTROLS.index(k[1]), k))
    blocks = [
        ("Methods", [k for k in families if k[1] not in CONTROLS]),
        ("Known-answer controls (zoo)", controls),
    ]
    blocks = [(name, keys) for name, keys in blocks if keys] or [
        ("", [(m, None) for m in sorted({m for m, _ in series})])
    ]
    ncols = min(5, max(len(keys) for _, keys in blocks))
    heights = [math.ceil(len(keys) / ncols) for _, keys in blocks]
    # at least 7.5 inches: room for the title and the legend beside one or two panels
    fig = plt.figure(figsize=(max(2.9 * ncols + 0.4, 7.5), 2.3 * sum(heights) + 1.5), layout="constrained")
    subfigs = fig.subfigures(len(blocks), 1, height_ratios=heights, squeeze=False)[:, 0]
    all_x = sorted({x for runs in series.values() for run in runs for x, _ in run})
    top = max(y for runs in series.values() for run in runs for _, y in run)
    ylim = (-0.02, 1.02) if log_steps else (min(0.0, top * -0.03), top * 1.08 or 1.0)
    # at most about 8 labelled ticks: a 26-layer model's layers would run into each other
    ticks = all_x[:: math.ceil(len(all_x) / 8)]
    xs_at = [max(x, 0.5) for x in ticks] if log_steps else ticks
    seen: dict[str, object] = {}
    for sf, (name, keys), rows in zip(subfigs, blocks, heights):
        axes = sf.subplots(rows, ncols, squeeze=False).ravel()
        if name:
            sf.suptitle(name, x=0.01, ha="left", fontsize=10, fontweight="bold")
        for i, ax in enumerate(axes):
            if i >= len(keys):
                ax.set_visible(False)
                continue
            model, family = keys[i]
            members = [m for m in ("none", "oracle") if (model, m) in series]
            members += families.get((model, family), [])
            for method in members:
                label, style = ANCHORS.get(method) or (
                    method,
                    MATCHED_STYLE if method.endswith(MATCHED) else DEFAULT_STYLE,
                )
                xs, mean, std = _mean_std(series[(model, method)])
                xs = [max(x, 0.5) for x in xs] if log_steps else xs
                (line,) = ax.plot(xs, mean, label=method, **style)
                if std is not None:
                    ax.fill_between(xs, mean - std, mean + std, color=style["color"], alpha=0.13, lw=0)
                kind = label if method in ANCHORS else "@matched" if method.endswith(MATCHED) else "default"
                seen.setdefault(kind, line)
            ax.set_title(family if family is not None else "base and oracle", fontsize=9)
            if multi:
                ax.set_title(model, fontsize=8, loc="right", color="0.35")
            if log_steps:
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(xs_at, [f"{x:g}" for x in ticks], fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_ylim(*ylim)
            ax.grid(alpha=0.25, lw=0.5)
            if i % ncols == 0:
                ax.set_ylabel(axis[1], fontsize=8)
            if i >= len(keys) - ncols:
                ax.set_xlabel(axis[0], fontsize=8)
    names = {"default": "method (default strength)", "@matched": "method@matched (calibrated)"}
    order = [k for k in ("base (none)", "oracle", "default", "@matched") if k in seen]
    fig.legend(
        [seen[k] for k in order],
        [names.get(k, k) for k in order],
        loc="outside lower center",
        ncols=len(order),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, **SAVE)
    plt.close(fig)


def _heatmap(plt, values: dict, attacks: list[str], title: str, path: Path, marked=frozenset()) -> str:
    """``values[(model, method, attack)]`` on a 0-1 colour scale, one row per (model, method), methods
    above the zoo's rows, each cell annotated; the columns of ``marked`` (model, attack) pairs are
    labelled "not certified" in red. Saved to ``path``; returns its file name."""
    zoo = list(validity.ZOO) + list(validity.NEURONS.values())
    row_keys = sorted(
        {k[:2] for k in values},
        key=lambda k: (k[1] in zoo, k[0], zoo.index(k[1]) if k[1] in zoo else 0, k[1]),
    )
    models = sorted({k[0] for k in row_keys})
    groups = [
        ("methods", [k for k in row_keys if k[1] not in zoo]),
        ("zoo (known answers)", [k for k in row_keys if k[1] in zoo]),
    ]
    groups = [(name, keys) for name, keys in groups if keys]
    fig, axes = plt.subplots(
        len(groups),
        1,
        figsize=(
            max(1.05 * len(attacks) + 3.2, 7.5),  # room for the title and the note
            0.36 * len(row_keys) + 0.5 * len(groups) + 1.8,
        ),
        height_ratios=[len(keys) for _, keys in groups],
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, (name, keys) in zip(axes[:, 0], groups):
        grid = [[values.get((*rk, a), float("nan")) for a in attacks] for rk in keys]
        im = ax.imshow(grid, cmap="RdYlGn_r", vmin=0.0, vmax=1.0, aspect="auto")
        for i, line in enumerate(grid):
            for j, v in enumerate(line):
                if v == v:  # the dark ends of the colour scale take white text
                    colour = "white" if v < 0.15 or v > 0.85 else "black"
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=colour)
        labels = [
            (f"{m}/{n}" if len(models) > 1 else n) + (" (base)" if n == "none" else "") for m, n in keys
        ]
        ax.set_yticks(range(len(keys)), labels, fontsize=8)
        ax.set_ylabel(name, fontsize=9)
    # a whole column is marked: every cell of an uncertified attack would hide the numbers under hatching
    failing = {a: [m for m in models if (m, a) in marked] for a in attacks}
    xlabels = [
        ("no attack" if a == "none" else a)
        + (
            ""
            if not failing[a]
            else "\nnot certified"
            if len(failing[a]) == len(models)
            else f"\nnot certified: {', '.join(failing[a])}"
        )
        for a in attacks
    ]
    axes[-1, 0].set_xticks(range(len(attacks)), xlabels, rotation=30, ha="right", fontsize=8)
    for a, tick in zip(attacks, axes[-1, 0].get_xticklabels()):
        tick.set_color("firebrick" if failing[a] else "black")
    fig.colorbar(im, ax=axes[:, 0].tolist(), fraction=0.04, pad=0.02)
    if any(failing.values()):
        fig.supxlabel(
            "red, not certified: the attack's R did not pass its known-answer validation,\n"
            "or its budget sweep on the zoo did not certify the board's budget",
            fontsize=8,
            color="firebrick",
        )
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, **SAVE)
    plt.close(fig)
    return path.name
