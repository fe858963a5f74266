"""The variance decomposition recovers known components from simulated rows, and the detectable
difference in R is the paired t-test's at 80% power."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.report.variance import cell_components, components, detectable_difference, r_difference_sd

K, PROMPTS = 10, 200
SEED_SD, RESTART_SD, PROMPT_SD = 0.08, 0.03, 0.1


def _cell(rng, seeds: int, restarts: int, seed_sd=SEED_SD, restart_sd=RESTART_SD, mean=0.3) -> list[dict]:
    """One cell's rows: seed and restart effects on the rate, prompts with their own difficulty
    (the same prompts in every seed), k sampled continuations per prompt."""
    prompt = rng.normal(0, PROMPT_SD, size=PROMPTS)
    rows = []
    for s in range(seeds):
        seed = rng.normal(0, seed_sd)
        groups = []
        for _ in range(restarts):
            p = np.clip(mean + seed + rng.normal(0, restart_sd) + prompt, 0, 1)
            groups.append((rng.binomial(K, p) / K).tolist())
        metrics = {"samples_per_prompt": K} | ({"restart_per_prompt": groups} if restarts > 1 else {})
        rows.append({"seed": s, "per_prompt": groups[0], "metrics": metrics})
    return rows


def test_components_of_simulated_cells_are_recovered():
    """60 seeds × 3 restarts: the seed, restart, prompt and sample parts within 30% of the truth
    (a prompt's true rate varies around 0.3 by the seed, restart and prompt SDs, so its sampling
    variance is E[p(1 - p)] / k = (0.21 - their variances) / k)."""
    rng = np.random.default_rng(0)
    c = cell_components(_cell(rng, 60, 3))
    sample = (0.3 * 0.7 - SEED_SD**2 - RESTART_SD**2 - PROMPT_SD**2) / K / PROMPTS  # E[p(1 - p)] / k / P
    truth = {"seed": SEED_SD**2, "restart": RESTART_SD**2, "prompt": PROMPT_SD**2 / PROMPTS, "sample": sample}
    for part, value in truth.items():
        assert c[part] == pytest.approx(value, rel=0.3), (part, c[part], value)
    # between seeds the variance is far above the within-seed part (as on the board)
    assert c["seed"] / (c["prompt"] + c["sample"]) > 30
    # without restarts there is no restart part; with one seed no seed part
    plain = cell_components(_cell(rng, 5, 1))
    assert plain["restart"] is None and plain["seed"] is not None
    assert cell_components(_cell(rng, 1, 1))["seed"] is None


def test_no_seed_effect_reads_near_zero():
    """Seeds that differ only by prompts and samples: the seed part is a small fraction of the
    within-seed part (the shared prompts cancel between seeds instead of reading as seed variance)."""
    c = cell_components(_cell(np.random.default_rng(1), 40, 1, seed_sd=0.0, restart_sd=0.0))
    assert c["seed"] < 0.2 * (c["prompt"] + c["sample"])


def test_the_sample_part_is_unbiased_and_restarts_without_effect_read_near_zero():
    """Per-prompt shares 0.5 and 0.25 of k = 4: the sample part is mean(y(1 - y)) / (k - 1) / P
    exactly; restarts that differ only by prompts and samples give a restart part far under the
    within-seed part."""
    rows = [{"seed": 0, "per_prompt": [0.5, 0.25], "metrics": {"samples_per_prompt": 4}}]
    assert cell_components(rows)["sample"] == pytest.approx((0.25 + 0.1875) / 2 / 3 / 2)
    c = cell_components(_cell(np.random.default_rng(3), 40, 3, restart_sd=0.0))
    assert c["restart"] < 0.2 * (c["prompt"] + c["sample"])


def test_components_group_cells_by_model_and_attack():
    rng = np.random.default_rng(2)
    rows = []
    for method in ("a", "b"):
        for attack, restarts in (("none", 1), ("gcg", 3)):
            for r in _cell(rng, 5, restarts):
                rows.append(r | {"model": "m", "method": method, "attack": attack})
    comp = components(rows)
    assert set(comp) == {("m", "none"), ("m", "gcg")}
    assert comp[("m", "gcg")]["cells"] == 2 and comp[("m", "gcg")]["restart"] is not None
    assert comp[("m", "none")]["restart"] is None and comp[("m", "none")]["seeds"] == 5


def test_detectable_difference_is_the_paired_t_tests_at_80_percent_power():
    """SD 0.2 over 5 seeds: (t_.975,4 + t_.80,4) · 0.2 / √5 = (2.7764 + 0.9410) · 0.0894 = 0.3325."""
    assert detectable_difference(0.2, 5) == pytest.approx(
        (2.776445 + 0.940965) * 0.2 / math.sqrt(5), rel=1e-5
    )
    assert detectable_difference(0.2, 1) is None and detectable_difference(None, 5) is None
    assert detectable_difference(0.2, 10) < detectable_difference(0.2, 5)


def test_the_sd_of_paired_r_differences_uses_each_seeds_own_r():
    """Two methods whose per-seed R differ by 0.1, 0.3, 0.2 (base 0.6, oracle 0, oracle attacked 0):
    the SD of the differences is 0.1, and seeds without the oracle's attacked row are left out."""
    rows = []

    def row(method, attack, seed, rate):
        rows.append(
            {"model": "m", "method": method, "attack": attack, "seed": seed, "per_prompt": [rate] * 4}
        )

    for s, d in enumerate((0.1, 0.3, 0.2)):
        row("none", "none", s, 0.6)
        row("oracle", "none", s, 0.0)
        row("oracle", "relearn", s, 0.0)
        row("a", "relearn", s, 0.3)
        row("b", "relearn", s, 0.3 + d * 0.6)
    row("none", "none", 3, 0.6)
    row("oracle", "none", 3, 0.0)
    row("a", "relearn", 3, 0.9)
    row("b", "relearn", 3, 0.0)
    sd, n = r_difference_sd(rows, "m", "relearn")
    assert n == 3 and sd == pytest.approx(0.1)


def test_the_leaderboard_lists_the_variance_table():
    """A board of 5 seeds (base, oracle, two methods; no attack, relearning, a restarted GCG): the
    section gives a row per attack, a restart share only where there are restarts, and a
    detectable ΔR only under an attack."""
    from bench.report import render

    rng = np.random.default_rng(4)
    rows = []
    cells = [("none", "none", 1), ("oracle", "none", 1), ("oracle", "relearn", 1), ("oracle", "gcg", 3)]
    cells += [(m, a, n) for m in ("a", "b") for a, n in (("none", 1), ("relearn", 1), ("gcg", 3))]
    for method, attack, restarts in cells:
        mean = 0.05 if method == "oracle" else 0.5 if method == "none" else 0.3
        for r in _cell(rng, 5, restarts, mean=mean):
            r["metrics"]["toxic_rate"] = float(np.mean(r["per_prompt"]))
            rows.append(
                r | {"board": "b", "model": "m", "method": method, "attack": attack, "ci95": {}, "keys": {}}
            )
    text = render(rows, {"board": "b"})
    table = text.split("## Where the variance is, and what the seeds can detect")[1].split("\n## ")[0]
    line = {
        ln.split("|")[2].strip(): [c.strip() for c in ln.split("|")[1:-1]]
        for ln in table.splitlines()
        if ln.startswith("| m |")
    }
    assert set(line) == {"no attack", "relearn", "gcg"}
    assert line["gcg"][5].endswith("%") and line["relearn"][5] == "–" and line["no attack"][5] == "–"
    assert line["no attack"][10] == "–" and float(line["relearn"][10]) > 0
    assert line["gcg"][2:4] == ["3", "5"]  # cells (oracle, a, b) and seeds
