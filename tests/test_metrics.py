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
