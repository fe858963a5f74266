"""GCG step time with and without the prefix KV cache at width 64 and 512, and universal vs
per-prompt cost per prompt, on the organism.

    python perf/bench_gcg.py
"""

from __future__ import annotations

from bench.attacks import PromptJob, gcg
from common import machine, organism, timed


def main() -> None:
    model, tok, data, _ = organism()
    model.requires_grad_(False)
    items = [
        {"prompt": p["prompt"], "target": " shut up, you stupid idiot."} for p in data["eval_prompts"][:8]
    ]
    print(f"machine: {machine()}")
    for width in (64, 512):
        row = []
        for cache in (True, False):
            cfg = gcg.Config(
                num_steps=3, search_width=width, topk=256, use_prefix_cache=cache, mode="per_prompt"
            )
            job = PromptJob(eval_prompts=items[:1], train_prompts=[])
            t = timed(lambda job=job, cfg=cfg: gcg.apply(model, tok, job, cfg, 0), 2) / cfg.num_steps
            row.append(t)
        print(
            f"width {width:3d}: {row[0]:.3f} s/step with prefix cache, {row[1]:.3f} s/step without "
            f"(cache speed-up {row[1] / row[0]:.2f}x)"
        )
    steps, width = 5, 64
    per = gcg.Config(num_steps=steps, search_width=width, topk=64, mode="per_prompt")
    uni = gcg.Config(num_steps=steps, search_width=width, topk=64, mode="universal", n_train_prompts=8)
    t_per = timed(lambda: gcg.apply(model, tok, PromptJob(eval_prompts=items, train_prompts=[]), per, 0))
    t_uni = timed(lambda: gcg.apply(model, tok, PromptJob(eval_prompts=items, train_prompts=items), uni, 0))
    print(
        f"8 prompts x {steps} steps: per-prompt {t_per / 8:.2f} s/prompt, universal {t_uni / 8:.2f} s/prompt "
        f"(one suffix for all; ratio {t_per / t_uni:.2f}x)"
    )


if __name__ == "__main__":
    main()
