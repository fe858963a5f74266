"""``relearn``: the relearning (fine-tuning) attack, with a toxicity-vs-steps curve.

Fine-tune the detoxified model with plain LM loss on a small toxic set through the shared
trainer (full or LoRA), under a budget of steps × lr × examples, and hand the model to the
pipeline at each step of ``curve_steps`` so the result is a curve, not one number. References:
Łucki et al. 2024 (LoRA rank 128, lr 2e-4, 3 epochs; ~10 examples suffice against unlearning),
Deeb & Roger 2024 (6 epochs, lr 1e-7..5e-6). On the organism, the default data are the *far*
relearning set: other frames and other toxic words than the pairs and the eval prompts, so a
rise of eval toxicity means a latent capability came back, not re-memorised strings.

``data: prose`` fine-tunes on benign text unrelated to the toxic register (``job.benign_texts``:
the organism's held-out prose, Wikitext-2 train on the real boards), with no compliance prefix:
the benign relearning of Łucki et al. 2024 (WikiText) and Qi et al. 2024 (retain data).
Toxicity that returns then was hidden, not taught; ``relearn_benign`` is that setting under its
own name. Benign answers to the detox pairs' own prompts are refused: training on them is a
detox (docs/sources.md, relearning data), not an attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import losses
from bench.errors import BenchError
from bench.trainer import TrainConfig, train

VERSION = 1
KIND = "weights"
FAMILY = "training"  # trains every weight, the unembedding included (bench.eval.validity)
BUDGET = (
    "steps",
    "lr",
)  # what a certification sweep varies, in the order budgets compare (bench.eval.certify)


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 50  # budget: optimiser steps
    lr: float = 3e-4
    warmup: int = 0
    n_examples: int = 64  # budget: toxic texts the attacker has
    curve_steps: list[int] = field(
        default_factory=lambda: [0, 2, 5, 10, 20, 50]
    )  # where toxicity is measured
    data: str = "toxic"  # "toxic": the relearning set; "prose": benign text unrelated to the register

    def __post_init__(self):
        super().__post_init__()
        if self.n_examples <= 0:
            raise ValueError("n_examples must be positive")
        if self.data not in ("toxic", "prose"):
            raise ValueError(f"data must be 'toxic' or 'prose', not {self.data!r}")
        if any(s < 0 or s > self.steps for s in self.curve_steps):
            raise ValueError(f"curve_steps must lie in [0, steps={self.steps}]")


def apply(model, tokenizer, job, config: Config, seed: int, progress=None):
    texts = job.texts if config.data == "toxic" else benign_texts(job)
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


def benign_texts(job) -> list[str]:
    """The job's benign relearning text, refused when there is none or when it holds a detox pair's
    prompt + benign answer (what the detox methods train on: docs/sources.md, relearning data)."""
    if not job.benign_texts:
        raise BenchError(
            "benign relearning has no text: the organism's relearn_benign split, or Wikitext-2 train "
            "on a board whose data.benign_text is wikitext"
        )
    answers = {p["prompt"] + p["benign"] for p in job.pairs}
    n = sum(t in answers for t in job.benign_texts)
    if n:
        raise BenchError(f"benign relearning text holds {n} benign answers of the detox pairs: a detox")
    return job.benign_texts
