"""The one training loop every method and the relearning attack share.

A method is a loss: ``loss_fn(model, ref, batch, ctx) -> (loss, logs)``. This loop owns
everything else, so a difference between methods is the loss, never the loop: tokenisation
with prompt tokens masked out of every loss, batching with a seeded order, a frozen reference
copy, AdamW with linear warmup, gradient clipping and accumulation, NaN/inf detection, optional
validation with early stopping, and optional LoRA through ``peft`` for every method.

Precision: whatever dtype the board loads the model in, training runs on fp32 weights (the
master copy: the model itself, upcast for the run, and its reference) and AdamW keeps fp32
state, so updates far below bfloat16's spacing (about 1.2e-4 near |w| = 0.03, where lr 1e-5
steps live) accumulate instead of rounding away. On CUDA the forward passes of a bf16 board run
under ``torch.autocast`` in bf16 (an fp16 board trains in plain fp32: fp16 would need loss scaling). The trained model is cast back to the board's dtype
when it is returned, so it is stored as the board says. Cost per full-trained parameter: 4 bytes
weight + 4 gradient + 8 AdamW state, plus 4 for the frozen reference: 20 bytes, against 2 + 2 +
4 + 2 = 10 when everything stays in bf16.

Dropout is disabled while training (as TRL does for preference methods), so log-probabilities
of the policy and the reference are comparable and runs are deterministic.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100  # optimiser steps (budget)
    lr: float = 1e-4  # AdamW peak learning rate
    batch_size: int = 8  # examples per micro-batch
    grad_accum: int = 1  # micro-batches per optimiser step
    warmup: int = 10  # linear warmup steps
    weight_decay: float = 0.0  # AdamW weight decay
    max_grad_norm: float = 1.0  # gradient clipping (0 disables)
    max_length: int = 128  # prompt + continuation tokens kept per example
    eval_every: int = 0  # validate every N steps (0: no validation split, no early stopping)
    val_fraction: float = 0.1  # share of examples held out when eval_every > 0
    patience: int = 3  # validations without improvement before stopping early
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank (peft), merged when saved
    lora_alpha: int = 16  # LoRA scaling numerator
    lora_targets: list[str] = field(default_factory=list)  # module names for LoRA (empty: peft's default)

    def __post_init__(self):
        for name in ("steps", "batch_size", "grad_accum", "max_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.warmup < 0 or self.lora_rank < 0 or self.eval_every < 0:
            raise ValueError("warmup, lora_rank and eval_every must not be negative")


@dataclass
class Ctx:
    """What a loss may know about where training is."""

    step: int
    total: int

    @property
    def progress(self) -> float:
        return self.step / max(1, self.total)


def encode_example(tokenizer, prompt: str, continuation: str, max_length: int) -> tuple[list[int], int]:
    """Token ids of [BOS] + prompt + continuation and the length before the continuation, cut
    to ``max_length`` (the continuation keeps at least half; the prompt loses its start).

    BOS follows the tokenizer's own convention (:func:`bench.modeling.bos_ids`), the same ids
    generation feeds the model.
    """
    from bench.modeling import bos_ids

    pre = bos_ids(tokenizer)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    c = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    room = max(2, max_length - len(pre))
    if len(p) + len(c) > room:
        c = c[: max(1, room // 2)]
    if len(p) + len(c) > room:  # still too long: the prompt loses its start
        keep = room - len(c)
        p = p[len(p) - keep :] if keep > 0 else []
    return pre + p + c, len(pre) + len(p)


def collate(tokenizer, items: list[tuple[list[int], int]]):
    """Right-padded ``ids``, ``attn`` and ``cont`` (1 on continuation tokens), each (B, T)."""
    import torch

    T = max(len(ids) for ids, _ in items)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(items), T), pad, dtype=torch.long)
    attn = torch.zeros((len(items), T), dtype=torch.long)
    cont = torch.zeros((len(items), T), dtype=torch.long)
    for i, (seq, plen) in enumerate(items):
        ids[i, : len(seq)] = torch.tensor(seq)
        attn[i, : len(seq)] = 1
        cont[i, plen : len(seq)] = 1
    return ids, attn, cont


def forward(model, ids, attn, cont, hidden: bool = False) -> dict:
    """Per-token log-probs of the continuation and (optionally) hidden states.

    Returns ``tok_logp`` (B, T-1): log p(token t+1 | prefix), zero off the continuation;
    ``mask`` (B, T-1); ``seq_logp`` (B,); ``logits`` (B, T, V); ``hidden`` tuple of (B, T, D)
    with index 0 the embeddings and index L the last block's output.
    """
    import torch

    device = next(model.parameters()).device
    ids, attn, cont = ids.to(device), attn.to(device), cont.to(device)
    out = model(input_ids=ids, attention_mask=attn, output_hidden_states=hidden)
    logits = out.logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    tok = torch.gather(logp, 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    mask = cont[:, 1:].to(tok.dtype)
    tok = tok * mask
    return {
        "tok_logp": tok,
        "mask": mask,
        "seq_logp": tok.sum(-1),
        "logits": logits,
        "hidden": out.hidden_states if hidden else None,
    }


def side_batch(tokenizer, examples: list[dict], key: str, max_length: int):
    items = [encode_example(tokenizer, ex.get("prompt", ""), ex[key], max_length) for ex in examples]
    return collate(tokenizer, items)


def _lora_wrap(model, cfg: TrainConfig):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise BenchError("lora_rank > 0 needs peft: pip install 'detox-bench[peft]'") from None
    targets = list(cfg.lora_targets) or None
    lcfg = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.0,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    if targets is None and model.config.model_type == "gpt2":
        lcfg.target_modules = ["c_attn", "c_proj", "c_fc"]
    return get_peft_model(model, lcfg)


def train(
    model,
    tokenizer,
    examples: list[dict],
    cfg: TrainConfig,
    loss_fn: Callable,
    seed: int,
    name: str,
    use_ref: bool = True,
    extra_modules: tuple = (),
    trainable: Callable[[str], bool] | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    on_model: Callable[[Any], None] | None = None,
    state_hook: Callable[[int, Callable[[], dict]], None] | None = None,
    resume: dict | None = None,
) -> tuple[Any, dict]:
    """Optimise ``loss_fn`` over ``examples`` (dicts: prompt, benign, toxic, text, ...).

    ``trainable(param_name)`` limits which parameters move (e.g. RMU's chosen layers);
    ``extra_modules`` (e.g. a discriminator) are optimised together with the model;
    ``on_model`` receives the live model once it is set up (LoRA-wrapped or not).
    ``state_hook(step, state)`` is called after every optimiser step; ``state()`` returns what
    :func:`save_state` stores and ``resume=`` takes back (trainable weights in fp32, AdamW state,
    data order and random states, losses), so a killed run continues at that step and ends
    exactly as an uninterrupted one. Pass the same untrained ``model`` when resuming.
    Returns the trained model (LoRA merged) and statistics.
    """
    import torch

    if not examples:
        raise BenchError(f"{name}: no training examples")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model.eval()  # dropout off; gradients still flow
    stored_dtype = next(model.parameters()).dtype
    model.float()  # fp32 master weights (a no-op for an fp32 board)
    autocast = precision_context(model, stored_dtype)
    ref = None
    if use_ref:
        ref = copy.deepcopy(model)
        ref.requires_grad_(False)
    if cfg.lora_rank:
        model = _lora_wrap(model, cfg)
    else:
        for pname, p in model.named_parameters():
            p.requires_grad_(trainable is None or trainable(pname))
    if on_model:
        on_model(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise BenchError(f"{name}: no trainable parameters selected")
    groups = [{"params": params, "base_lr": cfg.lr}]
    for mod in extra_modules:  # e.g. a discriminator, with its own learning rate
        groups.append({"params": list(mod.parameters()), "base_lr": getattr(mod, "lr", cfg.lr)})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    data = list(examples)
    val: list[dict] = []
    if cfg.eval_every and len(data) >= 10:
        rng.shuffle(data)
        n_val = max(1, int(len(data) * cfg.val_fraction))
        val, data = data[:n_val], data[n_val:]
    order: list[int] = []

    def next_batch() -> list[dict]:
        nonlocal order
        if len(order) < cfg.batch_size:
            fresh = list(range(len(data)))
            rng.shuffle(fresh)
            order += fresh
        idx, order = order[: cfg.batch_size], order[cfg.batch_size :]
        return [data[i] for i in idx]

    ctx = Ctx(step=0, total=cfg.steps)
    stats: dict = {"losses": [], "val": [], "stopped_early": False}
    best, bad = math.inf, 0
    tokens, t0 = 0, time.time()
    start = 0
    if resume is not None:
        if cfg.eval_every:
            raise BenchError(f"{name}: resuming is not supported with validation (eval_every > 0)")
        named = dict(model.named_parameters())
        with torch.no_grad():
            for pname, value in resume["params"].items():
                named[pname].copy_(value)
        opt.load_state_dict(resume["optimizer"])
        rng.setstate(resume["rng"])
        torch.set_rng_state(resume["torch_rng"])
        order, start, tokens = list(resume["order"]), resume["step"], resume["tokens"]
        ctx.step = start - 1  # the last step done (the record's step count if none is left)
        stats["losses"], stats["resumed_from"] = list(resume["losses"]), start

    def state() -> dict:
        return {
            "step": ctx.step + 1,
            "params": {
                n: p.detach().float().cpu().clone() for n, p in model.named_parameters() if p.requires_grad
            },
            "optimizer": opt.state_dict(),
            "rng": rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "order": list(order),
            "tokens": tokens,
            "losses": list(stats["losses"]),
        }

    for step in range(start, cfg.steps):
        ctx.step = step
        warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * warm
        opt.zero_grad(set_to_none=True)
        logs: dict = {}
        total = 0.0
        for _ in range(cfg.grad_accum):
            batch = next_batch()
            with autocast():
                loss, logs = loss_fn(model, ref, batch, ctx)
            if not torch.isfinite(loss):
                raise BenchError(
                    f"{name}: loss became {loss.item()} at step {step}; lower lr or check the data"
                )
            (loss / cfg.grad_accum).backward()
            total += loss.item() / cfg.grad_accum
            tokens += int(logs.pop("n_tokens", 0))
        if cfg.max_grad_norm:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)  # the model's only
            if not torch.isfinite(norm):
                raise BenchError(f"{name}: gradient norm became {norm.item()} at step {step}; lower lr")
        opt.step()
        stats["losses"].append(round(total, 6))
        if progress:
            progress(step + 1, cfg.steps, {"loss": total, **logs})
        if state_hook:
            state_hook(step + 1, state)
        if val and (step + 1) % cfg.eval_every == 0:
            with torch.no_grad(), autocast():
                vl = sum(
                    loss_fn(model, ref, val[i : i + cfg.batch_size], ctx)[0].item()
                    for i in range(0, len(val), cfg.batch_size)
                )
            stats["val"].append(round(vl, 6))
            best, bad = (vl, 0) if vl < best else (best, bad + 1)
            if bad >= cfg.patience:
                stats["stopped_early"] = True
                break
    seconds = time.time() - t0
    stats.update(
        steps=ctx.step + 1,
        seconds=round(seconds, 3),
        tokens=tokens,
        tokens_per_s=round(tokens / max(seconds, 1e-9), 1),
        precision=f"fp32 master weights, stored as {str(stored_dtype).removeprefix('torch.')}",
    )
    if cfg.lora_rank:
        model = model.merge_and_unload()
    model.requires_grad_(False)
    return model.to(stored_dtype), stats


def precision_context(model, stored_dtype) -> Callable:
    """A context factory for forward passes: bf16 autocast on CUDA for a bf16 board, else
    nothing (CPU trains in plain fp32: its bf16 kernels are slower, not faster)."""
    import contextlib

    import torch

    device = next(model.parameters()).device
    if stored_dtype == torch.bfloat16 and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext  # fp16 boards train in plain fp32: fp16 autocast needs loss scaling


def save_state(state: dict, folder) -> None:
    """Write a :func:`train` state as safetensors (tensors) and JSON (the rest): never pickle."""
    from pathlib import Path

    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"param.{n}": t.contiguous() for n, t in state["params"].items()}
    opt = state["optimizer"]
    slots = []
    for idx, st in opt["state"].items():
        for k, v in st.items():
            tensors[f"opt.{idx}.{k}"] = v.detach().cpu().contiguous()
            slots.append([int(idx), k])
    tensors["torch_rng"] = state["torch_rng"]
    save_file(tensors, str(folder / "state.safetensors"))
    version, internal, gauss = state["rng"]
    meta = {
        "step": state["step"],
        "order": state["order"],
        "tokens": state["tokens"],
        "losses": state["losses"],
        "rng": [version, list(internal), gauss],
        "param_groups": opt["param_groups"],
        "slots": slots,
    }
    (folder / "state.json").write_text(json.dumps(meta), encoding="utf-8")


def load_state(folder) -> dict:
    """The state :func:`save_state` wrote, ready for ``train(resume=...)``."""
    from pathlib import Path

    from safetensors.torch import load_file

    folder = Path(folder)
    tensors = load_file(str(folder / "state.safetensors"))
    meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    opt_state: dict = {}
    for idx, k in meta["slots"]:
        opt_state.setdefault(idx, {})[k] = tensors[f"opt.{idx}.{k}"]
    version, internal, gauss = meta["rng"]
    return {
        "step": meta["step"],
        "order": meta["order"],
        "tokens": meta["tokens"],
        "losses": meta["losses"],
        "rng": (version, tuple(internal), gauss),
        "torch_rng": tensors["torch_rng"],
        "params": {k[len("param.") :]: v for k, v in tensors.items() if k.startswith("param.")},
        "optimizer": {"state": opt_state, "param_groups": meta["param_groups"]},
    }
