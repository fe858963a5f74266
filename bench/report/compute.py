"""R under relearning against the compute each row spent (UNDO, arXiv 2506.06278, traces robustness
against compute): a method's training tokens (a distilled method's own plus its teacher's), the
oracle at the organism's own training tokens (a full retrain), on a log axis; R with its interval
over seeds (:func:`bench.eval.intervals.seed_interval`), a line per row beside its tokens."""

from __future__ import annotations

from pathlib import Path

from bench.eval import validity
from bench.eval.intervals import seed_interval

ATTACK = "relearn"


def organism_tokens(rows: list[dict]) -> dict[tuple, float]:
    """{(model, seed): tokens the organism's training processed}, read off a distilled row's stats
    (its distillation tokens over their ratio to the organism's)."""
    out = {}
    for r in rows:
        t = r.get("train") or {}
        if t.get("distill_tokens") and t.get("token_ratio"):
            out[(r["model"], r["seed"])] = t["distill_tokens"] / t["token_ratio"]
    return out


def compute_points(rows: list[dict], rec: dict) -> list[dict]:
    """One point per (model, method) with R under relearning: mean training tokens over seeds (the
    oracle: the organism's own), R's mean and interval over seeds."""
    base = [r for r in rows if r["attack"] == "none"]
    own = {(r["model"], r["method"], r["seed"]): (r.get("train") or {}).get("tokens") for r in base}
    organism = organism_tokens(base)
    out = []
    for (model, method, attack, point), rs in rec.items():
        if attack != ATTACK or point is not None or method == "none" or method in validity.CONTROLS:
            continue  # the base and the suppressed-by-construction controls spend no detox compute
        vals = [r["R"] for r in rs if r and r.get("R") is not None]
        seeds = sorted({r["seed"] for r in base if (r["model"], r["method"]) == (model, method)})
        tokens = []
        for s in seeds:
            if method == "oracle":
                tokens.append(organism.get((model, s)))
                continue
            t = own.get((model, method, s))
            row = next((r for r in base if (r["model"], r["method"], r["seed"]) == (model, method, s)), {})
            teacher = (row.get("train") or {}).get("teacher")
            if t is not None and teacher and teacher != "self":
                t += own.get((model, teacher, s)) or 0
            tokens.append(t)
        tokens = [t for t in tokens if t]
        if not vals or not tokens:
            continue
        q = seed_interval(vals)
        out.append(
            {
                "model": model,
                "method": method,
                "tokens": sum(tokens) / len(tokens),
                "R": q["value"],
                "lo": q["lo"],
                "hi": q["hi"],
            }
        )
    return out


def compute_figure(plt, rows: list[dict], rec: dict, path: Path) -> str | None:
    """R under relearning beside the compute each row spent: one line per row, least compute at the
    top; the training tokens on a log axis on the left, R with its interval over seeds on the right.
    Methods are named on the shared axis, so no label can run into another (a scatter of 17 rows puts
    five of them at the same token count)."""
    points = compute_points(rows, rec)
    if len(points) < 2:
        return None
    points = sorted(points, key=lambda p: (p["tokens"], p["R"], p["model"], p["method"]))
    several = len({p["model"] for p in points}) > 1
    fig, (left, right) = plt.subplots(
        1,
        2,
        sharey=True,
        width_ratios=[1, 1.5],
        figsize=(8.5, 0.27 * len(points) + 1.7),
        layout="constrained",
    )
    ys = range(len(points))
    colours = [_colour(p["method"]) for p in points]
    left.hlines(ys, [min(p["tokens"] for p in points) / 2] * len(points), [p["tokens"] for p in points],
                colors="0.85", lw=0.8)  # fmt: skip
    left.scatter([p["tokens"] for p in points], ys, c=colours, s=18, zorder=3)
    left.set_xscale("log")
    left.set_xlabel("training tokens (log scale)", fontsize=8)
    for p, y, colour in zip(points, ys, colours):
        err = None if p["lo"] is None else [[p["R"] - p["lo"]], [p["hi"] - p["R"]]]
        right.errorbar([p["R"]], [y], xerr=err, fmt="o", color=colour, capsize=2.5, ms=4, lw=1.2)
    right.axvline(0, color="grey", lw=0.6)
    right.axvline(1, color="grey", lw=0.6, ls=":")
    right.set_xlabel(f"R under {ATTACK} (0 = oracle, 1 = base; 95% interval over seeds)", fontsize=8)
    left.set_yticks(
        list(ys), [(f"{p['model']}/" if several else "") + p["method"] for p in points], fontsize=8
    )
    left.invert_yaxis()
    for ax in (left, right):
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.25, lw=0.5)
    fig.suptitle(
        f"R under {ATTACK} against training compute (mean over seeds; least compute at the top)\n"
        "a distilled method counts its teacher's tokens too; the oracle, a full retrain of the organism",
        fontsize=9,
    )
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path.name


def _colour(method: str) -> str:
    return "black" if method == "oracle" else "tab:purple" if method.startswith("undo") else "tab:blue"
