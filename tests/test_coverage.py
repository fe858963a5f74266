"""Coverage of the leaderboard's intervals on simulated boards whose truth is known.

Each board has this board's variance components (measured on the committed board): a seed effect
on every cell's rate (SD 0.07 to 0.12 between seeds), restarts of a prompt attack that differ by
0.005 to 0.08 within a seed (the attacker keeps the restart with the lowest training loss, which
tracks the restart's strength), 200 prompts with their own difficulty, and k = 10 sampled
continuations per prompt (a prompt-level SE within a seed of about 0.01). The intervals are the
ones the tables use: a rate cell (:func:`bench.report.cells.rate_interval_of`), R
(:func:`bench.eval.claims.recovery_of`, the estimand of :func:`bench.eval.recovery.recovery_interval`)
and a paired difference of R (:func:`bench.eval.claims.difference_of`). Each must cover its truth at
least 92% of the time at a nominal 95% with 5 seeds; the previous interval, a percentile
bootstrap over 3 seeds then prompts, must not. Seeded: the same numbers every run.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.eval.claims import _Rows, difference_of, recovery_of
from bench.eval.intervals import hierarchical_bootstrap
from bench.report.cells import rate_interval_of

BOARDS, PROMPTS, K = 400, 200, 10
SEED_SD = {"none": 0.07, "attacked": 0.10}  # between-seed SD of a cell's rate
RESTART_SD, RESTARTS = 0.03, 3
R_TRUE, R_SEED_SD = 0.5, 0.2  # mean of the per-seed R and its spread between seeds
D_TRUE, D_SEED_SD = 0.2, 0.15  # R(method b) - R(method a)


def _prompts(rng, n: int) -> np.ndarray:
    """Prompt difficulty, a multiplicative factor of mean 1 (it cancels in R and its differences)."""
    return np.clip(1 + rng.normal(0, 0.2, size=n), 0.4, 1.6)


def _sample(rng, rates: np.ndarray, difficulty: np.ndarray) -> list[float]:
    """Per-prompt toxic shares of k continuations at ``rates`` (seed level) × prompt difficulty."""
    p = np.clip(rates * difficulty, 0, 1)
    return (rng.binomial(K, p) / K).tolist()


def _picked_offset(rng, n: int = 400_000) -> float:
    """E[effect of the restart with the lowest training loss]: the truth of a prompt attack's cell."""
    effect = rng.normal(0, RESTART_SD, size=(n, RESTARTS))
    loss = -effect + rng.normal(0, RESTART_SD, size=(n, RESTARTS))
    return float(effect[np.arange(n), loss.argmin(1)].mean())


def _board(rng, seeds: int) -> list[dict]:
    """One simulated board: base, oracle and two methods, no attack and a weight attack (R and the
    difference), and a prompt attack on method a with restarts (the rate)."""
    d = _prompts(rng, PROMPTS)
    rows = []

    def row(method, attack, seed, rate, **metrics):
        per_prompt = _sample(rng, np.full(PROMPTS, rate), d)
        m = {"toxic_rate": float(np.mean(per_prompt)), "samples_per_prompt": K, **metrics}
        rows.append(
            {
                "model": "m",
                "method": method,
                "attack": attack,
                "seed": seed,
                "per_prompt": per_prompt,
                "metrics": m,
            }
        )

    for s in range(seeds):
        base = 0.45 + rng.normal(0, SEED_SD["none"])
        oracle = 0.05 + rng.normal(0, 0.015)
        oracle_att = oracle + 0.05 + rng.normal(0, 0.015)
        r_a = R_TRUE + rng.normal(0, R_SEED_SD)
        r_b = r_a + D_TRUE + rng.normal(0, D_SEED_SD)
        row("none", "none", s, base)
        row("oracle", "none", s, oracle)
        row("oracle", "relearn", s, oracle_att)
        row("a", "relearn", s, oracle_att + r_a * (base - oracle))
        row("b", "relearn", s, oracle_att + r_b * (base - oracle))
        # a prompt attack: the row holds the restart with the lowest training loss
        effect = rng.normal(0, RESTART_SD, size=RESTARTS)
        loss = -effect + rng.normal(0, RESTART_SD, size=RESTARTS)
        row("a", "gcg", s, 0.3 + rng.normal(0, SEED_SD["attacked"]) + effect[loss.argmin()])
    return rows


def _covers(iv, truth) -> bool:
    return iv["lo"] is not None and iv["lo"] <= truth <= iv["hi"]


def _coverage(seeds: int, sim_seed: int) -> dict[str, float]:
    rng = np.random.default_rng(sim_seed)
    rate_truth = 0.3 + _picked_offset(np.random.default_rng(sim_seed + 1))
    hits = {"rate": 0, "R": 0, "difference": 0, "old rate": 0}
    for _ in range(BOARDS):
        rows = _board(rng, seeds)
        R = _Rows(rows)
        gcg = [r for r in rows if r["attack"] == "gcg"]
        hits["rate"] += _covers(rate_interval_of(gcg), rate_truth)
        hits["R"] += _covers(recovery_of(R, "m", "a", "relearn", 1000), R_TRUE)
        hits["difference"] += _covers(difference_of(R, "m", "b", "a", "relearn", 1000), D_TRUE)
        lo, hi = hierarchical_bootstrap([r["per_prompt"] for r in gcg], 1000, 0)
        hits["old rate"] += lo <= rate_truth <= hi
    return {k: v / BOARDS for k, v in hits.items()}


@pytest.fixture(scope="module")
def five_seeds():
    return _coverage(5, 0)


@pytest.mark.parametrize("quantity", ["rate", "R", "difference"])
def test_the_leaderboard_intervals_cover_with_five_seeds(five_seeds, quantity):
    """At least 92% of 400 simulated boards' intervals hold the truth (nominal 95%, 5 seeds); a
    binomial SE of 1.1 points at 95% puts an honest interval well above 92%."""
    assert five_seeds[quantity] >= 0.92, five_seeds


def test_the_old_percentile_bootstrap_over_three_seeds_under_covers():
    """The interval the leaderboard used before (seeds, then prompts, percentile) over 3 seeds."""
    cov = _coverage(3, 1)
    assert cov["old rate"] < 0.92, cov
    assert cov["rate"] >= 0.92, cov  # the t-interval keeps its coverage at 3 seeds too
