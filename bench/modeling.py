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
    if spec.startswith("cuda:") and int(spec[5:]) >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise BenchError(f"device '{spec}' requested but this machine has {n} GPU(s): cuda:0..cuda:{n - 1}")
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


def _first_line(e: BaseException) -> str:
    """The reason an error gives, in one line, without terminal colour codes. torch's refusal of
    a pickle opens with generic advice (load it anyway, with ``weights_only=False``): its reason
    is the ``WeightsUnpickler error:`` line further down."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    own = [ln.split("error:", 1)[1].strip() for ln in lines if ln.startswith("WeightsUnpickler error:")]
    reason = own[0].split(". ")[0] if own else (lines[0] if lines else type(e).__name__)
    return reason.rstrip(".")


def _json_files(folder: Path, what: str) -> None:
    import json

    for f in sorted(folder.glob("*.json")):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise BenchError(f"Cannot load {what} '{folder}': {f.name} is not UTF-8 ({e.reason})") from None
        except ValueError as e:
            raise BenchError(
                f"Cannot load {what} '{folder}': {f.name} is not valid JSON ({e}); the file is damaged "
                "or cut short: copy or save it again"
            ) from None


def _weights_refusal(path: Path) -> str | None:
    """Why a weights file cannot be loaded, or None. Safetensors: the header is parsed and must
    cover the file (cheap: nothing is read beyond it). A pickle (``*.bin``): torch's weights-only
    loader, as transformers uses it, memory-mapped so no tensor is read; its code never runs."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy"):
                pass
        except Exception as e:  # SafetensorError, or OSError for an unreadable file
            return f"{_first_line(e)}; the file is damaged or cut short: copy or save the model again"
        return None
    import pickle
    import zipfile

    import torch

    damaged = "the file is damaged or cut short: copy or save the model again"
    zipped = zipfile.is_zipfile(path)
    with open(path, "rb") as f:
        if not zipped and f.read(4) == b"PK\x03\x04":  # torch.save's zip, without its directory
            return f"a zip archive whose end is missing; {damaged}"
    try:
        torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as e:
        return (
            f"the weights-only loader refuses it ({_first_line(e)}); bench never runs a checkpoint's "
            "pickle: save the model as safetensors (save_pretrained) where you trust it"
        )
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        return f"{_first_line(e)}; {damaged}"
    return None


def check_model_files(name: str) -> None:
    """:func:`check_model_source`, then, for a local folder, that every file a load reads can be
    read: its JSON files (config, tokenizer) parse, and the weights transformers would load
    (safetensors if there are any, else the ``*.bin`` pickles) open. One line naming the file and
    the reason, before anything runs."""
    check_model_source(name)
    folder = Path(name)
    if not folder.is_dir():
        return  # a hub id: read from the cache when loaded
    _json_files(folder, "model")
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    for f in weights:
        reason = _weights_refusal(f)
        if reason:
            raise BenchError(f"Cannot load model '{name}': {f.name}: {reason}")


# What a load of damaged or refused files raises (a JSON or header parse, torch's unpickler and
# zip reader); anything else is a defect of the code and keeps its traceback.
LOAD_ERRORS = (OSError, ValueError, RuntimeError, EOFError)


def load_tokenizer(path: str, trust_remote_code: bool = False, revision: str | None = None):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    except BenchError:
        raise
    except Exception as e:  # the tokenizers library raises plain Exception for a bad tokenizer.json
        if not isinstance(e, LOAD_ERRORS) and type(e) is not Exception:
            raise
        if Path(path).is_dir():
            _json_files(Path(path), "tokenizer")  # names the damaged file if that is the reason
        raise BenchError(f"Cannot load tokenizer '{path}': {_first_line(e)}") from None
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
    import pickle

    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=getattr(torch, DTYPES[dtype]),
            trust_remote_code=trust_remote_code,
            revision=revision,
            use_safetensors=None,
        )
    except (*LOAD_ERRORS, pickle.UnpicklingError, SafetensorError) as e:
        if Path(path).is_dir():
            check_model_files(path)  # names the file and its reason when a file is the cause
        raise BenchError(f"Cannot load model '{path}': {_first_line(e)}") from None
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
