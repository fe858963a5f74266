"""Erasure probes: a planted direction is found; shuffled labels give chance."""

from __future__ import annotations

import torch

from bench.eval.probes import localisation, probe_accuracy, toxic_neurons


def planted(n=200, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(d, generator=g)
    y = torch.tensor([i % 2 for i in range(n)], dtype=torch.float)
    x = torch.randn(n, d, generator=g) + 3.0 * (2 * y - 1).unsqueeze(1) * direction / direction.norm()
    return x, y, torch.arange(n) // 2


def test_probe_finds_a_planted_direction():
    x, y, groups = planted()
    assert probe_accuracy(x, y, groups) > 0.9


def test_probe_on_shuffled_labels_is_near_chance():
    x, y, groups = planted(n=400)
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    assert 0.35 < probe_accuracy(x, y, groups) < 0.65


def test_toxic_neurons_and_localisation(tiny_lm):
    import copy

    model, _, _ = tiny_lm
    direction = torch.randn(model.config.n_embd)
    top = toxic_neurons(model, direction, k=5)
    assert len(top) == 5 and top[0]["cosine"] >= top[-1]["cosine"]
    edited = copy.deepcopy(model)
    w = edited.transformer.h[top[0]["layer"]].mlp.c_proj.weight
    with torch.no_grad():
        w[top[0]["index"]] += 1.0  # change only the top neuron's value vector
    assert localisation(model, edited, top) == 1.0
    assert localisation(model, model, top) is None
