"""Batched vs per-text scoring for the profanity scorer (and Detoxify when a checkpoint is given).

python perf/bench_scorer.py [--detoxify-checkpoint CKPT --sha256 HEX --config-path DIR]
"""

from __future__ import annotations

import argparse

from common import machine, organism, timed

from bench import registry


def compare(name: str, cfg, texts: list[str]) -> None:
    mod = registry.load("scorers", name)
    scorer = mod.create(cfg)
    try:
        scorer.score(texts[:8])
        t_batch = timed(lambda: scorer.score(texts), 3)
        t_each = timed(lambda: [scorer.score([t]) for t in texts])
    finally:
        scorer.close()
    print(
        f"{name}: batched {len(texts) / t_batch:9.0f} texts/s, per-text {len(texts) / t_each:8.0f} texts/s, "
        f"ratio {t_each / t_batch:.1f}x (target >= 10x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detoxify-checkpoint")
    ap.add_argument("--sha256")
    ap.add_argument("--config-path")
    args = ap.parse_args()
    _, _, data, _ = organism()
    texts = [p["toxic"] for p in data["pairs"]] + [p["benign"] for p in data["pairs"]]
    texts = (texts * 4)[:1000]
    print(f"machine: {machine()}; {len(texts)} texts")
    compare("profanity", registry.load("scorers", "profanity").Config(), texts)
    if args.detoxify_checkpoint:
        mod = registry.load("scorers", "detoxify")
        compare(
            "detoxify",
            mod.Config(
                checkpoint=args.detoxify_checkpoint,
                checkpoint_sha256=args.sha256,
                config_path=args.config_path,
                chunk_size=64,
            ),
            texts[:256],
        )


if __name__ == "__main__":
    main()
