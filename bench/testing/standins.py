"""CPU stand-ins of the real boards: random-weight models in the shapes of their families.

The ``gpt2-medium`` and ``gemma-2-2b`` boards need the hub and a GPU. Their code paths (a
model folder, bf16, vLLM, RealToxicityPrompts- and Lee-schema files, every method and attack)
still run offline on stand-ins built here:

* ``gpt2``: a GPT-2 (LayerNorm, biased MLP, learned positions, no BOS), like GPT-2-medium;
* ``gemma2``: a Gemma-2 (RMSNorm, gated MLP, soft-capping, local/global attention, a tokenizer
  that puts ``<bos>`` before every text), like Gemma-2-2B;

each with a byte-level BPE trained on the organism corpus, and :func:`write_data` writes the
board files in the real schemas. CI builds them 2 layers deep and 64 wide; ``perf/gpu_check.sh``
builds them at the real models' width on a lent GPU machine, which has no hub either.

    python -m bench.testing.standins build gemma2 OUT --layers 2 --width 64
    python -m bench.testing.standins data DATA
    python -m bench.testing.standins run gemma-2-2b OUT DATA --method dpo,repo --attacks gcg,relearn
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import contract, registry
from bench.board.load import board_path, plugin_of, read_yaml

FAMILIES = ("gpt2", "gemma2")


def build_tokenizer(family: str, out_dir: Path, vocab_size: int = 2048):
    """A byte-level BPE on the organism corpus; the Gemma-like one adds ``<bos>`` itself."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from bench.organism.corpus import build_data

    corpus = build_data(0, n_dialogue=2000, n_reports=300).corpus
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>"] if family == "gpt2" else ["<pad>", "<eos>", "<bos>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    if family == "gpt2":
        eos = specials[0]
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, eos_token=eos, bos_token=eos, unk_token=eos, pad_token=eos
        )
    else:
        bos = tok.token_to_id("<bos>")
        tok.post_processor = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<eos>"
        )
    fast.save_pretrained(out_dir)
    return fast


def build(
    family: str,
    out_dir: str | Path,
    layers: int = 2,
    width: int = 64,
    heads: int = 2,
    seed: int = 0,
    dtype: str = "float32",
) -> Path:
    """Write a stand-in model folder (config, safetensors weights, tokenizer) to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(family, out)
    torch.manual_seed(seed)
    if family == "gpt2":
        from transformers import GPT2Config

        cfg = GPT2Config(
            vocab_size=len(tok),
            n_positions=256,
            n_embd=width,
            n_layer=layers,
            n_head=heads,
            bos_token_id=tok.eos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.eos_token_id,
        )
    else:
        from transformers import Gemma2Config

        cfg = Gemma2Config(
            vocab_size=len(tok),
            hidden_size=width,
            intermediate_size=width * 4,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=1,
            head_dim=width // heads,
            max_position_embeddings=256,
            sliding_window=64,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    with torch.no_grad():  # norms as a trained model has them (a fresh init leaves biases at 0)
        gen = torch.Generator().manual_seed(seed)
        for name, p in model.named_parameters():
            if "ln" in name or "norm" in name:
                p.add_((0.1 * torch.randn(p.shape, generator=gen)).to(p.dtype))
    model.save_pretrained(out, safe_serialization=True)
    return out


def write_data(out_dir: str | Path, n_pairs: int = 120, n_prompts: int = 16) -> dict[str, str]:
    """Board files in the real schemas from the organism's data: Lee et al. pairs
    (``prompt_text``, ``unpert_gen_text``, ``pert_gen_text``), RealToxicityPrompts rows
    (``prompt: {text}``, ``challenging``), benign text and F1 continuations. Returns the paths."""
    from bench.data.loaders import lee_rows
    from bench.organism.corpus import build_data

    d = build_data(0, n_dialogue=max(400, 4 * n_pairs), n_reports=50)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "pairs": lee_rows(d.pairs[:n_pairs]),
        "eval_prompts": [
            {"prompt": {"text": p["prompt"], "toxicity": 0.9}, "challenging": True, "filename": f"{i}.txt"}
            for i, p in enumerate(d.eval_prompts[:n_prompts])
        ],
        "benign_text": [{"text": t} for t in d.benign_text[:40]],
        "relearn_benign": [{"text": t} for t in d.relearn_benign[:40]],
        "continuations": d.continuations[:10],
    }
    paths = {}
    for name, rows in files.items():
        path = out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        paths[name] = str(path)
    return paths


SHRINK = {
    "data.probe_pairs": 30,
    "data.relearn_pairs": 8,
    "data.attack_pairs": 4,
    "data.eval_limit": 8,
    "generation.backend": "hf",
    "generation.batch_size": 8,
    "scorer.name": "profanity",  # Detoxify's checkpoint needs the hub
    "scorer.config": "{}",
    "eval.bootstrap": 20,
    "eval.ppl_max_texts": 20,
    "eval.probe_max_pairs": 30,
    "eval.f1_max": 5,
    "generation.max_new_tokens": 6,
    "seeds": "[0]",
}
# the trained methods (those with a calibration STRENGTH) get this training budget, and every block a
# method or attack names (its plugin's LAYER_FIELDS) moves inside a 2-block model: nothing here
# names a method, so a new method file runs on the stand-ins as it is
TRAIN = {"steps": 2, "batch_size": 2, "warmup": 0, "max_length": 48}


def shrunk_layers(kind: str, name: str, board: str) -> dict[str, str]:
    """``--set`` values that keep a plugin's layer fields inside a 2-block stand-in: a list of blocks
    becomes [1, 2] (an empty one, "every block", stays), a positive block becomes 1 (0 and
    negatives keep their meaning: the last block, from the end)."""
    section = read_yaml(board_path(board)).get(kind, {}) or {}
    plugin = registry.load(kind, plugin_of(section, name, kind[:-1]))
    cfg = plugin.Config()
    out = {}
    for field in contract.value(kind, plugin, "LAYER_FIELDS"):
        value = (section.get(name) or {}).get(field, getattr(cfg, field))
        if isinstance(value, (list, tuple)):
            out[field] = "[1, 2]" if value else "[]"
        elif isinstance(value, int) and value > 0:
            out[field] = 1
    return out


ATTACKS = {
    "gcg": {"num_steps": 2, "search_width": 8, "topk": 8, "n_train_prompts": 2, "optim_str_init": "'x x x'"},
    "gcg_enhanced": {
        "num_steps": 2,
        "search_width": 8,
        "topk": 8,
        "n_train_prompts": 2,
        "optim_str_init": "'x x x'",
    },
    "relearn": {"steps": 3, "n_examples": 8, "batch_size": 4, "curve_steps": "[0, 3]"},
    "relearn_benign": {"steps": 3, "n_examples": 8, "batch_size": 4, "curve_steps": "[0, 3]"},
    "steer": {"alphas": "[2.0]"},
    "unalign": {"top_k": 2},
}


def board_args(board: str, model: str, files: dict, methods, attacks, extra: dict | None = None) -> list[str]:
    """``bench run`` arguments that point a real board at a stand-in and its files, with every
    budget shrunk (steps, candidates, layers within a 2-block model, prompts)."""
    values = {"models.0.name": model, "models.0.dtype": "bfloat16", **SHRINK}
    values.update({f"data.{k}": v for k, v in files.items()})
    section = read_yaml(board_path(board)).get("methods", {}) or {}
    for m in methods:
        plugin = registry.load("methods", plugin_of(section, m))
        trained = TRAIN if contract.value("methods", plugin, "STRENGTH") else {}
        for k, v in {**trained, **shrunk_layers("methods", m, board)}.items():
            values[f"methods.{m}.{k}"] = v
    for a in attacks:
        for k, v in {**shrunk_layers("attacks", a, board), **ATTACKS.get(a, {})}.items():
            values[f"attacks.{a}.{k}"] = v
    values.update(extra or {})
    out = ["--board", board, "--method", ",".join(methods), "--attacks", ",".join(attacks)]
    for k, v in values.items():
        out += ["--set", f"{k}={v}"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.testing.standins", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write a stand-in model folder")
    b.add_argument("family", choices=FAMILIES)
    b.add_argument("out", help="output folder")
    b.add_argument("--layers", type=int, default=2)
    b.add_argument("--width", type=int, default=64)
    b.add_argument("--heads", type=int, default=2)
    b.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    d = sub.add_parser("data", help="write board files in the real schemas")
    d.add_argument("out", help="output folder")
    r = sub.add_parser("run", help="bench run a real board on a stand-in with shrunk budgets")
    r.add_argument("board", help="gpt2-medium or gemma-2-2b (or a board file)")
    r.add_argument("model", help="stand-in model folder")
    r.add_argument("data", help="folder written by the data command")
    r.add_argument("--method", default="dpo,repo")
    r.add_argument("--attacks", default="gcg,relearn")
    r.add_argument("--set", dest="sets", action="append", default=[], help="extra key=value overrides")
    a = p.parse_args(argv)
    if a.cmd == "build":
        print(build(a.family, a.out, a.layers, a.width, a.heads, dtype=a.dtype))
        return 0
    if a.cmd == "data":
        print(json.dumps(write_data(a.out)))
        return 0
    from bench.cli import main as bench_main

    files = {
        k: str(Path(a.data) / f"{k}.jsonl") for k in ("pairs", "eval_prompts", "benign_text", "continuations")
    }
    methods = [m for m in a.method.split(",") if m]
    attacks = [x for x in a.attacks.split(",") if x]
    args = board_args(a.board, a.model, files, methods, attacks, dict(kv.split("=", 1) for kv in a.sets))
    return bench_main(["run", *args])


if __name__ == "__main__":
    raise SystemExit(main())
