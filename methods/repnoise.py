"""``repnoise``: Representation Noising (Rosati et al. 2024, "Representation Noising: A Defence
Mechanism Against Harmful Finetuning", arXiv 2405.14577; code: domenicrosati/representation-noising,
``representation_noising/loss.py``), built to resist harmful fine-tuning.

On preference pairs (prompt x, benign y+, toxic y-), over continuation tokens:

    L = w_retain · NLL(y+ | x)
        + β · mean_ℓ MMD( {m_ℓ(x, y-)_t}, {ε_t ~ N(0, I)} )
        − α · log(1 + mean_{l=0..L} CE(lens_l(x), y-))

* retain: the harmless term, next-token NLL of the benign continuation.
* noise: at each block ℓ (``layers``, 1-based; empty: every block, as the code does), the MLP
  output states m_ℓ of the toxic continuation's tokens are pulled toward samples of a standard
  Gaussian by the maximum mean discrepancy under a sum of 5 Gaussian kernels whose bandwidths
  are 2^(k-2) times the mean pairwise squared distance, k = 0..4 (the code's ``MMD_loss``).
  Our change: samples are tokens (N states of D numbers) rather than whole masked sequences
  flattened to one vector each, so a micro-batch of 8 pairs gives dozens of samples or more, not 8.
* ascent: gradient ascent on the toxic continuation at every layer, through the logit lens
  (final norm, then the output embedding) on hidden states 0..L-1 and the model's own logits
  for L, averaged, inside −log(1 + ·) so it saturates (the code also counts the final logits
  twice; we count each hidden state once).

Defaults: the code's β = 0.001 and α = 1, and its demo's lr 1e-4 (AdamW, one epoch over 1000
pairs). Scaled to the board: 100 steps of 8 pairs (about three passes over the organism's 256
pairs, the budget ``repo`` gets) at lr 1e-4, and β = 1. Measured on the organism (one batch of 8
pairs): gradient norms 2.1 for the MMD term at β = 1, 1.1 for the retain term, 0.5 for the
ascent term; its MLP outputs have norms 3-8 per token against the noise's sqrt(128) ≈ 11. At
β = 0.001 the noise term's gradient would be 0.2% of the retain term's and move nothing;
β = 1 puts it on the retain term's scale. ``retain_weight`` 1 as in the code.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

import torch

from bench import losses
from bench.errors import BenchError
from bench.trainer import TrainConfig, train

VERSION = 1
STRENGTH = "steps"  # the knob calibration sweeps (matched operating points)
LAYER_FIELDS = ("layers",)  # Config fields naming blocks (checked against the model, shrunk by stand-ins)
EDITED_LAYERS = "layers"  # the blocks the method edits (the probes read them)
_MLP = re.compile(r"(?:^|\.)(?:h|layers)\.(\d+)\.mlp$")


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 100
    lr: float = 1e-4
    alpha: float = 1.0  # α: weight of the gradient-ascent term −log(1 + CE)
    beta: float = 1.0  # β: weight of the noise (MMD) term; the paper's code: 0.001
    retain_weight: float = 1.0  # weight of the retain NLL on benign continuations
    layers: list[int] = field(default_factory=list)  # blocks (1-based) whose MLP outputs are noised; []: all
    kernel_num: int = 5  # Gaussian kernels in the MMD
    kernel_mul: float = 2.0  # ratio of consecutive kernel bandwidths


def mmd(x: torch.Tensor, y: torch.Tensor, kernel_num: int = 5, kernel_mul: float = 2.0) -> torch.Tensor:
    """Biased squared MMD between samples x (N, D) and y (M, D) under a sum of Gaussian kernels
    whose middle bandwidth is the mean pairwise squared distance of the pooled samples."""
    z = torch.cat([x, y]).float()
    d2 = torch.cdist(z, z).pow(2)  # (N+M, N+M)
    n = z.shape[0]
    bandwidth = d2.detach().sum() / max(n * n - n, 1) / kernel_mul ** (kernel_num // 2)
    k = sum(torch.exp(-d2 / (bandwidth * kernel_mul**i).clamp(min=1e-12)) for i in range(kernel_num))
    nx = x.shape[0]
    return k[:nx, :nx].mean() + k[nx:, nx:].mean() - 2 * k[:nx, nx:].mean()


@contextlib.contextmanager
def mlp_outputs(model, blocks: list[int] | None):
    """Record the MLP output (B, T, D) of each chosen block (0-based; None: every block) while
    the context is open: yields a dict block -> tensor, filled by forward passes."""
    seen: dict[int, torch.Tensor] = {}
    hooks = []
    for name, module in model.named_modules():
        m = _MLP.search(name)
        if m and (blocks is None or int(m.group(1)) in blocks):
            idx = int(m.group(1))
            hooks.append(module.register_forward_hook(lambda mod, inp, out, i=idx: seen.__setitem__(i, out)))
    if not hooks:
        raise BenchError("repnoise: found no MLP blocks (modules named *.h.N.mlp or *.layers.N.mlp)")
    try:
        yield seen
    finally:
        for h in hooks:
            h.remove()


def lens_parts(model):
    """The final norm and output embedding of a causal LM (LoRA-wrapped or not), for the logit lens."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = inner.base_model
    norm = next((getattr(body, n) for n in ("ln_f", "norm", "final_layernorm") if hasattr(body, n)), None)
    if norm is None:
        raise BenchError(f"repnoise: no final norm found on {type(body).__name__} for the logit lens")
    return norm, inner.get_output_embeddings()


def ascent_ce(model, fw: dict, ids: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
    """Mean over hidden states 0..L of the logit-lens cross-entropy of continuation tokens
    (the last one is the model's own logits). ids, cont (B, T); fw from :func:`losses.forward`."""
    norm, head = lens_parts(model)
    hidden = fw["hidden"]
    ids = ids.to(fw["logits"].device)
    mask = cont[:, 1:].to(fw["logits"].device).float()  # (B, T-1)
    terms = [losses.nll(fw)]
    for h in hidden[:-1]:
        lp = torch.log_softmax(head(norm(h)).float()[:, :-1], -1)
        tok = torch.gather(lp, 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        terms.append(-(tok * mask).sum() / mask.sum().clamp(min=1))
    return torch.stack(terms).mean()


def noise_term(seen: dict, cont: torch.Tensor, kernel_num: int, kernel_mul: float) -> torch.Tensor:
    """Mean over recorded blocks of the MMD between continuation-token MLP outputs and N(0, I)."""
    total = 0.0
    for out in seen.values():
        h = losses.cont_states((out,), 0, cont)  # (N, D)
        total = total + mmd(h, torch.randn_like(h, dtype=torch.float32), kernel_num, kernel_mul)
    return total / len(seen)


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    n_layers = model.config.num_hidden_layers
    blocks = [i - 1 for i in losses.resolve_layers(config.layers, n_layers)] if config.layers else None

    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign", "toxic"), config.max_length)
        retain = losses.nll(losses.run(model, {"benign": enc["benign"]})["benign"])
        with mlp_outputs(model, blocks) as seen:
            tox = losses.run(model, {"toxic": enc["toxic"]}, hidden=True)["toxic"]
        noise = noise_term(seen, enc["toxic"][2], config.kernel_num, config.kernel_mul)
        ce = ascent_ce(model, tox, enc["toxic"][0], enc["toxic"][2])
        loss = config.retain_weight * retain + config.beta * noise - config.alpha * torch.log1p(ce)
        logs = {"retain": retain.item(), "noise": noise.item(), "harmful_ce": ce.item()}
        return loss, {**logs, "n_tokens": losses.n_tokens(enc)}

    return train(
        model, tokenizer, data.pairs, config, loss_fn, seed, "repnoise", use_ref=False, progress=progress
    )
