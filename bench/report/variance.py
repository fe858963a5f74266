"""Where a cell's variance comes from, and what the board's seed count can detect.

A seed's value of a cell (its mean toxic rate over P prompts, one restart of a prompt attack)
varies by four nested sources, estimated by the method of moments from the board's own rows:

* **samples**: the k continuations of a prompt; a prompt's share y of toxic ones has binomial
  variance p(1 - p) / k, estimated without bias by y(1 - y) / (k - 1); on the mean over prompts,
  divided by P.
* **prompts**: the spread of prompts' rates within a seed beyond their sampling noise
  (within-seed variance of the per-prompt values minus the sample part), divided by P.
* **restarts** (prompt attacks): the spread of restarts' means within a seed beyond what their
  prompts and samples explain, from a restart × prompt ANOVA inside each seed (every restart is
  evaluated on the same prompts): (MS_restart - MS_residual) / P, pooled over seeds.
* **seeds**: the spread of the seeds' means beyond their within-seed noise, from a seed × prompt
  ANOVA (the seeds share the evaluation prompts, so a prompt's own difficulty cancels between
  seeds): (MS_seed - MS_residual) / P, less the restarts' part of a restart-averaged value.

Negative estimates are set to 0. A cell's shares are the four parts over their sum; an attack's
are the means of its cells' parts. ``between / within`` is the seed part over the prompt and
sample parts: how much more a new seed would buy than more prompts or samples.

The smallest detectable difference in R between two methods is the difference a paired t-test
over n seeds detects with 80% power at a two-sided 5% level, (t_{0.975,n-1} + t_{0.80,n-1}) × SD /
√n, with SD the pooled standard deviation over seeds of the paired per-seed differences of R
between the attack's methods, known-answer controls left out (the estimand and pairing of
:func:`bench.eval.claims.difference_of`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations

import numpy as np

from bench.eval.recovery import r_of_means
from bench.eval.validity import NEURONS, ZOO
from bench.report.cells import esc, fmt
from bench.report.view import BoardView

PARTS = ("seed", "restart", "prompt", "sample")
CONTROLS = set(ZOO) | set(NEURONS.values())  # known-answer rows: not methods to compare


def _two_way(y: np.ndarray) -> tuple[float, float]:
    """(MS of rows, MS of the residual) of a rows × prompts table without replication."""
    rows, cols = y.shape
    row_means = y.mean(1, keepdims=True)
    resid = y - row_means - y.mean(0, keepdims=True) + y.mean()
    ms_rows = cols * float(((row_means - y.mean()) ** 2).sum()) / (rows - 1)
    ms_res = float((resid**2).sum()) / ((rows - 1) * (cols - 1)) if cols > 1 else 0.0
    return ms_rows, ms_res


def cell_components(rows: list[dict]) -> dict | None:
    """The four variance parts of one cell's per-seed value from its seeds' rows (None without
    per-prompt rates); ``seed`` is None with one seed, ``restart`` None without restarts."""
    vals = []
    for r in sorted(rows, key=lambda r: r["seed"]):
        groups = r["metrics"].get("restart_per_prompt") or (
            [r["per_prompt"]] if r.get("per_prompt") else None
        )
        if not groups:
            return None
        vals.append(np.asarray(groups, dtype=float))  # (restarts, prompts)
    k = rows[0]["metrics"].get("samples_per_prompt")
    n_prompts = {v.shape[1] for v in vals}
    if not k or k < 2 or len(n_prompts) != 1:
        return None
    P = n_prompts.pop()
    sample = float(np.mean([(v * (1 - v)).mean() for v in vals])) / (k - 1)
    within = float(np.mean([v.var(1, ddof=1).mean() for v in vals])) if P > 1 else 0.0
    restarts = min(v.shape[0] for v in vals)
    restart = None
    if restarts > 1:
        est = [_two_way(v[:restarts]) for v in vals]
        restart = max(0.0, float(np.mean([(a - b) / P for a, b in est])))
    seed = None
    if len(vals) > 1:
        ms_seed, ms_res = _two_way(np.stack([v.mean(0) for v in vals]))
        seed = max(0.0, (ms_seed - ms_res) / P - (restart or 0.0) / restarts)
    return {
        "seed": seed,
        "restart": restart,
        "prompt": max(0.0, within - sample) / P,
        "sample": sample / P,
        "seeds": len(vals),
    }


def components(rows: list[dict]) -> dict:
    """{(model, attack): {part: mean over the attack's cells, "cells", "seeds"}}."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["model"], r["method"], r["attack"])].append(r)
    per: dict[tuple, list[dict]] = defaultdict(list)
    for (model, _, attack), rs in by.items():
        c = cell_components(rs)
        if c is not None:
            per[(model, attack)].append(c)
    out = {}
    for key, cs in per.items():
        part = {p: [c[p] for c in cs if c[p] is not None] for p in PARTS}
        out[key] = {p: (float(np.mean(v)) if v else None) for p, v in part.items()}
        out[key] |= {"cells": len(cs), "seeds": max(c["seeds"] for c in cs)}
    return out


def detectable_difference(sd: float | None, seeds: int) -> float | None:
    """Smallest paired difference a two-sided 5% t-test over ``seeds`` seeds detects with 80% power."""
    from scipy.stats import t

    if sd is None or seeds < 2:
        return None
    return float((t.ppf(0.975, seeds - 1) + t.ppf(0.80, seeds - 1)) * sd / math.sqrt(seeds))


def r_difference_sd(rows: list[dict], model: str, attack: str) -> tuple[float | None, int]:
    """(pooled SD over seeds of paired per-seed R differences between the attack's methods, the
    known-answer controls left out; the most seeds a pair has)."""
    mean = {
        (r["method"], r["attack"], r["seed"]): float(np.mean(r["per_prompt"]))
        for r in rows
        if r["model"] == model and r.get("per_prompt")
    }
    seeds = sorted({s for (_, _, s) in mean})
    per_method: dict[str, dict[int, float]] = defaultdict(dict)
    for s in seeds:
        need = [("none", "none", s), ("oracle", "none", s), ("oracle", attack, s)]
        if not all(x in mean for x in need):
            continue
        b, o, oa = (mean[x] for x in need)
        for (me, a, s2), v in mean.items():
            if a == attack and s2 == s and me not in CONTROLS:
                r = r_of_means(v, oa, b, o)
                if r is not None:
                    per_method[me][s] = r
    variances, n = [], 0
    for m1, m2 in combinations(sorted(per_method), 2):
        both = sorted(set(per_method[m1]) & set(per_method[m2]))
        if len(both) > 1:
            d = [per_method[m1][s] - per_method[m2][s] for s in both]
            variances.append(float(np.var(d, ddof=1)))
            n = max(n, len(both))
    return (math.sqrt(float(np.mean(variances))), n) if variances else (None, n)


def _share(c: dict, part: str) -> str:
    total = sum(c[p] or 0.0 for p in PARTS)
    return "–" if c[part] is None or total <= 0 else f"{100 * c[part] / total:.0f}%"


def variance_table(board: BoardView) -> list[str]:
    """Per model and attack: each source's share of a cell's variance, the between/within ratio,
    and the smallest difference in R the board's seeds can detect."""
    comp = components(board.rows)
    if not comp:
        return []
    attacks = ["none"] + board.attacks
    out = [
        "",
        "## Where the variance is, and what the seeds can detect",
        "",
        "Share of a cell's per-seed variance from each source (method of moments on the board's own rows, "
        "averaged over the attack's cells): seeds (the training chain), restarts (a prompt attack's strings), "
        "prompts and sampled continuations (the last two make the within-seed SE). Between / within: the seed "
        "part over the prompt and sample parts. Detectable ΔR: the smallest difference in R between two methods "
        "that a paired t-test over the board's seeds finds with 80% power at 5%, from the pooled SD of the "
        "methods' paired per-seed R differences.",
        "",
        "| model | attack | cells | seeds | seed | restart | prompt | sample | between / within "
        "| SD of paired ΔR | detectable ΔR |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in sorted({m for m, _ in comp}):
        for attack in [a for a in attacks if (model, a) in comp]:
            c = comp[(model, attack)]
            within = c["prompt"] + c["sample"]
            ratio = None if c["seed"] is None or within <= 0 else c["seed"] / within
            sd, n = r_difference_sd(board.rows, model, attack) if attack != "none" else (None, 0)
            out.append(
                f"| {esc(model)} | {'no attack' if attack == 'none' else esc(attack)} | {c['cells']} | "
                f"{c['seeds']} | " + " | ".join(_share(c, p) for p in PARTS) + f" | {fmt(ratio, 1)} | "
                f"{fmt(sd, 3)} | {fmt(detectable_difference(sd, n), 3)} |"
            )
    return out
