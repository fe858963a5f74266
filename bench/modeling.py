"""Loading and saving causal LMs, devices, seeds, and the tensor helpers losses share.

Models load through ``transformers`` exactly as the community does; weights are saved as
safetensors, and ``trust_remote_code`` is passed only when the board asks for it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from bench.errors import BenchError

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def torch_dtype(name: str):
    import torch

    return getattr(torch, DTYPES[name])


def pick_device(spec: str = "auto") -> str:
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device '{spec}' requested but CUDA is not available")
    return spec


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def check_model_source(name: str) -> None:
    """Fail early, in one line, for a local path that is not a usable model folder."""
    p = Path(name)
    looks_local = p.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
    if not looks_local:
        return
    if not p.is_dir():
        raise BenchError(f"Model path not found: {name}")
    if not (p / "config.json").is_file():
        raise BenchError(f"Model folder {name} has no config.json")
    weights = list(p.glob("*.safetensors")) + list(p.glob("*.bin")) + list(p.glob("*.index.json"))
    if not weights:
        raise BenchError(f"Model folder {name} has no weights (*.safetensors)")


def load_tokenizer(path: str, trust_remote_code: bool = False, revision: str | None = None):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    except OSError as e:
        raise BenchError(f"Cannot load tokenizer '{path}': {str(e).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    path: str,
    device: str = "cpu",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    revision: str | None = None,
):
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=getattr(torch, DTYPES[dtype]),
            trust_remote_code=trust_remote_code,
            revision=revision,
            use_safetensors=None,
        )
    except OSError as e:
        raise BenchError(f"Cannot load model '{path}': {str(e).splitlines()[0]}") from None
    model.to(device)
    model.eval()
    causal_loss(model)
    return model


def causal_loss(model) -> None:
    """Name the loss a causal LM computes from ``labels`` (transformers otherwise warns that
    ``loss_type=None`` is unrecognised on every run, then uses this same loss)."""
    if getattr(model, "loss_type", None) is None:
        model.loss_type = "ForCausalLM"


def save_model(model, tokenizer, out_dir: Path) -> None:
    """Save as safetensors (never pickle); merges LoRA adapters first if present."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def bos_ids(tokenizer) -> list[int]:
    """The special tokens the tokenizer itself puts before a text: its BOS convention.

    The one tokenisation rule: every stage that builds token ids by hand (training, probes,
    GCG, perplexity) starts each sequence with these, exactly as ``tokenizer(text)`` does for
    generation (HF and vLLM). Empty for GPT-2 (and the organism), ``[bos]`` for Llama or Gemma.
    """
    cached = getattr(tokenizer, "_bench_bos_ids", None)
    if cached is not None:
        return list(cached)
    probe = "hello world"
    full = tokenizer(probe)["input_ids"]
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    start = next((i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), None)
    if start is not None:
        prefix = list(full[:start])
    else:  # the text tokenises differently with specials: trust a leading BOS if there is one
        bos = getattr(tokenizer, "bos_token_id", None)
        prefix = [bos] if full and bos is not None and full[0] == bos else []
    try:
        tokenizer._bench_bos_ids = prefix
    except AttributeError:  # a tokenizer that refuses attributes: recompute each time
        pass
    return prefix


def context_length(model) -> int:
    cfg = model.config
    for name in ("n_positions", "max_position_embeddings", "seq_length"):
        if getattr(cfg, name, None):
            return int(getattr(cfg, name))
    return 2048


def n_layers(model) -> int:
    return int(model.config.num_hidden_layers)


def quiet_transformers() -> None:
    """Errors only from ``transformers`` (unless the user sets ``TRANSFORMERS_VERBOSITY``
    themselves), and no progress bars of its own or the hub's. Before ``transformers`` is
    imported this sets the environment it reads at import, so a run that finds everything cached
    never pays for importing it (about 3 s); libraries already imported are set directly."""
    import sys

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:  # it read the environment already
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging

        logging.set_verbosity(logging.log_levels.get(os.environ["TRANSFORMERS_VERBOSITY"], logging.ERROR))
        logging.disable_progress_bar()
