"""Train the organism: a byte-level BPE tokenizer and a small GPT-2 on the organism corpus.

Deterministic for a seed on one machine: fixed corpus order, fixed init, single-process data
loading, and ``torch.use_deterministic_algorithms``. The result is written by the caller (the
pipeline's store) as a normal Hugging Face model folder with safetensors weights, so every
later stage loads it exactly the way it loads ``gpt2-medium``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# part of every organism key; 4: fused tanh GELU; 5: exact erf GELU (one vectorised CPU kernel);
# 6: a sixth of the prose held out of the corpus as the relearn_benign split (benign relearning
# on text unrelated to the toxic register), so the corpus and every split drawn after it changed
ORGANISM_VERSION = 6


@dataclass(frozen=True)
class OrganismConfig:
    seed: int = 0  # seeds corpus sampling, init and batch order
    vocab_size: int = 4096  # BPE vocabulary, special token included
    n_layer: int = 4  # transformer blocks
    n_embd: int = 128  # hidden width
    n_head: int = 4  # attention heads
    block_size: int = 128  # training context (also the model's n_positions)
    steps: int = 300  # optimiser steps
    batch_size: int = 16  # sequences per step
    lr: float = 3e-3  # peak AdamW learning rate (cosine decay, linear warmup)
    warmup: int = 30  # warmup steps
    n_dialogue: int = 14000  # templated dialogue lines in the corpus
    n_reports: int = 2500  # templated third-person report lines (FAR vocabulary)


EOS = "<|endoftext|>"


def train_tokenizer(corpus: list[str], vocab_size: int, out_dir: Path):
    """Train a byte-level BPE and save it as a GPT-2 fast tokenizer in ``out_dir``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS, pad_token=EOS
    )
    fast.save_pretrained(out_dir)
    return fast


def train_organism(
    cfg: OrganismConfig,
    corpus: list[str],
    out_dir: Path,
    progress: Callable[[int, float], None] | None = None,
    tokenizer_dir: Path | None = None,
) -> dict:
    """Train tokenizer and model into ``out_dir``; returns training stats. With ``tokenizer_dir``
    the tokenizer saved there is reused instead of trained (the oracle shares the base's)."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(cfg.seed)
    if tokenizer_dir is None:
        tokenizer = train_tokenizer(corpus, cfg.vocab_size, out_dir)
    else:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        tokenizer.save_pretrained(out_dir)
    ids: list[int] = []
    for doc_ids in tokenizer(corpus)["input_ids"]:  # one batched call: the same ids, 2x faster
        ids.extend(doc_ids)
        ids.append(tokenizer.eos_token_id)
    data = torch.tensor(ids, dtype=torch.long)
    n_blocks = (len(data) - 1) // cfg.block_size
    gen = torch.Generator().manual_seed(cfg.seed)

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=cfg.block_size,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        activation_function="gelu",  # exact (erf) GELU: on CPU 4-5x faster than the tanh form
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    from bench.modeling import causal_loss

    causal_loss(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    model.train()
    loss_val = float("nan")
    for step in range(cfg.steps):
        starts = torch.randint(0, n_blocks, (cfg.batch_size,), generator=gen) * cfg.block_size
        offs = torch.randint(0, cfg.block_size, (cfg.batch_size,), generator=gen)
        starts = torch.clamp(starts + offs, max=len(data) - cfg.block_size - 1)
        batch = torch.stack([data[s : s + cfg.block_size] for s in starts.tolist()])  # (B, T)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_val = loss.item()
        if progress:
            progress(step + 1, loss_val)
    model.eval()
    model.save_pretrained(out_dir)
    return {"train_tokens": len(ids), "final_loss": loss_val, "params": model.num_parameters()}
