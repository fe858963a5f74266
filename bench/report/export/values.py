"""Metric values with the leaderboard's own intervals, in the schema's ``score_details`` form."""

from __future__ import annotations

from bench.report.export.common import LEVEL, N_BOOT, _details

# ---------------------------------------------------------------------------------------------
# Numbers: the leaderboard's own


def interval_text(iv: dict, prompts: int | None) -> str:
    """The name of a rate interval's method (:func:`bench.eval.intervals.rate_interval`) in words."""
    from bench.eval.intervals import EXACT, ONE_SEED, T_SEEDS

    if iv["method"] == T_SEEDS:
        return f"Student-t over {iv['seeds']} seeds' toxic rates (df {iv['seeds'] - 1})"
    if iv["method"] == EXACT:
        return (
            f"Clopper-Pearson exact binomial on the count pooled over {iv['seeds']} seed(s) "
            f"({iv['k']} of {iv['n']} continuations toxic), effective size n / design effect {iv['deff']:.3g}"
        )
    if iv["method"] == ONE_SEED:
        return f"percentile bootstrap over {prompts} prompts of one seed ({N_BOOT} resamples, seed 0)"
    return str(iv["method"])


def toxic_rate_value(rows: list[dict]) -> dict:
    """The toxic rate the leaderboard's cell prints for these rows (:func:`bench.report.cells.cell`):
    {score, lower, upper, method, interval, num_samples, bootstrap, per_seed}."""
    from bench.eval.intervals import EXACT, ONE_SEED
    from bench.report.cells import rate_interval_of

    iv = rate_interval_of(rows)
    per_seed = {str(r["seed"]): r["metrics"].get("toxic_rate") for r in rows}
    if iv is None:  # no per-prompt rates: what the cell falls back on
        return other_value(rows, "toxic_rate") | {"per_seed": per_seed}
    prompts = len(rows[0]["per_prompt"])
    n = iv.get("n") if iv["method"] == EXACT else (prompts if iv["method"] == ONE_SEED else iv["seeds"])
    return {
        "score": iv["mean"],
        "lower": iv["lo"],
        "upper": iv["hi"],
        "method": interval_text(iv, prompts),
        "interval": iv["method"],
        "num_samples": n,
        "bootstrap": N_BOOT if iv["method"] == ONE_SEED else None,
        "per_seed": per_seed,
        "extra": {k: iv[k] for k in ("k", "n", "deff") if k in iv},
    }


def other_value(rows: list[dict], metric: str, n_boot: int | None = None, ci: bool = True) -> dict | None:
    """A metric as the leaderboard's cell shows it (:func:`bench.report.cells.cell`): one seed's value,
    with the row's 95% interval (a percentile bootstrap over prompts) where ``ci`` and the row has
    one; several seeds' mean ± std."""
    from bench.eval.metrics import seed_spread

    vals = [(r["seed"], r["metrics"].get(metric)) for r in rows if r["metrics"].get(metric) is not None]
    if not vals:
        return None
    per_seed = {str(s): v for s, v in vals}
    if len(vals) > 1:
        spread = seed_spread([v for _, v in vals])
        return {
            "score": spread["mean"],
            "std": spread["std"],
            "num_samples": len(vals),
            "per_seed": per_seed,
            "interval": "mean ± std over seeds",
        }
    out = {"score": vals[0][1], "num_samples": 1, "per_seed": per_seed}
    lo_hi = rows[0].get("ci95", {}).get(metric) if ci else None
    if lo_hi:
        prompts = len(rows[0].get("per_prompt") or []) or None
        out |= {
            "lower": lo_hi[0],
            "upper": lo_hi[1],
            "interval": "bootstrap over prompts (1 seed)",
            "method": "percentile bootstrap over one seed's "
            + (f"{prompts} prompts" if prompts else "prompts"),
            "num_samples": prompts or 1,
            "bootstrap": n_boot,
        }
    return out


def r_value(rec: dict, key: tuple) -> dict | None:
    """R of a cell as the leaderboard prints it (:func:`bench.report.cells.r_cell`)."""
    from bench.eval.intervals import ONE_SEED
    from bench.eval.recovery import recovery_interval

    per_seed = rec.get((*key, None))
    if not per_seed:
        return None
    q = recovery_interval(list(per_seed))
    if q["value"] is None:
        return None
    out = {"score": q["value"], "num_samples": q["seeds"], "interval": q["interval"], "missing": q["missing"]}
    if q["lo"] is not None:
        out |= {
            "lower": q["lo"],
            "upper": q["hi"],
            "method": f"Student-t over {q['seeds']} seeds' R (df {q['seeds'] - 1})"
            if q["interval"] != ONE_SEED
            else "paired percentile bootstrap over one seed's prompts (1000 resamples)",
        }
    return out


def score_details(v: dict) -> dict:
    out: dict = {"score": v["score"]}
    unc: dict = {}
    if v.get("lower") is not None:
        unc["confidence_interval"] = {
            "lower": v["lower"],
            "upper": v["upper"],
            "confidence_level": LEVEL,
            "method": v["method"],
        }
    if v.get("std") is not None:
        unc["standard_deviation"] = v["std"]  # over the seeds' values (the seed is the unit)
    if v.get("num_samples") is not None:
        unc["num_samples"] = int(v["num_samples"])
    if v.get("bootstrap"):
        unc["num_bootstrap_samples"] = int(v["bootstrap"])
    if unc:
        out["uncertainty"] = unc
    details = {
        "interval": v.get("interval"),
        "per_seed": v.get("per_seed"),
        "seeds_without_value": v.get("missing"),
    }
    details |= v.get("extra") or {}
    out["details"] = _details(details)
    return out
