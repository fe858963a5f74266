"""Log every GCG optimisation's best training loss, step by step, during a ``bench run``.

    BENCH_HOME=/tmp/gcg-loss python docs/runs/gcg-loss/log_losses.py run --method repo,dpo \
        --attacks gcg,gcg_enhanced

Appends one JSON line per optimisation to ``losses.jsonl`` beside this file: the restart's seed,
its ``num_steps`` and ``search_width``, the number of training prompts, the initial loss and the
best loss after each step (a step with no exactly re-tokenising candidate adds no entry). The
``losses.jsonl`` here is the 2026-11-29 16:47 run, stopped after 8 optimisations: width 128 is
``gcg`` and 64 ``gcg_enhanced``; an initial loss of 1.047 is the base organism, 2.874 REPO.
"""

import json
import sys
from pathlib import Path

import bench.attacks.gcg as gcg

OUT = Path(__file__).resolve().parent / "losses.jsonl"
_optimise = gcg.optimise


def logged(
    model, tokenizer, objectives, cfg, seed, init_ids, banned, success=None, progress=None, probes=None
):
    best = []

    def step(**kw):
        best.append(kw.get("loss"))
        if progress:
            progress(**kw)

    res = _optimise(model, tokenizer, objectives, cfg, seed, init_ids, banned, success, step, probes)
    line = {"seed": seed, "steps": cfg.num_steps, "width": cfg.search_width, "n_obj": len(objectives)}
    with OUT.open("a") as fh:
        fh.write(json.dumps(line | {"init": res["init_loss"], "best": best}) + "\n")
    return res


gcg.optimise = logged  # attack() looks optimise up in the module at call time

if __name__ == "__main__":
    from bench.cli import main

    sys.exit(main(sys.argv[1:]))
