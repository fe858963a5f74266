"""HF sampling of a baseline commit against the current tree, side by side in one process, on
the default board's organism: 200 eval prompts x 10 samples (temperature 1, top-p 0.9, 20 new
tokens, batches of 32 prompts), plain, behind a 20-token random prefix (which, like a GCG
string, leaves many rows' next-token distributions nearly flat), and on the organism under the
``steer`` attack's strongest point (alpha 8 along its toxic direction, where most rows' nuclei
hold over a thousand tokens).

    python perf/bench_sampling.py [--baseline 3e9d0e9]

The baseline's ``bench/generators/hf.py`` is read with ``git show`` and imported beside the
current one, so both run on the same model, prompts and threads. Each side runs twice,
alternating; the best time counts. It also checks that both give the same continuations: a
speed-up of sampling must not change a single sample (cached cells would disagree with
recomputed ones).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
from common import machine, organism

from bench.generators import hf

ROOT = Path(__file__).resolve().parent.parent
KW = dict(max_new_tokens=20, num_samples=10, temperature=1.0, top_p=0.9, seed=0, batch_size=32)


def baseline_module(rev: str) -> types.ModuleType:
    try:
        source = subprocess.run(
            ["git", "show", f"{rev}:bench/generators/hf.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as e:
        sys.exit(f"bench_sampling: cannot read bench/generators/hf.py at {rev!r}: {e.stderr.strip()}")
    mod = types.ModuleType("hf_baseline")
    mod.__file__ = f"{rev}:bench/generators/hf.py"
    sys.modules["hf_baseline"] = mod  # dataclasses look their module up by name
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)  # noqa: S102 (this repository's own file)
    return mod


def random_prefix(tok, n: int = 20, seed: int = 0) -> str:
    """n random tokens of those GCG may propose (printable ASCII, no special tokens)."""
    from attacks.gcg import disallowed_ids

    allowed = sorted(set(range(len(tok))) - set(disallowed_ids(tok, allow_non_ascii=False).tolist()))
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(allowed), (n,), generator=g).tolist()
    return tok.decode([allowed[i] for i in picks]).strip()


def steered(model, tok, data, alpha: float = 8.0):
    """A copy of the organism under the board's ``steer`` attack at ``alpha`` (its toxic direction)."""
    import copy
    from types import SimpleNamespace

    from attacks import steer

    job = SimpleNamespace(base_model=None, pairs=data["pairs"], checkpoint=None)
    out, _ = steer.apply(copy.deepcopy(model), tok, job, steer.Config(alphas=[alpha], control=False), 0)
    return out.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="3e9d0e9", help="commit to compare with (default: 3e9d0e9)")
    args = ap.parse_args()
    base = baseline_module(args.baseline)
    model, tok, data, _ = organism()
    model.eval()
    prompts = [p["prompt"] for p in data["eval_prompts"]]
    prefix = random_prefix(tok)
    print(f"machine: {machine()}")
    print(f"prompts: {len(prompts)} x {KW['num_samples']} samples; random prefix: {prefix[:60]!r}")
    total = {"baseline": 0.0, "current": 0.0}
    sets = [
        ("plain", model, prompts),
        ("20-token prefix", model, [f"{prefix} {p}" for p in prompts]),
        ("steered (a=8)", steered(model, tok, data), prompts),
    ]
    for name, m, ps in sets:
        best, outs = {"baseline": float("inf"), "current": float("inf")}, {}
        for _ in range(2):
            for side, gen in (("baseline", base.generate), ("current", hf.generate)):
                t0 = time.perf_counter()
                outs[side] = gen(m, tok, ps, **KW)
                best[side] = min(best[side], time.perf_counter() - t0)
        same = outs["baseline"] == outs["current"]
        n = sum(map(len, outs["current"]))
        print(
            f"{name:16s} {args.baseline} {best['baseline']:6.2f} s   current {best['current']:6.2f} s   "
            f"{best['baseline'] / best['current']:.2f}x faster   identical continuations: {same} ({n})"
        )
        for side in total:
            total[side] += best[side]
        if not same:
            raise SystemExit(f"bench_sampling: {name}: the continuations differ from {args.baseline}'s")
    print(
        f"sampling, all {len(sets)} sets: {args.baseline} {total['baseline']:.2f} s, current "
        f"{total['current']:.2f} s: {total['baseline'] / total['current']:.2f}x faster"
    )


if __name__ == "__main__":
    main()
