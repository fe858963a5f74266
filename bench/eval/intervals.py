"""Intervals that say what they cover: the seed is the unit of replication.

Each seed resamples the whole chain (organism, method training, attacks); a prompt attack's
restarts, the prompts and the k sampled continuations of a prompt all nest inside a seed. Every
quantity the leaderboard reports (a toxic rate, R, a claim, a paired difference) is therefore
computed once per seed, and its 95% interval is a Student-t interval over those n per-seed values
(df = n - 1): :func:`seed_interval`, the one function every consumer calls.

Why a t-interval and not a bootstrap: a percentile bootstrap over 3-5 seeds cannot reach past the
most extreme seed and has no small-sample correction (its variance is the plug-in one, n-1 / n of
the unbiased one, and its quantiles are normal ones); with this board's spread between seeds it
covers about 80% at a nominal 95% over 3 seeds and still under 92% over 5
(``tests/test_coverage.py``). The per-seed values are means over 200 prompts × k samples, so they
are close to normal and the t-interval keeps its coverage at 3-5 seeds. The within-seed noise
(prompts, samples, the picked restart) is inside each per-seed value, so it enters the interval
through the spread between seeds without being modelled separately.

Two exceptions, each named in the result's ``method``:

* one seed: there is no between-seed spread to estimate; the interval is the percentile bootstrap
  over prompts within that seed (:func:`prompt_bootstrap`), which covers the prompt and sampling
  noise only. Cells print it with ``‡``.
* a rate near 0 or 1 (fewer than ``SPARSE`` toxic, or non-toxic, continuations pooled over seeds):
  a t-interval over all-zero seeds is ``[0, 0]``. The interval is Clopper-Pearson on the pooled
  count with an effective sample size n / deff, where the design effect deff = (observed variance
  of the per-seed rates) / (their variance were every continuation independent), at least 1
  (Kish 1965): seeds that differ more than binomial noise shrink the count the bound rests on.
  Its assumption: where every seed is 0 the seeds' spread cannot be seen, and deff = 1.

:func:`hierarchical_bootstrap` is the interval this module used before (a two-level percentile
bootstrap: seeds, then prompts); it is kept only as the named reference the coverage test shows
under-covering. Multiplicity: :func:`holm` adjusts a family of p-values (Holm 1979).
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054
SPARSE = 10  # fewer toxic (or non-toxic) continuations than this: exact binomial interval
T_SEEDS = "t over seeds"
ONE_SEED = "bootstrap over prompts (1 seed)"
EXACT = "clopper-pearson"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval: beta quantiles; 0 successes give ``[0, 1 - (α/2)^(1/n)]``."""
    from scipy.stats import beta

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def t_interval(values, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """(mean, lo, hi, two-sided p-value of mean = 0) of a Student-t interval, df = n - 1 (n >= 2)."""
    from scipy.stats import t

    a = np.asarray(values, dtype=float)
    n, mean = len(a), float(a.mean())
    se = float(a.std(ddof=1)) / math.sqrt(n)
    half = float(t.ppf(1 - alpha / 2, n - 1)) * se
    if se > 0:
        p = float(2 * t.sf(abs(mean) / se, n - 1))
    else:
        p = 1.0 if mean == 0 else 0.0
    return mean, mean - half, mean + half, p


def prompt_bootstrap(values, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(lo, hi, two-sided p of mean = 0): percentile bootstrap over one seed's per-prompt values."""
    a = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    d = a[idx].mean(1)
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5)), _boot_p(d)


def _boot_p(draws) -> float:
    d = np.asarray(draws, dtype=float)
    if not len(d):
        return 1.0
    return float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()) + 1 / len(d)))


def seed_interval(values: list[float], one_seed: tuple | None = None, alpha: float = 0.05) -> dict:
    """A quantity over seeds: the mean of its per-seed values with a Student-t interval (df = n - 1).

    With one seed the interval is ``one_seed`` = (lo, hi) or (lo, hi, p), the caller's bootstrap
    over that seed's prompts, or none. Returns {value, lo, hi, p, seeds, interval}; p is the
    two-sided p-value of value = 0 (what :func:`holm` adjusts); ``interval`` names the method."""
    a = [float(v) for v in values if v is not None]
    if len(a) >= 2:
        mean, lo, hi, p = t_interval(a, alpha)
        return {"value": mean, "lo": lo, "hi": hi, "p": p, "seeds": len(a), "interval": T_SEEDS}
    if len(a) == 1 and one_seed is not None and one_seed[0] is not None:
        p = one_seed[2] if len(one_seed) > 2 else None
        return {"value": a[0], "lo": one_seed[0], "hi": one_seed[1], "p": p, "seeds": 1, "interval": ONE_SEED}
    return {
        "value": a[0] if a else None,
        "lo": None,
        "hi": None,
        "p": None,
        "seeds": len(a),
        "interval": None,
    }


def design_effect(seed_rates: list[float], n_per_seed: list[int]) -> float:
    """Observed variance of the per-seed rates over their variance under independent continuations
    (p(1 - p) / n_s on average), at least 1; 1 with one seed or a pooled rate of 0 or 1."""
    r = np.asarray(seed_rates, dtype=float)
    n = np.asarray(n_per_seed, dtype=float)
    p = float((r * n).sum() / n.sum())
    if len(r) < 2 or p <= 0 or p >= 1:
        return 1.0
    binomial = p * (1 - p) * float(np.mean(1 / n))
    return max(1.0, float(r.var(ddof=1)) / binomial)


def rate_interval(
    groups: list[list[float]], samples_per_prompt: int | None, n_boot: int = 1000, seed: int = 0
) -> dict:
    """A toxic rate over seeds with its 95% interval; ``groups[s][i]`` is prompt i's toxic share in
    seed s (for a prompt attack, the picked restart's). The rate is the mean of the per-seed rates;
    the interval a t-interval over them, Clopper-Pearson on the pooled count (effective sample size
    n / deff) near 0 or 1, or the bootstrap over prompts with one seed. Returns {mean, lo, hi,
    method, seeds} (+ k, n, deff for the exact interval)."""
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("every seed needs at least one prompt")
    per_seed = [float(np.mean(g)) for g in groups]
    mean = float(np.mean(per_seed))
    if samples_per_prompt:
        sizes = [len(g) * samples_per_prompt for g in groups]
        n = sum(sizes)
        k = int(round(sum(sum(g) * samples_per_prompt for g in groups)))
        if min(k, n - k) < SPARSE:
            deff = design_effect(per_seed, sizes)
            n_eff = max(1, int(round(n / deff)))
            k_eff = min(n_eff, int(round(k / deff)))
            lo, hi = clopper_pearson(k_eff, n_eff)
            out = {"mean": mean, "lo": lo, "hi": hi, "method": EXACT, "k": k, "n": n, "deff": deff}
            return out | {"seeds": len(groups)}
    one = prompt_bootstrap(groups[0], n_boot, seed) if len(groups) == 1 else None
    q = seed_interval(per_seed, one)
    lo, hi = max(0.0, q["lo"]), min(1.0, q["hi"])  # a rate lies in [0, 1]
    return {"mean": mean, "lo": lo, "hi": hi, "method": q["interval"], "seeds": len(groups)}


def paired_difference(a: list[list[float]], b: list[list[float]], n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of ``a - b`` with its 95% interval, paired by seed and prompt (``a[s][i]`` and ``b[s][i]``
    are the same seed's same prompt under two methods or attacks): a t-interval over the per-seed
    mean differences, or the bootstrap over prompts with one seed."""
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        raise ValueError("paired values need the same seeds and prompts")
    diffs = [[x - y for x, y in zip(ga, gb)] for ga, gb in zip(a, b)]
    one = prompt_bootstrap(diffs[0], n_boot, seed) if len(diffs) == 1 else None
    q = seed_interval([float(np.mean(d)) for d in diffs], one)
    return {
        "mean": q["value"],
        "lo": q["lo"],
        "hi": q["hi"],
        "p": q["p"],
        "seeds": len(a),
        "interval": q["interval"],
    }


def paired_statistic(groups: list[dict[str, list[float]]], fn, n_boot: int = 1000, seed: int = 0) -> dict:
    """A statistic of several paired per-prompt vectors over seeds, with its 95% interval.

    ``groups[s]`` maps names to seed s's per-prompt values (every vector of a seed covers the same
    prompts); ``fn(means)`` turns one seed's means ``{name: mean}`` into that seed's value (None:
    undefined there). The statistic is the mean of the per-seed values with :func:`seed_interval`;
    with one seed the interval resamples that seed's prompt indices, one set for every vector (so
    what the vectors share cancels), dropping resamples where ``fn`` is None. ``dropped`` counts
    seeds where ``fn`` is None."""
    names = list(groups[0])
    arrays = [{n: np.asarray(g[n], dtype=float) for n in names} for g in groups]
    if any(len({len(a[n]) for n in names}) != 1 for a in arrays):
        raise ValueError("paired vectors of a seed must cover the same prompts")
    values = [fn({n: float(a[n].mean()) for n in names}) for a in arrays]
    kept = [v for v in values if v is not None]
    one = None
    if len(kept) == 1:
        a = arrays[values.index(kept[0])]
        size = len(a[names[0]])
        idx = np.random.default_rng(seed).integers(0, size, size=(n_boot, size))
        means = {n: a[n][idx].mean(1) for n in names}
        draws = [v for b in range(n_boot) if (v := fn({n: float(means[n][b]) for n in names})) is not None]
        if draws:
            one = (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)), _boot_p(draws))
    return seed_interval(kept, one) | {"dropped": len(values) - len(kept)}


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of a family (None entries are not members): controls the
    family-wise error rate under any dependence between the tests."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m, out, running = len(order), list(pvalues), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def hierarchical_bootstrap(
    groups: list[list[float]], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """The previous interval, kept as a reference (the coverage test shows it under-covering; the
    leaderboard does not use it): a 95% percentile interval of the pooled mean, resampling groups
    (seeds, or seed × restart) with replacement, then prompts within each drawn group."""
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("every seed needs at least one prompt")
    d = _draws(groups, n_boot, seed)
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def _draws(groups: list[list[float]], n_boot: int, seed: int) -> np.ndarray:
    """Pooled means of ``n_boot`` two-level resamples: groups, then prompts within each drawn group."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(g, dtype=float) for g in groups]
    picked = rng.integers(0, len(arrays), size=(n_boot, len(arrays)))
    if len({len(a) for a in arrays}) == 1:  # equal sizes: one gather for every draw
        stack = np.stack(arrays)  # (groups, prompts)
        idx = rng.integers(0, stack.shape[1], size=(*picked.shape, stack.shape[1]))
        return stack[picked[:, :, None], idx].mean((1, 2))
    out = np.empty(n_boot)
    for b in range(n_boot):
        parts = [arrays[s][rng.integers(0, len(arrays[s]), size=len(arrays[s]))] for s in picked[b]]
        out[b] = np.concatenate(parts).mean()
    return out
