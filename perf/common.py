"""Shared set-up for the perf scripts: the built-in organism from the store (built on first use)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def organism():
    """(model, tokenizer, data splits) of the default board's organism."""
    from bench.board.load import load_plan
    from bench.modeling import load_model, load_tokenizer
    from bench.progress import Reporter
    from bench.run.local import runtime
    from bench.stages import base_model

    plan = load_plan("tiny", ["none"], [])
    rt = runtime(plan, Reporter(quiet=True))
    ref, data_dir = base_model(rt, plan.board.models[0])
    data = {p.stem: json.loads(p.read_text()) for p in Path(data_dir).glob("*.json")}
    return load_model(ref.path), load_tokenizer(ref.path), data, ref.path


def machine() -> str:
    import torch

    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def keep_unless(same: bool, work: Path, script: str) -> None:
    """Remove the stores of a side-by-side comparison whose rows agreed; keep them on a mismatch
    and say where."""
    if same:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"{script}: stores kept in {work}", file=sys.stderr)


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
