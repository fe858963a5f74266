"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import pytest

from bench.eval import metrics


def test_toxicity_summary_by_hand():
    scores = [[0.1, 0.6, 0.2], [0.4, 0.3, 0.2], [0.9, 0.8, 0.7]]
    out = metrics.toxicity_summary(scores, 0.5)
    assert out["toxicity_mean"] == pytest.approx(sum(map(sum, scores)) / 9)
    assert out["toxic_rate"] == pytest.approx(4 / 9)
    assert out["expected_max_toxicity"] == pytest.approx((0.6 + 0.4 + 0.9) / 3)
    assert out["toxicity_probability"] == pytest.approx(2 / 3)


def test_greedy_summary_has_no_sampling_metrics():
    out = metrics.toxicity_summary([[0.2], [0.7]])
    assert out == {"toxicity_mean": pytest.approx(0.45), "toxic_rate": 0.5}


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    scores = [[x / 20] for x in range(20)]
    a = metrics.bootstrap_ci(scores, n_boot=200, seed=3)
    b = metrics.bootstrap_ci(scores, n_boot=200, seed=3)
    assert a == b
    lo, hi = a["toxicity_mean"]
    assert lo < 0.475 < hi and 0 <= lo and hi <= 1
    assert metrics.bootstrap_ci([[0.9]] * 5, n_boot=50)["toxic_rate"] == [1.0, 1.0]


def test_bootstrap_equals_summarising_each_resample():
    """The vectorised bootstrap (per-prompt values, one gather) against its definition: draw the
    same resamples of prompts, run :func:`toxicity_summary` on each, take percentiles. Same keys
    (RTP's two summaries only with k > 1) and the same bounds, for k = 1 and k = 4."""
    import numpy as np

    rng = np.random.default_rng(0)
    for k in (1, 4):
        scores = (rng.random((37, k)) ** 2).tolist()
        idx = np.random.default_rng(5).integers(0, 37, size=(300, 37))
        draws: dict[str, list[float]] = {}
        for row in idx:
            for name, v in metrics.toxicity_summary([scores[i] for i in row], 0.3).items():
                draws.setdefault(name, []).append(v)
        expected = {n: [np.percentile(v, 2.5), np.percentile(v, 97.5)] for n, v in draws.items()}
        got = metrics.bootstrap_ci(scores, 0.3, 300, 5)
        assert got.keys() == expected.keys()
        for name in got:
            assert got[name] == pytest.approx(expected[name], abs=1e-12), name


def test_f1_by_hand():
    assert metrics.f1("the cat sat", "the cat sat") == 1.0
    assert metrics.f1("the cat", "a dog") == 0.0
    # pred tokens: the, cat, sat, down (4); gold: the, cat, ran (3); common 2 -> P=.5, R=2/3
    assert metrics.f1("The cat sat down.", "the cat ran") == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    import torch

    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, labels=None):
            logits = torch.zeros(*input_ids.shape, 50) + self.p
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, 50), labels[:, 1:].reshape(-1)
            )
            return type("O", (), {"loss": loss})()

    class Tok:
        eos_token = "|"

        def __call__(self, text, return_tensors=None, add_special_tokens=True):
            ids = [ord(c) % 50 for c in text]  # no BOS, like GPT-2
            return {"input_ids": torch.tensor([ids]) if return_tensors == "pt" else ids}

    ppl = metrics.perplexity(Uniform(), Tok(), ["hello world", "again"], window=4)
    assert ppl == pytest.approx(50.0, rel=1e-5)


def test_relearning_summaries():
    curve = [(0, 0.0), (2, 0.1), (5, 0.3), (10, 0.6)]
    assert metrics.steps_to_recover(curve, base_rate=0.8) == 10
    assert metrics.steps_to_recover(curve, base_rate=0.5) == 5
    assert metrics.steps_to_recover([(0, 0.0), (5, 0.1)], 0.8) is None
    # trapezoids: 2*.05 + 3*.2 + 5*.45 = 2.95 over 10 steps
    assert metrics.curve_auc(curve) == pytest.approx(0.295)


def test_seed_spread():
    out = metrics.seed_spread([1.0, 2.0, 3.0])
    assert out["mean"] == 2.0 and math.isclose(out["std"], 1.0)


def test_binomial_intervals_match_hand_computed_values():
    """Wilson and Clopper-Pearson against values worked out by hand (and in standard tables)."""
    import pytest

    from bench.eval.intervals import clopper_pearson, wilson

    # Wilson 0/100: centre = half = (z²/200)/(1 + z²/100) = 0.018497
    assert wilson(0, 100) == pytest.approx((0.0, 0.036994), abs=1e-5)
    # Wilson 5/10: 0.5 ± z/(1 + z²/10)·sqrt(0.025 + z²/400)
    assert wilson(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-5)
    # Clopper-Pearson 0/100: [0, 1 - 0.025^(1/100)]; 1/10: the textbook [0.0025, 0.4450]
    assert clopper_pearson(0, 100) == pytest.approx((0.0, 1 - 0.025 ** (1 / 100)), abs=1e-9)
    assert clopper_pearson(1, 10) == pytest.approx((0.002529, 0.445016), abs=1e-5)
    assert clopper_pearson(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0), abs=1e-9)
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_the_old_bootstrap_resamples_seeds_before_prompts():
    """The previous interval, kept as the coverage test's reference. Two seeds whose prompts are
    all 1 and all 0: drawing seeds first gives a pooled mean of 1, 1/2 and 0 with probabilities
    1/4, 1/2, 1/4 (prompts within a constant seed do not vary). Resampling the six pooled prompts
    instead would give 1 with probability 1/64."""
    from bench.eval.intervals import _draws, hierarchical_bootstrap

    d = _draws([[1.0] * 3, [0.0] * 3], 20000, 0)
    assert abs((d == 1.0).mean() - 0.25) < 0.015 and abs((d == 0.5).mean() - 0.5) < 0.015
    assert set(d.tolist()) == {0.0, 0.5, 1.0}
    assert hierarchical_bootstrap([[1.0] * 3, [0.0] * 3], 2000, 0) == (0.0, 1.0)
    # one seed: the ordinary bootstrap over prompts ([0, 1] -> means 0, 1/2, 1)
    assert set(_draws([[0.0, 1.0]], 500, 0).tolist()) == {0.0, 0.5, 1.0}
    # groups of unequal size take the loop: the same three values
    assert set(_draws([[1.0] * 3, [0.0] * 2], 500, 0).tolist()) == {0.0, 0.6, 1.0}


def test_a_rate_is_a_t_interval_over_the_per_seed_rates():
    """Three seeds at 0.3, 0.4, 0.5 (prompts vary within them): the mean of the seed means with
    0.4 ± t(0.975, 2) · 0.1 / √3, whatever the prompts; one seed falls back to its prompts."""
    import math

    import pytest
    from scipy.stats import t

    from bench.eval.intervals import ONE_SEED, T_SEEDS, rate_interval

    groups = [[m - 0.1, m + 0.1] * 50 for m in (0.3, 0.4, 0.5)]
    iv = rate_interval(groups, 10)
    half = t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert iv["method"] == T_SEEDS and iv["mean"] == pytest.approx(0.4)
    assert (iv["lo"], iv["hi"]) == pytest.approx((0.4 - half, 0.4 + half))
    # two seeds far apart: the t-interval would pass 1; a rate's is cut to [0, 1]
    wide = rate_interval([[0.5] * 5, [0.75] * 5], 4)
    assert wide["method"] == T_SEEDS and wide["mean"] == 0.625 and (wide["lo"], wide["hi"]) == (0.0, 1.0)
    one = rate_interval([groups[0]], 10)
    assert one["method"] == ONE_SEED and 0.27 < one["lo"] < 0.3 < one["hi"] < 0.33


def test_near_zero_the_exact_bound_counts_clustered_seeds_as_fewer_continuations():
    """Fewer than SPARSE toxic continuations pooled: Clopper-Pearson on the count, with n / deff.
    Five all-zero seeds give a bound above 0 (a t-interval would give [0, 0]); one toxic
    continuation gives nearly the plain bound; 8 toxic continuations all in one seed (deff = 10)
    give a far wider bound than 8 spread as binomial noise would."""
    import pytest

    from bench.eval.intervals import EXACT, clopper_pearson, design_effect, rate_interval

    zeros = rate_interval([[0.0] * 5] * 5, 4)
    assert zeros["method"] == EXACT and (zeros["lo"], zeros["hi"]) == clopper_pearson(0, 100)
    one = rate_interval([[0.25, 0, 0, 0, 0], [0, 0, 0, 0, 0]], 4, 200, 0)
    assert one["method"] == EXACT and (one["k"], one["n"]) == (1, 40)
    # seed rates 0.05 and 0: variance 0.00125 against 0.025 · 0.975 / 20 under independence
    assert one["deff"] == pytest.approx(0.00125 / (0.025 * 0.975 / 20))
    assert (one["lo"], one["hi"]) == clopper_pearson(1, 39)
    lumped = rate_interval([[0.4] * 5, [0.0] * 5], 4)
    assert lumped["deff"] == pytest.approx(0.08 / (0.2 * 0.8 / 20))
    assert (lumped["lo"], lumped["hi"]) == clopper_pearson(1, 4)
    assert lumped["hi"] > clopper_pearson(8, 40)[1] + 0.3
    assert design_effect([0.2, 0.2], [20, 20]) == 1.0  # no spread: never below 1


def test_paired_differences_are_per_seed_and_cancel_what_both_sides_share():
    """b = a - 0.1 prompt by prompt: the paired difference is exactly 0.1 with a zero-width
    interval, however much prompts differ. Over several seeds the unit is the seed's mean
    difference; over one seed the bootstrap pairs prompts, so breaking the pairing widens it."""
    import pytest

    from bench.eval.intervals import ONE_SEED, T_SEEDS, paired_difference

    a = [[0.2, 0.5, 0.9], [0.1, 0.3, 1.0]]
    b = [[x - 0.1 for x in g] for g in a]
    d = paired_difference(a, b, 500, 0)
    assert d["interval"] == T_SEEDS and d["p"] < 1e-6
    assert d["mean"] == pytest.approx(0.1) and d["lo"] == pytest.approx(0.1) and d["hi"] == pytest.approx(0.1)
    one = paired_difference(a[:1], b[:1], 500, 0)
    assert one["interval"] == ONE_SEED and one["lo"] == pytest.approx(0.1) and one["hi"] == pytest.approx(0.1)
    swapped = paired_difference(a[:1], [list(reversed(b[0]))], 500, 0)  # pairing broken
    assert swapped["hi"] - swapped["lo"] > 0.3
    with pytest.raises(ValueError):
        paired_difference(a, [[0.1, 0.2]], 10, 0)


def test_holm_adjusts_step_down_and_keeps_order():
    """Holm on (0.01, 0.04, 0.03, None): sorted 0.01·3, 0.03·2, max(0.06, 0.04·1); None stays out."""
    import pytest

    from bench.eval.intervals import holm

    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_a_quantity_over_seeds_is_one_t_interval():
    """seed_interval: two or more values, a t-interval with the t-test's p; one value, the caller's
    within-seed interval or none; None values are not seeds."""
    import pytest
    from scipy.stats import ttest_1samp

    from bench.eval.intervals import ONE_SEED, seed_interval

    q = seed_interval([0.1, 0.3, None, 0.2])
    assert q["seeds"] == 3 and q["value"] == pytest.approx(0.2)
    assert q["p"] == pytest.approx(ttest_1samp([0.1, 0.3, 0.2], 0).pvalue)
    assert seed_interval([0.4], (0.3, 0.5))["interval"] == ONE_SEED
    assert seed_interval([0.4])["lo"] is None and seed_interval([])["value"] is None


def test_a_row_with_no_toxic_continuation_gets_an_exact_upper_bound(monkeypatch):
    """One seed's row at a rate of 0: its printed interval must not be the percentile bootstrap's
    [0, 0] (which claims certainty from 400 continuations), but Clopper-Pearson's upper bound."""
    import types

    from bench import stages
    from bench.eval.intervals import clopper_pearson
    from bench.run import cell as rows

    n_prompts, k = 40, 10
    monkeypatch.setattr(
        stages, "generations", lambda rt, model, prompts, seed, label: ("g", [["x"] * k] * n_prompts)
    )
    monkeypatch.setattr(
        stages, "scores", lambda rt, key, outs, scorer, version, label: [[0.01] * k for _ in outs]
    )
    rt = types.SimpleNamespace(
        board=types.SimpleNamespace(eval=types.SimpleNamespace(toxic_threshold=0.5, bootstrap=200))
    )
    cell = rows.Cell(rt, None, None, [{"prompt": "p"}] * n_prompts, "none", 0, None, 1)
    metrics, ci, _ = rows.toxicity_row(cell, None, "x")
    assert metrics["toxic_rate"] == 0.0
    lo, hi = ci["toxic_rate"]
    assert lo == 0.0 and hi == pytest.approx(clopper_pearson(0, n_prompts * k)[1]) and hi > 0.005
