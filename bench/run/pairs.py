"""Build (prompt, benign, toxic) preference pairs for any model, the way the REPO line of work does.

Lee et al. 2024 (arXiv 2401.01967) pair each prompt's greedy continuation (benign) with a
continuation steered toward toxicity by PPLM with a linear toxicity probe. Here:

* benign = the model's greedy continuation;
* toxic  = ``bestofn``: the most toxic of n sampled continuations under the scorer, or
           ``steer``: greedy decoding with ``alpha`` times the unit toxicity-probe direction added
           to the last block's output (a probe trained on the model's mean last-layer states of
           labelled texts, as in Lee et al.'s probe).

Output uses the Lee et al. keys (``prompt_text``, ``unpert_gen_text``, ``pert_gen_text``) so it
loads anywhere their file does.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError


def steering_direction(model, tokenizer, texts: list[str], labels: list[int]):
    """Unit probe direction on mean last-layer states of labelled texts."""
    from bench.eval.probes import fit_probe, pooled_states

    pairs = [{"prompt": "", "benign": t, "toxic": t} for t in texts]
    x, _, _ = pooled_states(model, tokenizer, pairs)
    import torch

    feats = x[-1][: len(texts)]  # benign-side copy: the texts themselves
    w, _, _, std = fit_probe(feats, torch.tensor(labels, dtype=torch.float))
    d = (w / std).float()
    return d / d.norm()


def steered_generate(model, tokenizer, prompts: list[str], direction, alpha: float, max_new_tokens: int):
    """Greedy continuations with ``alpha · direction`` added to the last block's output."""
    from bench.generators.hf import generate

    block = model.transformer.h[-1] if hasattr(model, "transformer") else model.model.layers[-1]
    shift = (alpha * direction).to(next(model.parameters()).device)

    def hook(module, args, output):
        if isinstance(output, tuple):
            return (output[0] + shift,) + tuple(output[1:])
        return output + shift

    handle = block.register_forward_hook(hook)
    try:
        return [o[0] for o in generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens)]
    finally:
        handle.remove()


def build_pairs(
    model,
    tokenizer,
    prompts: list[str],
    scorer,
    toxic: str = "bestofn",
    n: int = 8,
    direction=None,
    alpha: float = 8.0,
    max_new_tokens: int = 20,
    seed: int = 0,
) -> list[dict]:
    from bench.generators.hf import generate

    benign = [o[0] for o in generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens)]
    if toxic == "bestofn":
        samples = generate(
            model,
            tokenizer,
            prompts,
            max_new_tokens=max_new_tokens,
            num_samples=n,
            temperature=1.0,
            top_p=1.0,
            seed=seed,
        )
        flat = scorer.score([t for s in samples for t in s])
        tox = [max(zip(flat[i * n : (i + 1) * n], s))[1] for i, s in enumerate(samples)]
    else:
        tox = steered_generate(model, tokenizer, prompts, direction, alpha, max_new_tokens)
    return [
        {"prompt_text": p, "unpert_gen_text": b, "pert_gen_text": t} for p, b, t in zip(prompts, benign, tox)
    ]


def build_pairs_cli(args) -> None:
    from bench import registry
    from bench.data.loaders import load_eval_prompts, read_jsonl_file
    from bench.modeling import (
        check_model_source,
        load_model,
        load_tokenizer,
        quiet_transformers,
        seed_everything,
    )

    quiet_transformers()
    if args.n <= 0 or args.max_new_tokens <= 0:
        raise BenchError("--n and --max-new-tokens must be positive")
    if min(args.probe_pairs, args.relearn_pairs, args.attack_pairs) < 0:
        raise BenchError("--probe-pairs, --relearn-pairs and --attack-pairs must not be negative")
    prompts = [r["prompt"] for r in load_eval_prompts(args.prompts, challenging_only=False)]
    check_model_source(args.model)
    scorer_mod = registry.load("scorers", args.scorer)
    direction = None
    tok = load_tokenizer(args.model)
    model = load_model(args.model)
    seed_everything(args.seed)
    if args.toxic == "steer":
        if not args.probe_data:
            raise BenchError("--toxic steer needs --probe-data (JSONL with 'text' and 'toxic')")
        rows = read_jsonl_file(args.probe_data)
        if any("text" not in r or "toxic" not in r for r in rows):
            raise BenchError(f"{args.probe_data}: every line needs 'text' and 'toxic'")
        direction = steering_direction(
            model, tok, [r["text"] for r in rows], [int(bool(r["toxic"])) for r in rows]
        )
    scorer = scorer_mod.create(scorer_mod.Config())
    try:
        pairs = build_pairs(
            model,
            tok,
            prompts,
            scorer,
            args.toxic,
            args.n,
            direction,
            args.alpha,
            args.max_new_tokens,
            args.seed,
        )
        tb = scorer.score([p["unpert_gen_text"] for p in pairs])
        tt = scorer.score([p["pert_gen_text"] for p in pairs])
    finally:
        scorer.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    tmp.replace(out)
    print(
        f"{len(pairs)} pairs -> {out}; mean toxicity benign {sum(tb) / len(tb):.3f}, toxic {sum(tt) / len(tt):.3f}"
    )
    if args.splits:
        write_splits(pairs, Path(args.splits), args)


def write_splits(rows: list[dict], out: Path, args) -> dict:
    """The board's split of ``rows`` (Lee et al. keys) into role files under ``out``; a board
    takes them back with ``pairs: out/train.jsonl``, ``attack:``, ``relearn:`` and ``probe:``."""
    from types import SimpleNamespace

    from bench.data import roles
    from bench.data.loaders import lee_rows
    from bench.store import write_json

    spec = SimpleNamespace(
        probe=None,
        relearn=None,
        attack=None,
        probe_pairs=args.probe_pairs,
        relearn_pairs=args.relearn_pairs,
        attack_pairs=args.attack_pairs,
        split_seed=args.split_seed,
    )
    pairs = [
        {"prompt": r["prompt_text"], "benign": r["unpert_gen_text"], "toxic": r["pert_gen_text"]}
        for r in rows
    ]
    split = roles.split_pairs(pairs, spec, "--splits")
    out.mkdir(parents=True, exist_ok=True)

    files = {
        "train.jsonl": lee_rows(split["train"]),
        "attack.jsonl": lee_rows(split["attack"]),
        "probe.jsonl": lee_rows(split["probe"]),
        "relearn.jsonl": [{"text": t} for t in roles.relearn_texts(split["relearn"])],
    }
    for name, body in files.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in body), encoding="utf-8")
        tmp.replace(out / name)
    record = roles.record(split) | {"split_seed": args.split_seed}
    write_json(out / "roles.json", record)
    print("splits -> " + ", ".join(f"{k} {v['n']}" for k, v in roles.record(split).items()) + f" in {out}")
    return record
