"""Intervals that say what they cover: seeds first, then prompts; exact binomial bounds near 0.

A leaderboard value is a rate pooled over seeds (each seed resamples the whole chain: organism,
method training, attacks) and prompts (each with k sampled continuations). Its 95% interval is a
two-level (hierarchical) percentile bootstrap: resample seeds with replacement, then prompts
within each drawn seed, and take the mean (Davison & Hinkley 1997, §3.8; Field & Welsh 2007).
With one seed it reduces to the usual bootstrap over prompts.

At a rate near 0 (or 1) the percentile bootstrap collapses: zero toxic continuations give
``[0, 0]`` whatever the sample size. There the interval is Clopper-Pearson (exact binomial) on
the pooled count; :func:`wilson` is the score interval, for comparison and for callers that want
it. Both treat continuations as independent, which near 0 is the honest worst case for the
upper bound that matters. A difference between two methods is a paired difference: the same
seeds and prompts are drawn for both.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054
SPARSE = 10  # fewer toxic (or non-toxic) continuations than this: exact binomial interval


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


def _draws(groups: list[list[float]], n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` two-level resamples: seeds, then prompts within each drawn seed."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(g, dtype=float) for g in groups]
    out = np.empty(n_boot)
    for b in range(n_boot):
        picked = rng.integers(0, len(arrays), size=len(arrays))
        total = count = 0.0
        for s in picked:
            a = arrays[s]
            idx = rng.integers(0, len(a), size=len(a))
            total += a[idx].sum()
            count += len(a)
        out[b] = total / count
    return out


def hierarchical_bootstrap(
    groups: list[list[float]], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the pooled mean: resample seeds, then prompts within seeds.
    ``groups[s]`` is seed s's per-prompt values."""
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("every seed needs at least one prompt")
    d = _draws(groups, n_boot, seed)
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def rate_interval(
    groups: list[list[float]],
    samples_per_prompt: int | None,
    n_boot: int = 1000,
    seed: int = 0,
    repeats: int = 1,
) -> dict:
    """A toxic rate over seeds and prompts with its 95% interval and the method used: the
    hierarchical bootstrap, or Clopper-Pearson on the pooled count when fewer than ``SPARSE``
    continuations are toxic (or non-toxic). ``groups[s][i]``: prompt i's toxic share in group s.
    ``repeats`` groups measure the same prompts again (attack restarts: the upper level is then
    seed × restart); the exact interval counts each prompt's continuations once, at their mean,
    rather than R times (restarts share unattacked prompts' generations and are not independent)."""
    flat = [v for g in groups for v in g]
    mean = float(np.mean(flat))
    if samples_per_prompt:
        n = int(round(len(flat) * samples_per_prompt / repeats))
        k = int(round(sum(flat) * samples_per_prompt / repeats))
        if min(k, n - k) < SPARSE:
            lo, hi = clopper_pearson(k, n)
            return {"mean": mean, "lo": lo, "hi": hi, "method": "clopper-pearson", "k": k, "n": n}
    lo, hi = hierarchical_bootstrap(groups, n_boot, seed)
    return {"mean": mean, "lo": lo, "hi": hi, "method": "bootstrap"}


def paired_difference(a: list[list[float]], b: list[list[float]], n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of ``a - b`` with its 95% interval, paired by seed and prompt: ``a[s][i]`` and ``b[s][i]``
    are the same seed's same prompt under two methods (or attacks)."""
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        raise ValueError("paired values need the same seeds and prompts")
    diffs = [[x - y for x, y in zip(ga, gb)] for ga, gb in zip(a, b)]
    lo, hi = hierarchical_bootstrap(diffs, n_boot, seed)
    return {"mean": float(np.mean([v for g in diffs for v in g])), "lo": lo, "hi": hi, "seeds": len(a)}


def paired_statistic(groups: list[dict[str, list[float]]], fn, n_boot: int = 1000, seed: int = 0) -> dict:
    """A statistic of several paired per-prompt vectors, with its 95% two-level interval.

    ``groups[s]`` maps names to seed s's per-prompt values (every vector of a seed covers the same
    prompts); ``fn(means)`` turns the pooled means ``{name: mean}`` into the statistic. Each
    resample draws seeds, then one set of prompt indices per drawn seed, applied to every vector
    (so what the vectors share cancels). Resamples where ``fn`` returns None are dropped."""
    names = list(groups[0])
    arrays = [{n: np.asarray(g[n], dtype=float) for n in names} for g in groups]
    if any(len({len(a[n]) for n in names}) != 1 for a in arrays):
        raise ValueError("paired vectors of a seed must cover the same prompts")
    value = fn({n: float(np.mean(np.concatenate([a[n] for a in arrays]))) for n in names})
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        sums, count = dict.fromkeys(names, 0.0), 0
        for s in rng.integers(0, len(arrays), size=len(arrays)):
            a = arrays[s]
            idx = rng.integers(0, len(a[names[0]]), size=len(a[names[0]]))
            for n in names:
                sums[n] += a[n][idx].sum()
            count += len(idx)
        v = fn({n: sums[n] / count for n in names})
        if v is not None:
            draws.append(v)
    lo, hi = (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))) if draws else (None, None)
    return {"value": value, "lo": lo, "hi": hi, "seeds": len(groups)}


def seed_interval(values: list[float], alpha: float = 0.05) -> dict:
    """Mean of a per-seed scalar with a Student-t interval over seeds (none with one seed)."""
    from scipy.stats import t

    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return {"value": float(a.mean()) if len(a) else None, "lo": None, "hi": None, "seeds": len(a)}
    half = float(t.ppf(1 - alpha / 2, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return {
        "value": float(a.mean()),
        "lo": float(a.mean()) - half,
        "hi": float(a.mean()) + half,
        "seeds": len(a),
    }
