"""Batched generation with ``transformers``: left padding, length-sorted batches, order restored.

Returns continuations only (the prompt is cut off by token count, not by string matching).
Greedy output of a batch equals one-prompt-at-a-time output (tested), up to float ties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    pass  # the HF backend needs nothing beyond the board's generation settings


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int = 20,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """Continuations for every prompt: ``out[i]`` holds ``num_samples`` strings (greedy if 1)."""
    import torch

    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
    out: list[list[str]] = [[] for _ in prompts]
    sample = num_samples > 1
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True).to(device)
            kwargs = dict(
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                do_sample=sample,
                num_return_sequences=num_samples,
            )
            if sample:
                torch.manual_seed(seed + start)
                kwargs.update(temperature=temperature, top_p=top_p)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            with torch.inference_mode():
                seqs = model.generate(**enc, **kwargs)  # (b * k, T_prompt + T_new)
            texts = tokenizer.batch_decode(seqs[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for j, i in enumerate(idx):
                out[i] = texts[j * num_samples : (j + 1) * num_samples]
            if on_batch:
                on_batch(len(idx))
    finally:
        tokenizer.padding_side = old_side
    return out


class HFGenerator:
    """Holds one model; ``generate`` as above; ``close`` frees it."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer

    def generate(self, prompts: list[str], **kwargs) -> list[list[str]]:
        return generate(self.model, self.tokenizer, prompts, **kwargs)

    def close(self) -> None:
        self.model = None


def create(
    model_dir: str,
    config: Config,
    device: str = "cpu",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    model=None,
    tokenizer=None,
) -> HFGenerator:
    from bench.modeling import load_model, load_tokenizer

    tokenizer = tokenizer or load_tokenizer(model_dir, trust_remote_code)
    model = model or load_model(model_dir, device, dtype, trust_remote_code)
    return HFGenerator(model, tokenizer)
