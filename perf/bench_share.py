"""Two ``bench run`` jobs on this machine one after the other, against the same two jobs side by
side sharing each core slot (``BENCH_SLOT_SHARE=2`` with OpenMP's spin-wait cut short,
``GOMP_SPINCOUNT=1000``), in one run: both from stores that start with the default organism built.

    python perf/bench_share.py [--jobs dpo,npo] [--attacks gcg,relearn] [--spin 1000] [--shared-first]

Each job computes with the usual thread count either way, so the rows must be identical (the
script fails if they are not, keeping the stores). Prints both times and their ratio; this machine's
speed drifts by 10-20% between runs, so run it in both orders. Not a target of its own: it
measures what the README offers for concurrent runs and what Ray's workers do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_ray import ROOT, cli, rows
from common import keep_unless, machine


def job(home: Path, method: str, attacks: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--method", method, "--attacks", attacks, "--quiet"],
        env={**os.environ, "BENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            for other in procs:
                other.kill()
            sys.exit(f"bench_share: a job failed:\n{err[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="dpo,npo", help="two methods, one job each")
    ap.add_argument("--attacks", default="gcg,relearn")
    ap.add_argument("--spin", default="1000", help="GOMP_SPINCOUNT of the side-by-side jobs")
    ap.add_argument("--shared-first", action="store_true", help="time the side-by-side jobs first")
    args = ap.parse_args()
    jobs = args.jobs.split(",")
    if len(jobs) != 2:
        sys.exit(f"bench_share: --jobs must name two methods, got {args.jobs!r}")
    for var in ("BENCH_SLOT_SHARE", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if var in os.environ:
            sys.exit(f"bench_share: unset {var}: the script sets it for the side-by-side jobs")
    work = Path(tempfile.mkdtemp(prefix="bench-share-"))
    same = False
    try:
        print("building the organism once ...", flush=True)
        cli(work / "organism", "run", "--method", "none", "--attacks", "", "--quiet")
        homes = {}
        for mode in ("serial", "shared"):
            homes[mode] = work / mode
            shutil.copytree(work / "organism" / "store" / "organism", homes[mode] / "store" / "organism")
        cores = {"BENCH_CORES_DIR": str(work / "cores")}  # no other bench job takes these slots
        took = {}
        for mode in ("shared", "serial") if args.shared_first else ("serial", "shared"):
            t0 = time.perf_counter()
            if mode == "serial":
                for method in jobs:
                    wait([job(homes[mode], method, args.attacks, cores)])
            else:
                env = {**cores, "BENCH_SLOT_SHARE": "2", "GOMP_SPINCOUNT": args.spin}
                wait([job(homes[mode], method, args.attacks, env) for method in jobs])
            took[mode] = time.perf_counter() - t0
            print(f"{mode}: {took[mode]:.1f} s", flush=True)
        serial, shared = took["serial"], took["shared"]
        same = rows(homes["serial"], all_runs=True) == rows(homes["shared"], all_runs=True)
        print(f"machine: {machine()}")
        print(
            f"jobs --method {args.jobs} --attacks {args.attacks}: side by side (GOMP_SPINCOUNT={args.spin}) "
            f"{shared:.1f} s against {serial:.1f} s one after the other: {serial / shared:.2f}x faster; "
            f"identical rows: {same}"
        )
    finally:
        keep_unless(same, work, "bench_share")
    if not same:
        sys.exit("bench_share: the rows differ")


if __name__ == "__main__":
    main()
