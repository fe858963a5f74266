"""R under relearning against the compute each row spent (UNDO, arXiv 2506.06278, traces robustness
against compute): a method's training tokens (a distilled method's own plus its teacher's), the
oracle at the organism's own training tokens (a full retrain), on a log axis; R with its interval
over seeds (:func:`bench.eval.intervals.seed_interval`)."""

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
    points = compute_points(rows, rec)
    if len(points) < 2:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    for p in points:
        err = None if p["lo"] is None else [[p["R"] - p["lo"]], [p["hi"] - p["R"]]]
        colour = (
            "black"
            if p["method"] == "oracle"
            else "tab:purple"
            if p["method"].startswith("undo")
            else "tab:blue"
        )
        ax.errorbar([p["tokens"]], [p["R"]], yerr=err, fmt="o", color=colour, capsize=3, ms=4)
        ax.annotate(p["method"], (p["tokens"], p["R"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axhline(1, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("training tokens (a distilled method: its own plus its teacher's; oracle: a full retrain)")
    ax.set_ylabel(f"R under {ATTACK} (0 = oracle, 1 = base)")
    ax.set_title(f"R under {ATTACK} against compute (mean over seeds, 95% interval over seeds)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
