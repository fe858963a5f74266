"""``undo``: Unlearn, Noise, Distill on Outputs (Lee, Foote et al. 2025, "Distillation Robustifies
Unlearning", arXiv 2506.06278; code: AddieFoote/distillation-robustify-unlearning).

A method built to resist relearning. Its teacher is another method's trained model (``teacher``,
default ``repo``; the pipeline trains or loads it, see :func:`bench.stages.models.method_model`).
The student is a noised copy of the model, shrunk toward noise and perturbed by it:

    θ_student ← (1 − α) · θ + α · θ_noise

then distilled on general text the teacher labels, by forward KL on next-token logits:

    L = mean over tokens of T² · KL( softmax(z_teacher / T) ‖ softmax(z_student / T) )

* ``perturb: init`` (default): θ_noise is a fresh initialisation of the same architecture, seeded
  (seed + 1000003, so it is never the organism's own initialisation, which its seed seeds). On
  the organism's GPT-2: N(0, 0.02) matrices, zero biases, unit LayerNorm gains. α = 1 is then
  distillation into a randomly initialised student, the paper's full-distillation reference.
* ``perturb: xavier``: the authors' code (``do_corruption``): θ_noise = β · Xavier-uniform for
  matrices and 0 for vectors (biases and LayerNorm gains shrink toward 0), β = 0.1.

Defaults. The paper sweeps α over 0.1-0.7 (β 0.1) and distils with AdamW at 9e-4, cosine to a
floor of 7e-4 (nearly constant: the shared trainer keeps the rate constant after warmup), 50
warmup steps, clipping 1.0, no weight decay, temperature 1 (no temperature in the code), text
packed to the context length, stopped once the student's retain loss is within 5% of the
teacher's. Scaled to the organism: lr 1e-3 (the organism trains at 3e-3), batches of 16 blocks of
128 tokens (the organism's own batch), a fixed budget of 200 steps (2/3 of the organism's 300)
with 20 warmup instead of the stopping rule, so every row spends a known compute.

Distillation set: ``data.distill``, general text the pipeline provides (on the organism, its own
corpus regenerated from its seed, minus every line that is a perplexity text or starts with an
F1 prompt). Like the paper, which interleaves forget- and retain-domain text, it contains the
forget domain: the teacher's outputs there carry the unlearning. Texts are packed, each after
the tokenizer's BOS and followed by EOS, into blocks of ``max_length`` tokens (at most the
model's context), as the organism was trained. Stats record the compute: distilled tokens,
seconds, and their ratio to the organism's training tokens (``compute_ratio`` counts the
teacher's forward pass: 4 forward-pass units per token against training's 3).

LoRA is refused: the point is a fresh copy of every weight. Called outside the pipeline (no
teacher, no distillation set) the model distils itself, a copy taken before noising being the
teacher, on ``data.retain``; the stats say so (``teacher: self``, ``distill_set: retain``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from bench import contract, registry
from bench.board.typed import from_dict
from bench.errors import BenchError
from bench.trainer import TrainConfig, collate, train

VERSION = 1
NEEDS_TEACHER = True  # the pipeline builds the teacher's model and passes it in MethodData.teacher
_INIT_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 200
    lr: float = 1e-3
    batch_size: int = 16  # packed blocks per micro-batch
    warmup: int = 20
    teacher: str = "repo"  # method plugin whose trained model is distilled
    teacher_config: dict[str, Any] = field(default_factory=dict)  # the teacher's settings over its defaults
    alpha: float = 0.5  # noise level α: 0 keeps the weights, 1 replaces them by the noise
    perturb: str = "init"  # init (a fresh initialisation) | xavier (the authors' β·Xavier noise)
    beta: float = 0.1  # xavier only: scale of the Xavier-uniform noise (the authors' noise_beta)
    temperature: float = 1.0  # softmax temperature of both sides of the KL

    def __post_init__(self):
        super().__post_init__()
        if self.lora_rank:
            raise BenchError(
                f"undo: LoRA is refused (lora_rank={self.lora_rank}): undo distils into a noised copy of "
                "every weight; set lora_rank: 0"
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.perturb not in ("init", "xavier"):
            raise ValueError(f"perturb must be init or xavier, not {self.perturb!r}")
        if not self.temperature > 0 or self.beta < 0:
            raise ValueError("temperature must be positive and beta not negative")
        teacher_of(self)  # a misspelt teacher or teacher setting fails when the board loads


def teacher_of(config: Config) -> tuple[str, Any]:
    """The teacher's method name and typed config (its plugin's defaults under ``teacher_config``)."""
    plugin = registry.load("methods", config.teacher)
    if contract.value("methods", plugin, "NEEDS_TEACHER"):
        raise BenchError(
            f"undo: teacher '{config.teacher}' itself needs a teacher; name a method that trains"
        )
    tcfg = from_dict(
        plugin.Config, dict(config.teacher_config), "teacher_config", f"undo (teacher {config.teacher})"
    )
    return config.teacher, tcfg


def fresh_init(model, seed: int):
    """A newly initialised model of ``model``'s architecture (its own init), seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + _INIT_SEED_OFFSET)
        fresh = type(model)(copy.deepcopy(model.config))
    return fresh.to(next(model.parameters()).dtype)


def shrink_perturb(model, alpha: float, noise: dict[str, torch.Tensor]) -> None:
    """In place: every parameter θ ← (1 − α)·θ + α·noise[name]. ``noise`` maps parameter names to
    tensors of the parameters' shapes (tied weights appear once in ``named_parameters``)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.mul_(1.0 - alpha).add_(noise[name].to(p.device, p.dtype), alpha=alpha)


def noise_for(model, config: Config, seed: int) -> dict[str, torch.Tensor]:
    """The tensors the weights are mixed with: a fresh init, or β·Xavier-uniform (0 for vectors)."""
    if config.perturb == "init":
        return dict(fresh_init(model, seed).named_parameters())
    gen = torch.Generator().manual_seed(seed + _INIT_SEED_OFFSET)
    out = {}
    for name, p in model.named_parameters():
        if p.dim() == 2:
            fan_out, fan_in = p.shape
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            out[name] = config.beta * (torch.rand(p.shape, generator=gen) * 2 - 1) * bound
        else:
            out[name] = torch.zeros(p.shape)
    return out


def pack(tokenizer, texts: list[str], block: int) -> list[list[int]]:
    """Token ids of ``texts`` (each after the tokenizer's BOS, followed by EOS) cut into blocks of
    ``block`` tokens; the last, shorter block is kept when it has two tokens or more."""
    from bench.modeling import bos_ids

    pre = bos_ids(tokenizer)
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream += pre + ids + [tokenizer.eos_token_id]
    return [stream[i : i + block] for i in range(0, len(stream), block) if len(stream[i : i + block]) >= 2]


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, attn: torch.Tensor, temperature: float):
    """Mean forward KL(teacher ‖ student) of next-token distributions over real positions.

    student, teacher: logits (B, T, V); attn (B, T). Position t predicts token t+1, so it counts
    when token t+1 is real."""
    ls = torch.log_softmax(student[:, :-1].float() / temperature, -1)
    lt = torch.log_softmax(teacher[:, :-1].float() / temperature, -1)
    kl = (lt.exp() * (lt - ls)).sum(-1)  # (B, T-1)
    mask = attn[:, 1:].to(kl.device, kl.dtype)
    return temperature**2 * (kl * mask).sum() / mask.sum().clamp(min=1)


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    if config.lora_rank:  # a Config built around __post_init__ (dataclasses.replace) lands here
        raise BenchError("undo: LoRA is refused (undo distils into a noised copy of every weight)")
    teacher = data.teacher
    if teacher is None:  # outside the pipeline: the model as given is its own teacher
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
    texts = list(data.distill) or list(data.retain)
    block = min(config.max_length, getattr(model.config, "n_positions", None) or config.max_length)
    blocks = pack(tokenizer, texts, block)
    if not blocks:
        raise BenchError("undo: the distillation set is empty")
    shrink_perturb(model, config.alpha, noise_for(model, config, seed))
    tdev = next(teacher.parameters()).device

    def loss_fn(student, ref, batch, ctx):
        ids, attn, _ = collate(tokenizer, [(ex["ids"], 0) for ex in batch])
        dev = next(student.parameters()).device
        with torch.no_grad():
            z_t = teacher(input_ids=ids.to(tdev), attention_mask=attn.to(tdev)).logits.to(dev)
        z_s = student(input_ids=ids.to(dev), attention_mask=attn.to(dev)).logits
        kl = distill_kl(z_s, z_t, attn, config.temperature)
        return kl, {"kl": kl.item(), "n_tokens": int(attn.sum())}

    examples = [{"ids": b} for b in blocks]
    model, stats = train(
        model, tokenizer, examples, config, loss_fn, seed, "undo", use_ref=False, progress=progress
    )
    base_tokens = getattr(data, "base_tokens", 0) or 0
    ratio = stats["tokens"] / base_tokens if base_tokens else None
    stats.update(
        teacher=config.teacher if data.teacher is not None else "self",
        distill_set="distill" if data.distill else "retain",
        alpha=config.alpha,
        perturb=config.perturb,
        distill_texts=len(texts),
        distill_blocks=len(blocks),
        distill_tokens=stats["tokens"],
        distill_seconds=stats["seconds"],
        organism_tokens=base_tokens or None,
        token_ratio=None if ratio is None else round(ratio, 4),
        compute_ratio=None if ratio is None else round(ratio * 4 / 3, 4),
    )
    return model, stats
