"""The default command, cold (empty store) and warm (everything cached), against a baseline commit,
side by side in one run on one machine (machines of this kind differ by about 2x from day to day,
so only the ratio measured here means anything).

python perf/bench_run.py [--baseline ac45016] [--skip-baseline] [--also-set eval.attack_restarts=1]

The baseline is checked out into a git worktree with its own virtual environment (torch and the
rest come from pip's cache), so the two trees never import each other's code. Runs alternate:
baseline cold, current cold (and the current tree with the ``--also-set`` values), then all warm.
Prints each target next to its measured ratio and the stage-time summary of the current tree's
cold run, and saves each target's record for the README's table (``perf/figures.py``).
``--also-set`` values are checked with a dry run before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine
from figures import BASELINE, save

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["run", "--method", "repo", "--attacks", "gcg,relearn", "--quiet"]
TORCH = "torch==2.13.0"


def baseline_env(commit: str, work: Path) -> tuple[str, Path]:
    """(python, tree) of ``commit`` installed into its own venv under ``work``."""
    tree = work / f"tree-{commit}"
    if not tree.is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True)
    venv = work / f"venv-{commit}"
    py = venv / "bin" / "python"
    if not py.is_file():
        # the same package versions as this environment, so only the code differs
        frozen = subprocess.run(
            [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        constraints = work / "constraints.txt"
        constraints.write_text(frozen)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q", "-c", str(constraints)]
        subprocess.run([*pip, TORCH], check=True)
        subprocess.run([*pip, "-e", str(tree)], check=True)
        # the CPU torch wheel must stay: drop what a dependency may have pulled beside it
        subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "torchvision", "torchaudio", "triton"])
    return str(py), tree


def timed_run(python: str, cwd: Path, home: str, extra: tuple[str, ...] = ()) -> float:
    env = {**os.environ, "BENCH_HOME": home, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    subprocess.run(
        [python, "-m", "bench.cli", *ARGS, *extra], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def baseline_args(add=None) -> tuple[argparse.Namespace, Path]:
    """The side-by-side scripts' command line (--baseline, --skip-baseline, --work, and what
    ``add`` puts on the parser) and work folder."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="ac45016")
    ap.add_argument("--skip-baseline", action="store_true", help="time the current tree only")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench-perf"))
    if add:
        add(ap)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    return args, work


def main() -> None:
    args, work = baseline_args(
        lambda ap: ap.add_argument(
            "--also-set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="also time the current tree with these --set values, e.g. eval.attack_restarts=1 "
            "(the one GCG restart ac45016 ran: the same work as the baseline)",
        )
    )
    if args.baseline in ("current", "current+set"):
        sys.exit(f"bench_run: --baseline {args.baseline!r} names a side of this script, not a commit")
    sides = {"current": (sys.executable, ROOT, ())}
    if not args.skip_baseline:
        sides = {args.baseline: (*baseline_env(args.baseline, work), ()), **sides}
    if args.also_set:
        extra = tuple(x for kv in args.also_set for x in ("--set", kv))
        check = subprocess.run(
            [sys.executable, "-m", "bench.cli", *ARGS, *extra, "--dry-run"],
            cwd=ROOT,
            env={**os.environ, "BENCH_HOME": tempfile.mkdtemp(dir=work)},
            capture_output=True,
            text=True,
        )
        if check.returncode:
            sys.exit(f"bench_run: --also-set: {check.stderr.strip()}")
        sides["current+set"] = (sys.executable, ROOT, extra)
    homes = {name: tempfile.mkdtemp(prefix=f"bench-perf-{name}-", dir=work) for name in sides}
    times: dict[str, dict[str, float]] = {name: {} for name in sides}
    for phase in ("cold", "warm"):
        for name, (python, cwd, extra) in sides.items():
            times[name][phase] = timed_run(python, cwd, homes[name], extra)
            print(f"{name:>11} {phase}: {times[name][phase]:.1f} s", flush=True)
    print(f"machine: {machine()}")
    cur = times["current"]
    if not args.skip_baseline:
        base = times[args.baseline]
        print(
            f"default run cold: {args.baseline} {base['cold']:.1f} s, current {cur['cold']:.1f} s: "
            f"{base['cold'] / cur['cold']:.2f}x faster (target >= 2x)"
        )
    if args.also_set:
        same = times["current+set"]["cold"]
        versus = "" if args.skip_baseline else f": {base['cold'] / same:.2f}x faster than {args.baseline}"
        print(f"default run cold with --set {' --set '.join(args.also_set)}: {same:.1f} s{versus}")
    print(f"default run warm: {cur['warm']:.1f} s (target <= 5 s)")
    runs = sorted((Path(homes["current"]) / "runs").iterdir())
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    by: dict[str, float] = {}
    for st in manifest["stages"]:
        by[st["stage"]] = by.get(st["stage"], 0.0) + st["seconds"]
    print(
        "current cold run by stage: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(by.items(), key=lambda x: -x[1]))
    )
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(by.items(), key=lambda x: -x[1])[:3])
    if args.skip_baseline or args.baseline != BASELINE:
        print(f"no record of the cold ratio: the target's baseline is {BASELINE}")
    else:
        detail = f"{args.baseline} {base['cold']:.1f} s, current {cur['cold']:.1f} s ({stages})"
        if args.also_set:
            detail += (
                f"; with --set {' --set '.join(args.also_set)}: {same:.1f} s, "
                f"{base['cold'] / same:.2f}× faster than {args.baseline}"
            )
        save("default_cold", base["cold"] / cur["cold"], detail)
    warm = f"{args.baseline} {base['warm']:.1f} s" if not args.skip_baseline else "no baseline run"
    save("default_warm", cur["warm"], f"everything cached; {warm}")


if __name__ == "__main__":
    main()
