"""Loss terms shared by methods: pure tensor functions with shapes in their docstrings.

DPO: Rafailov et al. 2023 (arXiv 2305.18290). NPO: Zhang et al. 2024 (arXiv 2404.05868).
Gradient reversal and its schedule: Ganin & Lempitsky 2015 (DANN, arXiv 1409.7495).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.trainer import forward, side_batch


def encode_sides(tokenizer, batch: list[dict], keys: tuple[str, ...], max_length: int) -> dict:
    """``{key: (ids, attn, cont)}`` for each continuation field of the batch's examples."""
    return {k: side_batch(tokenizer, batch, k, max_length) for k in keys}


def run(model, enc: dict, hidden: bool = False, no_grad: bool = False) -> dict:
    """Forward every side of ``enc``; ``no_grad`` for the frozen reference. (:func:`forward` moves
    the batch to the model's device; :func:`cont_states` and :func:`aligned` move masks.)"""
    with torch.set_grad_enabled(not no_grad and torch.is_grad_enabled()):
        return {k: forward(model, *v, hidden=hidden) for k, v in enc.items()}


def n_tokens(enc: dict) -> int:
    return int(sum(v[1].sum().item() for v in enc.values()))


def dpo(
    pol_pos: torch.Tensor, pol_neg: torch.Tensor, ref_pos: torch.Tensor, ref_neg: torch.Tensor, beta: float
) -> torch.Tensor:
    """``-log σ(β[(π+ - ref+) - (π- - ref-)])`` per pair; every argument (B,) summed log-probs."""
    return -F.logsigmoid(beta * ((pol_pos - ref_pos) - (pol_neg - ref_neg)))


def pair_dpo(pol: dict, ref: dict, beta: float) -> torch.Tensor:
    """Mean DPO loss of a batch from :func:`run` outputs of the policy and the reference."""
    return dpo(
        pol["benign"]["seq_logp"],
        pol["toxic"]["seq_logp"],
        ref["benign"]["seq_logp"],
        ref["toxic"]["seq_logp"],
        beta,
    ).mean()


def npo(pol_neg: torch.Tensor, ref_neg: torch.Tensor, beta: float) -> torch.Tensor:
    """``-(2/β) log σ(-β (π- - ref-))`` per example; arguments (B,) summed log-probs."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (pol_neg - ref_neg))


def nll(fw: dict) -> torch.Tensor:
    """Mean negative log-likelihood per continuation token; ``fw`` from :func:`forward`."""
    return -fw["tok_logp"].sum() / fw["mask"].sum().clamp(min=1)


def token_kl(logits: torch.Tensor, ref_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean KL(π || ref) over continuation positions. logits (B, T, V); mask (B, T-1)."""
    lp = torch.log_softmax(logits[:, :-1], -1)
    lr = torch.log_softmax(ref_logits[:, :-1], -1)
    kl = (lp.exp() * (lp - lr)).sum(-1)  # (B, T-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


def cont_states(hidden: tuple, layer: int, cont: torch.Tensor) -> torch.Tensor:
    """States of continuation tokens at ``layer``: (N, D) from hidden[layer] (B, T, D), cont (B, T)."""
    h = hidden[layer]
    return h[cont.to(h.device).bool()]  # the mask may still be where the batch was built


def aligned(h_a: torch.Tensor, cont_a: torch.Tensor, h_b: torch.Tensor, cont_b: torch.Tensor):
    """Pairs of continuation states at the same continuation offset: two (N, D) tensors.

    h_* (B, T, D); cont_* (B, T). For example i, offsets j < min(len_a, len_b) are kept.
    """
    rows_a, rows_b = [], []
    cont_a, cont_b = cont_a.to(h_a.device), cont_b.to(h_b.device)
    for i in range(h_a.shape[0]):
        ia = cont_a[i].nonzero().squeeze(-1)
        ib = cont_b[i].nonzero().squeeze(-1)
        n = min(len(ia), len(ib))
        rows_a.append(h_a[i, ia[:n]])
        rows_b.append(h_b[i, ib[:n]])
    return torch.cat(rows_a), torch.cat(rows_b)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN ramp ``2 / (1 + exp(-γ p)) - 1`` from 0 to ~1 over training progress p."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def resolve_layers(layers: list[int], n_layers: int) -> list[int]:
    """Hidden-state indices (0 = embeddings, n_layers = last block); negatives count from the end."""
    out = []
    for layer in layers:
        idx = layer if layer >= 0 else n_layers + 1 + layer
        if not 0 < idx <= n_layers:
            raise BenchError(
                f"layer {layer} out of range for a {n_layers}-layer model (use 1..{n_layers} or negatives)"
            )
        out.append(idx)
    return out
