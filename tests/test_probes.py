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


def test_probes_read_chance_on_identical_sides_and_high_on_real_pairs(tiny_lm, tiny_data):
    """Negative control: the benign and toxic sides are the same text, so no probe can tell them
    apart. A held-out probe then gets exactly one side of each test pair right (accuracy 0.5) and
    scores both sides alike (AUC 0.5); anything else means the split leaks a pair's other side
    into training, or the features depend on the label rather than the text. Positive control:
    the same probes on the real pairs, whose sides differ in their words, read far above chance."""
    from bench.eval import erasure
    from bench.eval.directions import toxic_only_vocab
    from bench.eval.probes import layer_accuracies

    model, tok, _ = tiny_lm
    real = tiny_data.probe_pairs[:60]
    same = [{**p, "toxic": p["benign"]} for p in real]
    vocab = toxic_only_vocab(tok, tiny_data.pairs, tiny_data.benign_text)

    def read(pairs):
        m = erasure.measure(model, model, tok, pairs, None, vocab, seed=0)["layers"]
        return layer_accuracies(model, tok, pairs, seed=0), m["cont_probe"], m["base_probe"]

    for values in read(same):  # pooled-state probe, continuation probe, base-probe AUC; every layer
        assert values == [0.5] * len(values), values
    pooled, cont, base_auc = read(real)
    assert min(pooled) > 0.75 and min(cont) > 0.75, (pooled, cont)
    assert min(base_auc) > 0.85, base_auc


def test_neuron_ablate_zeroes_exactly_the_toxic_or_random_neurons(tiny_lm, tiny_data):
    """The localisation metric's known answers: ``which: toxic`` zeroes the top-k toxic neurons
    of the direction fitted on the same pairs, so the metric (with those neurons) finds the whole
    edit on them; ``which: random`` zeroes k seeded random neurons and nothing else. Fails if the
    method writes the wrong rows (Conv1D stores value vectors as rows), changes other weights,
    or draws random neurons that do not depend on the seed."""
    import copy

    from bench.methods import MethodData
    from bench.methods.neuron_ablate import Config, apply

    from bench.eval import probes

    model, tok, _ = tiny_lm
    data = MethodData(tiny_data.pairs[:60], tiny_data.benign_text)
    top = probes.toxic_neurons(model, probes.probe_direction(model, tok, data.pairs), 5)
    edited, stats = apply(copy.deepcopy(model), tok, data, Config(k=5, max_pairs=60), seed=0)
    assert sorted(map(tuple, stats["neurons"])) == sorted((n["layer"], n["index"]) for n in top)
    assert abs(probes.localisation(model, edited, top) - 1.0) < 1e-6  # float sums of one set of rows
    before, after = probes.value_vectors(model), probes.value_vectors(edited)
    zeroed = {(layer, i) for layer, v in enumerate(after) for i in range(v.shape[0]) if not v[i].any()}
    assert zeroed == {(n["layer"], n["index"]) for n in top}
    changed = [
        n for n, p in edited.named_parameters() if not torch.equal(p, dict(model.named_parameters())[n])
    ]
    assert changed and all(n.endswith("mlp.c_proj.weight") for n in changed), changed
    assert all(
        torch.equal(b[i], a[i]) for b, a in zip(before, after) for i in range(b.shape[0]) if a[i].any()
    )

    rand = [
        apply(copy.deepcopy(model), tok, data, Config(k=5, which="random"), seed=s)[1]["neurons"]
        for s in (0, 0, 1)
    ]
    assert rand[0] == rand[1] != rand[2] and len({tuple(n) for n in rand[0]}) == 5


def test_value_rows_of_a_linear_projection_are_its_columns():
    """``nn.Linear`` (Llama/Gemma ``down_proj``) stores (out, in): zeroing value vector i must zero
    weight column i, as ``value_vectors`` reads it."""
    from bench.eval.probes import value_rows

    lin = torch.nn.Linear(6, 4)
    with torch.no_grad():
        value_rows(lin)[2] = 0.0
    assert not lin.weight[:, 2].any() and lin.weight[:, [0, 1, 3, 4, 5]].all()
