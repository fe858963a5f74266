"""Erasure measurements: fresh linear probes per layer, and the toxic-neuron view.

A probe is a logistic regression on the mean of a continuation's token states at one layer,
trained to tell toxic continuations from benign ones on a training split of pairs and tested
on held-out pairs (both sides of a pair stay in one split). If a method really erases the toxic
direction, accuracy at the layers it edits falls toward chance (0.5); after DPO it stays high
(Lee et al. 2024, arXiv 2401.01967). Index 0 is the embedding layer, where the two sides differ
in their words and are trivially separable: a reference point.

Toxic neurons (Lee et al.): MLP value vectors (rows of the MLP output projection) ranked by
cosine with the last-layer probe direction; localisation is the share of a method's squared
weight change on value vectors that lands on the base model's top-k toxic neurons.
"""

from __future__ import annotations

import torch

from bench.trainer import collate, encode_example


@torch.inference_mode()
def pooled_states(model, tokenizer, pairs: list[dict], batch_size: int = 32, max_length: int = 128):
    """Mean continuation-token state per example and layer: X (L+1, 2N, D), y (2N,), group (2N,)."""
    feats, labels, groups = [], [], []
    device = next(model.parameters()).device
    for side, label in (("benign", 0.0), ("toxic", 1.0)):
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            ids, attn, cont = collate(
                tokenizer, [encode_example(tokenizer, p["prompt"], p[side], max_length) for p in chunk]
            )
            out = model(input_ids=ids.to(device), attention_mask=attn.to(device), output_hidden_states=True)
            m = cont.to(device).unsqueeze(-1).float()  # (B, T, 1)
            pooled = torch.stack([(h.float() * m).sum(1) / m.sum(1).clamp(min=1) for h in out.hidden_states])
            feats.append(pooled.cpu())  # (L+1, B, D)
            labels += [label] * len(chunk)
            groups += list(range(start, start + len(chunk)))
    return torch.cat(feats, 1), torch.tensor(labels), torch.tensor(groups)


def fit_probe(
    x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3, iters: int = 200
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logistic regression on standardised features. x (N, D), y (N,) -> (w, b, mean, std)."""
    with torch.enable_grad():
        x = x.double()
        mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
        z = (x - mean) / std
        w = torch.zeros(x.shape[1], dtype=torch.double, requires_grad=True)
        b = torch.zeros((), dtype=torch.double, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y.double())
                + l2 * (w**2).sum()
            )
            loss.backward()
            return loss

        opt.step(closure)
    return w.detach(), b.detach(), mean, std


def probe_accuracy(
    x: torch.Tensor, y: torch.Tensor, groups: torch.Tensor, seed: int = 0, test_fraction: float = 0.3
) -> float:
    """Held-out accuracy of a fresh probe; split by group so a pair never straddles splits."""
    uniq = torch.unique(groups)
    perm = uniq[torch.randperm(len(uniq), generator=torch.Generator().manual_seed(seed))]
    test_groups = perm[: max(1, int(len(uniq) * test_fraction))]
    test = torch.isin(groups, test_groups)
    w, b, mean, std = fit_probe(x[~test], y[~test])
    pred = (((x[test].double() - mean) / std) @ w + b) > 0
    return float((pred.double() == y[test].double()).double().mean())


def layer_accuracies(model, tokenizer, pairs: list[dict], seed: int = 0) -> list[float]:
    x, y, g = pooled_states(model, tokenizer, pairs)
    return [round(probe_accuracy(x[layer], y, g, seed), 4) for layer in range(x.shape[0])]


def probe_direction(model, tokenizer, pairs: list[dict]) -> torch.Tensor:
    """Unit toxic direction in last-layer state space (weights mapped back from standardised space)."""
    x, y, _ = pooled_states(model, tokenizer, pairs)
    w, _, _, std = fit_probe(x[-1], y)
    d = (w / std).float()
    return d / d.norm()


def value_modules(model) -> list:
    """Per block, the MLP output projection whose weight holds the value vectors."""
    return [
        module
        for name, module in model.named_modules()
        if name.endswith(("mlp.c_proj", "mlp.down_proj", "mlp.fc2", "mlp.dense_4h_to_h"))
    ]


def value_rows(module) -> torch.Tensor:
    """The module's value vectors as rows of a view of its weight: (d_mlp, D). Writing to the view
    writes the weight (``Conv1D`` stores (in, out), ``Linear`` (out, in))."""
    return module.weight if type(module).__name__ == "Conv1D" else module.weight.T


def value_vectors(model) -> list[torch.Tensor]:
    """Per block, the MLP value vectors as rows: (d_mlp, D)."""
    return [value_rows(m).detach().float() for m in value_modules(model)]


def toxic_neurons(model, direction: torch.Tensor, k: int = 20) -> list[dict]:
    """Top-k MLP value vectors by cosine with ``direction``: [{layer, index, cosine}]."""
    rows = []
    for layer, v in enumerate(value_vectors(model)):
        cos = torch.nn.functional.cosine_similarity(v, direction.to(v.device).unsqueeze(0), dim=-1)
        rows += [(float(c), layer, i) for i, c in enumerate(cos.tolist())]
    rows.sort(reverse=True)
    return [{"layer": layer, "index": i, "cosine": round(c, 4)} for c, layer, i in rows[:k]]


def localisation(base, edited, neurons: list[dict]) -> float | None:
    """Share of the squared change of all value vectors that falls on ``neurons``."""
    vb, ve = value_vectors(base), value_vectors(edited)
    deltas = [((e - b) ** 2).sum(-1) for b, e in zip(vb, ve)]  # per layer (d_mlp,)
    total = float(sum(d.sum() for d in deltas))
    if total == 0:
        return None
    return float(sum(deltas[n["layer"]][n["index"]] for n in neurons)) / total
