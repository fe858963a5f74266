"""The local executor against ``--executor ray`` on this machine, side by side in one run: the
same grid from two empty stores that each start with the default organism already built (copied
from a store where it was built once), so both time the cells, not the organism.

    python perf/bench_ray.py [--methods dpo,npo,repo] [--attacks relearn] [--order local,ray,ray,local]

A local Ray instance starts inside each ``ray`` run (its start-up is part of its time). Ray lanes
compute with the threads a local run uses, two at once per core slot on CPU (``bench/executors``),
so they keep the local run's float reduction order: every run's rows must be identical to the
first's (every metric, interval, key and per-prompt value), and the script fails if they are not,
keeping the stores. By default each executor runs twice, in both orders (local, ray, ray, local),
since this machine's speed drifts by 10-20% between runs; the ratio is of the summed times. Prints
each time and the ratio next to the target (ray at least as fast as local), and saves it as a
record for the README's table (``perf/figures.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import keep_unless, machine
from figures import save

ROOT = Path(__file__).resolve().parent.parent


def cli(home: Path, *args: str) -> float:
    env = {**os.environ, "BENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bench.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"bench_ray: bench {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0


def rows(home: Path, all_runs: bool = False) -> list[str]:
    """The rows of the store's one run (of every run with ``all_runs``) as sorted JSON: every
    field that carries a number or a key (as the end-to-end tests compare runs), per-prompt
    values included."""
    runs = sorted((home / "runs").iterdir())
    if not all_runs and len(runs) != 1:
        sys.exit(f"bench_ray: expected one run in {home}, found {len(runs)}")
    fields = ("model", "method", "attack", "seed", "metrics", "ci95", "keys", "per_prompt")
    return sorted(
        json.dumps({k: r.get(k) for k in fields}, sort_keys=True)
        for run in runs
        for r in map(json.loads, (run / "results.jsonl").read_text().splitlines())
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="dpo,npo,repo")
    ap.add_argument("--attacks", default="relearn")
    ap.add_argument(
        "--order",
        default="local,ray,ray,local",
        help="executors in the order they run, each once per round (default: both orders)",
    )
    args = ap.parse_args()
    order = args.order.split(",")
    if len(order) % 2 or any(sorted(order[i : i + 2]) != ["local", "ray"] for i in range(0, len(order), 2)):
        sys.exit(f"bench_ray: --order must be rounds of local and ray, each once, got {args.order!r}")
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    same = False
    try:
        seed_home = work / "organism"
        print("building the organism once ...", flush=True)
        cli(seed_home, "run", "--method", "none", "--attacks", "", "--quiet")
        grid = ["run", "--method", args.methods, "--attacks", args.attacks, "--quiet"]
        ran: list[tuple[str, float]] = []  # (executor, seconds) in the order they ran
        first = work / f"0-{order[0]}"
        for n, executor in enumerate(order):
            home = work / f"{n}-{executor}"
            shutil.copytree(seed_home / "store" / "organism", home / "store" / "organism")
            ran.append((executor, cli(home, *grid, "--executor", executor)))
            print(f"{executor:>6}: {ran[-1][1]:.1f} s", flush=True)
            same = rows(first) == rows(home)
            if not same:
                break
            if n:  # keep the first store to compare with, and the disk small
                shutil.rmtree(home)
        print(f"machine: {machine()}")
        local, ray = (sum(t for e, t in ran if e == executor) for executor in ("local", "ray"))
        each = ", ".join(f"{e} {t:.1f} s" for e, t in ran)
        print(
            f"grid --method {args.methods} --attacks {args.attacks} ({each}): ray takes "
            f"{ray / local:.2f} of local's time, summed over the runs (target <= 1); identical rows: {same}"
        )
    finally:
        keep_unless(same, work, "bench_ray")
    if not same:
        sys.exit("bench_ray: the executors' rows differ")
    save(
        "ray",
        ray / local,
        f"`--method {args.methods} --attacks {args.attacks}`, in this order: {each}; summed: "
        f"local {local:.1f} s, ray {ray:.1f} s, identical rows",
    )


if __name__ == "__main__":
    main()
