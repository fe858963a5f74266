"""Text of single table cells: escaping, numbers, toxic rates with their intervals, values pooled
over seeds, R, and shares of the base-to-oracle gap. Every table of the leaderboard uses these."""

from __future__ import annotations

import statistics

from bench.eval.intervals import EXACT, ONE_SEED, rate_interval
from bench.eval.metrics import seed_spread
from bench.eval.recovery import recovery_interval
from bench.eval.validity import retained_share


def esc(value) -> str:
    """Markdown-table-safe text: no pipes, newlines, HTML or backticks can break the table."""
    s = str(value)
    for a, b in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("|", "\\|"),
        ("`", "'"),
        ("\r", " "),
        ("\n", " "),
    ):
        s = s.replace(a, b)
    return s


def fmt(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else esc(x)


def rate_interval_of(rows: list[dict]) -> dict | None:
    """A toxic rate over the seeds' rows with its 95% interval (:func:`bench.eval.intervals.rate_interval`:
    t over the per-seed rates; exact near 0; prompts with one seed): ``{mean, lo, hi, method}``;
    None without per-prompt rates. A prompt attack's row holds its picked restart's rates."""
    if not rows or not all(r.get("per_prompt") for r in rows):
        return None
    k = rows[0]["metrics"].get("samples_per_prompt")
    groups = [r["per_prompt"] for r in sorted(rows, key=lambda r: r["seed"])]
    return rate_interval(groups, k, 1000, 0)


MARKS = {EXACT: "†", ONE_SEED: "‡"}


def rate_cell(rows: list[dict], digits: int = 3) -> str | None:
    """:func:`rate_interval_of` as text; ``†`` marks the exact Clopper-Pearson interval, which
    :func:`bench.eval.intervals.rate_interval` uses when fewer than ``SPARSE`` continuations pooled
    over seeds are toxic or fewer than ``SPARSE`` are not (a 12-of-20 cell, 8 of them non-toxic, gets
    it; a 120-of-200 cell does not); ``‡`` an interval over one seed's prompts only."""
    iv = rate_interval_of(rows)
    if iv is None:
        return None
    mark = MARKS.get(iv["method"], "")
    return f"{iv['mean']:.{digits}f} [{iv['lo']:.{digits}f}, {iv['hi']:.{digits}f}]{mark}"


def cell(rows: list[dict], metric: str, digits: int = 3, ci: bool = True) -> str:
    """One value over the seeds' rows. Toxic rates: mean [95% interval over seeds].
    Other metrics: ``v [lo, hi]`` for one seed, ``mean ± std`` for several."""
    vals = [r["metrics"].get(metric) for r in rows if r["metrics"].get(metric) is not None]
    if not vals:
        return "–"
    if metric == "toxic_rate" and ci and (text := rate_cell(rows, digits)) is not None:
        return text
    if len(vals) > 1:
        spread = seed_spread(vals)
        return f"{spread['mean']:.{digits}f} ± {spread['std']:.{digits}f}"
    lo_hi = rows[0].get("ci95", {}).get(metric) if ci else None
    return (
        f"{vals[0]:.{digits}f} [{lo_hi[0]:.{digits}f}, {lo_hi[1]:.{digits}f}]"
        if lo_hi
        else fmt(vals[0], digits)
    )


def mean_of(rows: list[dict], metric: str) -> float | None:
    vals = [r["metrics"].get(metric) for r in rows if r["metrics"].get(metric) is not None]
    return statistics.mean(vals) if vals else None


def over_seeds(vals: list[float], digits: int) -> str | None:
    """One value as is; several as mean ± std over seeds; none as None."""
    if not vals:
        return None
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    spread = seed_spread(vals)
    return f"{spread['mean']:.{digits}f} ± {spread['std']:.{digits}f}"


def r_cell(rs: list) -> str:
    """R over the seeds (:func:`bench.eval.recovery.recovery_interval`): ``mean [lo, hi]``, a
    t-interval over the per-seed R; ``‡`` marks one seed's bootstrap over prompts; seeds without an
    R are counted; – for none."""
    q = recovery_interval(list(rs))
    if q["value"] is None:
        return "–"
    text = f"{q['value']:.2f}" + ("" if q["lo"] is None else f" [{q['lo']:.2f}, {q['hi']:.2f}]")
    text += MARKS.get(q["interval"], "")
    if q["missing"]:
        text += f" ({q['seeds']} of {q['seeds'] + q['missing']} seeds)"
    return text


def zoo_values(grid, model, method, metric) -> dict:
    """An erasure metric of a row's no-attack cells, by seed."""
    out = {}
    for r in grid.get((model, method), {}).get("none", []):
        v = (r["metrics"].get("erasure") or {}).get(metric)
        if v is not None:
            out[r.get("seed", 0)] = v
    return out


def seed_shares(grid, key, metric) -> str | None:
    """The metric's share of the base-to-oracle gap, computed within each seed (each seed has its
    own base model on ``tiny``) and pooled over seeds (:func:`over_seeds`); seeds without their
    base or oracle row are named, not silently dropped."""
    value, base, oracle = (zoo_values(grid, key[0], m, metric) for m in (key[1], "none", "oracle"))
    shares = [retained_share(value[s], base.get(s), oracle.get(s)) for s in sorted(value)]
    found = [x for x in shares if x is not None]
    text = over_seeds(found, 2)
    if text is not None and len(found) < len(shares):
        text += f" ({len(found)} of {len(shares)} seeds)"
    return text


def kept(grid, key, metric, failed) -> str:
    """:func:`seed_shares` as a cell; ⚠ where the metric failed its known-answer validation."""
    text = seed_shares(grid, key, metric)
    if text is None:
        return "–"
    return text + (" ⚠" if (key[0], metric) in failed else "")
