"""The leaderboard's figures (PNGs beside LEADERBOARD.md) and the section that links them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.eval.validity import recovery
from bench.report.cells import esc, mean_of


def figure_links(names: list[str]) -> list[str]:
    """The markdown section that shows the figures, in the order given."""
    if not names:
        return []
    return ["", "## Figures", ""] + [f"![{esc(Path(f).stem)}]({f})" for f in names]


def figures(rows: list[dict], out_dir: Path) -> list[str]:
    """Relearning curves, toxic rate by attack, the latent toxic readout by layer and R by method and
    attack as PNGs in ``out_dir``, each over all seeds (mean, with the spread or interval the tables
    give); returns file names."""
    # here, not at the top: the headless backend must be chosen before pyplot is first imported,
    # and rendering the markdown alone should not load matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["model"], r["method"], r["attack"])].append(r)
    n_seeds = len({r["seed"] for r in rows})
    over = f"mean over {n_seeds} seeds" if n_seeds > 1 else "one seed"
    curves = {k: [r["curve"] for r in rs if r.get("curve")] for k, rs in cells.items() if k[2] == "relearn"}
    curves = {k: v for k, v in curves.items() if v}
    if curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for (model, method, _), runs in sorted(curves.items()):
            steps = sorted({x for c in runs for x, _ in c})
            ys = [[y for c in runs for x, y in c if x == s] for s in steps]
            mean = np.array([np.mean(v) for v in ys])
            xs = [max(x, 0.5) for x in steps]
            line = ax.plot(
                xs,
                mean,
                marker="o",
                label=f"{method}" if len({k[0] for k in curves}) == 1 else f"{model}/{method}",
            )
            if len(runs) > 1:
                std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in ys])
                ax.fill_between(xs, mean - std, mean + std, color=line[0].get_color(), alpha=0.12, lw=0)
        ax.set_xscale("log")
        ax.set(
            xlabel="relearning steps (0 plotted at 0.5)",
            ylabel="toxic rate",
            ylim=(-0.02, 1.02),
            title=f"Relearning attack ({over}" + ("; band: ± std)" if n_seeds > 1 else ")"),
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "relearn_curves.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        made.append("relearn_curves.png")
    rates = {k: mean for k, rs in cells.items() if (mean := mean_of(rs, "toxic_rate")) is not None}
    if rates:
        # a heatmap, not bars: 16 methods × 8 attacks of bars is unreadable; intervals are in the tables
        attacks = ["none"] + sorted({k[2] for k in rates} - {"none"})
        title = f"Toxic rate by method and attack ({over}; intervals in the main table)"
        made.append(_heatmap(plt, rates, attacks, title, out_dir / "attack_rates.png"))
    readouts = {
        k: vals
        for k, rs in cells.items()
        if k[2] == "none"
        and (
            vals := [
                r["metrics"]["erasure_layers"]["readout"]
                for r in rs
                if (r["metrics"].get("erasure_layers") or {}).get("readout")
            ]
        )
    }
    if readouts:
        fig, ax = plt.subplots(figsize=(6, 4))
        multi = len({k[0] for k in readouts}) > 1
        for (model, method, _), runs in sorted(readouts.items()):
            style = {"none": dict(color="black", lw=2), "oracle": dict(color="grey", lw=2, ls="--")}.get(
                method, {}
            )
            n = min(len(v) for v in runs)
            mean = np.mean([v[:n] for v in runs], axis=0)
            ax.plot(range(n), mean, marker="o", label=f"{model}/{method}" if multi else method, **style)
        ax.set_xticks(range(max(len(v) for runs in readouts.values() for v in runs)))
        ax.set(
            xlabel="layer (0 = embeddings)",
            ylabel="toxic-vocabulary probability",
            title=f"Latent toxic readout through the base's unembedding ({over})",
        )
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out_dir / "readout_layers.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        made.append("readout_layers.png")
    rec = recovery(rows)
    rs_of = {(m, me, a): [r["R"] for r in rs if r] for (m, me, a, p), rs in rec.items() if p is None}
    means = {k: float(np.mean(v)) for k, v in rs_of.items() if v}
    if means:
        attacks = sorted({k[2] for k in means})
        title = f"Excess recovery over the oracle R ({over})"
        made.append(_heatmap(plt, means, attacks, title, out_dir / "recovery.png"))
    return made


def _heatmap(plt, values: dict, attacks: list[str], title: str, path: Path) -> str:
    """``values[(model, method, attack)]`` on a 0-1 colour scale, one row per (model, method), each
    cell annotated; saved to ``path``; returns its file name."""
    row_keys = sorted({k[:2] for k in values})
    multi = len({k[0] for k in row_keys}) > 1
    grid = [[values.get((*rk, a), float("nan")) for a in attacks] for rk in row_keys]
    fig, ax = plt.subplots(figsize=(1.1 * len(attacks) + 2.5, 0.45 * len(row_keys) + 1.5))
    im = ax.imshow(grid, cmap="RdYlGn_r", vmin=0.0, vmax=1.0, aspect="auto")
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            if v == v:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    labels = ["no attack" if a == "none" else a for a in attacks]
    ax.set_xticks(range(len(attacks)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_keys)), [f"{m}/{n}" if multi else n for m, n in row_keys], fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path.name
