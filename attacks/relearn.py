"""``relearn``: the relearning (fine-tuning) attack, with a toxicity-vs-steps curve.

Fine-tune the detoxified model with plain LM loss on a small toxic set through the shared
trainer (full or LoRA), under a budget of steps × lr × examples, and hand the model to the
pipeline at each step of ``curve_steps`` so the result is a curve, not one number. References:
Łucki et al. 2024 (LoRA rank 128, lr 2e-4, 3 epochs; ~10 examples suffice against unlearning),
Deeb & Roger 2024 (6 epochs, lr 1e-7..5e-6). On the organism, the default data are the *far*
relearning set: other frames and other toxic words than the pairs and the eval prompts, so a
rise of eval toxicity means a latent capability came back, not re-memorised strings.

``data: benign`` fine-tunes on benign continuations only (prompt + benign side of the pairs):
the REPO paper's "relearning on retain samples". Toxicity that returns then was hidden, not
taught; ``relearn_benign`` is that setting under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1
KIND = "weights"


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 50  # budget: optimiser steps
    lr: float = 3e-4
    warmup: int = 0
    n_examples: int = 64  # budget: toxic texts the attacker has
    curve_steps: list[int] = field(
        default_factory=lambda: [0, 2, 5, 10, 20, 50]
    )  # where toxicity is measured
    data: str = "toxic"  # "toxic": the relearning set; "benign": benign continuations of the pairs

    def __post_init__(self):
        super().__post_init__()
        if self.n_examples <= 0:
            raise ValueError("n_examples must be positive")
        if self.data not in ("toxic", "benign"):
            raise ValueError(f"data must be 'toxic' or 'benign', not {self.data!r}")
        if any(s < 0 or s > self.steps for s in self.curve_steps):
            raise ValueError(f"curve_steps must lie in [0, steps={self.steps}]")


def apply(model, tokenizer, job, config: Config, seed: int, progress=None):
    texts = job.texts if config.data == "toxic" else job.benign_texts
    examples = [{"prompt": "", "text": t} for t in texts[: config.n_examples]]
    marks = sorted(set(config.curve_steps) - {0})

    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("text",), config.max_length)
        return losses.nll(losses.run(model, enc)["text"]), {"n_tokens": losses.n_tokens(enc)}

    def on_state(step, state):
        if step in marks and job.checkpoint and step > (job.resume or {}).get("step", 0):
            job.checkpoint(step, current[0], state)

    current = [model]  # the live model (LoRA-wrapped when lora_rank > 0)
    model, stats = train(
        model,
        tokenizer,
        examples,
        config,
        loss_fn,
        seed,
        "relearn",
        use_ref=False,
        progress=progress,
        on_model=lambda m: current.__setitem__(0, m),
        state_hook=on_state,
        resume=job.resume,
    )
    return model, stats
