"""The local executor against ``--executor ray`` on this machine, side by side in one run: the
same grid from two empty stores that each start with the default organism already built (copied
from a store where it was built once), so both time the cells, not the organism.

    python perf/bench_ray.py [--methods dpo,npo,repo] [--attacks relearn] [--order local,ray|ray,local]

A local Ray instance starts inside the ``ray`` run (its start-up is part of its time). Each Ray
task reserves the threads a local run uses, so on one machine the cells run one at a time with
the local run's float reduction order: the rows must be identical (every metric, interval, key
and per-prompt value), and the script fails if they are not, keeping both stores. Prints both
times and the ratio next to the target (ray at least as fast as local), and saves it as a record for
the README's table (``perf/figures.py``); run it in both orders.
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

from common import machine
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


def rows(home: Path) -> list[str]:
    """The run's rows as sorted JSON: every field that carries a number or a key (as the
    end-to-end tests compare runs), per-prompt values included."""
    (run,) = sorted((home / "runs").iterdir())
    fields = ("model", "method", "attack", "seed", "metrics", "ci95", "keys", "per_prompt")
    return sorted(
        json.dumps({k: r.get(k) for k in fields}, sort_keys=True)
        for r in map(json.loads, (run / "results.jsonl").read_text().splitlines())
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="dpo,npo,repo")
    ap.add_argument("--attacks", default="relearn")
    ap.add_argument("--order", default="local,ray", help="which executor runs first")
    args = ap.parse_args()
    order = args.order.split(",")
    if sorted(order) != ["local", "ray"]:
        sys.exit(f"bench_ray: --order must name local and ray once each, got {args.order!r}")
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    same = False
    try:
        seed_home = work / "organism"
        print("building the organism once ...", flush=True)
        cli(seed_home, "run", "--method", "none", "--attacks", "", "--quiet")
        grid = ["run", "--method", args.methods, "--attacks", args.attacks, "--quiet"]
        times, homes = {}, {}
        for executor in order:
            homes[executor] = home = work / executor
            shutil.copytree(seed_home / "store" / "organism", home / "store" / "organism")
            times[executor] = cli(home, *grid, "--executor", executor)
            print(f"{executor:>6}: {times[executor]:.1f} s", flush=True)
        print(f"machine: {machine()}")
        same = rows(homes["local"]) == rows(homes["ray"])
        print(
            f"grid --method {args.methods} --attacks {args.attacks} ({args.order} in that order): "
            f"local {times['local']:.1f} s, ray {times['ray']:.1f} s: ray takes "
            f"{times['ray'] / times['local']:.2f} of local's time (target <= 1); identical rows: {same}"
        )
    finally:
        if same:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"bench_ray: stores kept in {work}", file=sys.stderr)
    if not same:
        sys.exit("bench_ray: the executors' rows differ")
    save(
        "ray",
        times["ray"] / times["local"],
        f"`--method {args.methods} --attacks {args.attacks}`, {args.order.replace(',', ' then ')}: "
        f"local {times['local']:.1f} s, ray {times['ray']:.1f} s, identical rows",
    )


if __name__ == "__main__":
    main()
