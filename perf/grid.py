"""The full tiny grid (every method, variant and attack of the board, several seeds, matched
operating points) as independent ``bench run`` processes on one store, then the leaderboard.

python perf/grid.py [--seeds 3] [--workers N] [--deadline SECONDS] [--out DIR] [--set KEY=VALUE ...]

Each job is one (method, seed) of the board, run as its own ``bench run --set seeds=[s] --method m``
on the shared store (``BENCH_HOME``): the store's locks let jobs that need the same artifact (the
organism of a seed, the base model's cells) wait for one another instead of computing it twice,
and the core slots (``bench.cores``) keep concurrent jobs from oversubscribing the CPU. First one
job per seed builds that seed's organism and base cells, then the (method, seed) jobs run, the
slowest methods first. Every job writes its own run record; ``bench leaderboard`` merges them.
Prints each job's time, the grid's wall time, and the leaderboard's path. Jobs still running at
the deadline are stopped (their finished stages are kept: a rerun resumes). With ``--record`` (the
whole board, 3 seeds) the wall time, or how many jobs the deadline let finish, is saved as the
README's target record (``perf/figures.py``); run it on an empty ``BENCH_HOME`` to time it cold.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from figures import save  # first: it notes the commit the grid starts on

BENCH = [sys.executable, "-c", "import sys; from bench.cli import main; sys.exit(main())"]
SLOW_FIRST = ("repo", "dpo", "npo", "rmu", "cb")  # calibrated or long-trained methods first


def board_lists(board: str) -> tuple[list[str], list[str]]:
    """(methods, attacks) the board runs by default."""
    from bench.board.load import board_path, read_yaml

    raw = read_yaml(board_path(board))
    return [m for m in raw.get("run_methods", []) if m != "none"], list(raw.get("run_attacks", []))


# the zoo's usable controls and the graded ones, in the order the sweeps run (the base first: every
# budget's R needs it); subtract and subtract_mid are left out: outside the utility band on tiny
CERT_ZOO = (
    "none",
    "oracle",
    "logit_filter",
    "locked",
    "logit_filter-s10",
    "logit_filter-s90",
    "locked-s40",
    "locked-s640",
)


SWEEP_ORDER = (
    "relearn",
    "relearn_benign",
    "steer",
    "unalign",
    "gcg",
    "gcg_enhanced",
)  # cheap and central first


def certify_jobs(sweeps: list[str], zoo: list[str], seeds: int, common: list[str], seed) -> list[tuple]:
    """One job per (swept attack, zoo member, seed), an attack's whole sweep at a time (relearning
    first, so the sweep a session finishes is a whole one), each member only under the attacks that
    can reach it (``bench.eval.reach``: a filter after the final norm is not run under prompts)."""
    from bench.eval.certify import graded_of, swept
    from bench.eval.reach import exclusion

    groups: dict[str, list[str]] = {}
    for name in sweeps:
        groups.setdefault(swept(name), []).append(name)
    order = sorted(groups, key=lambda g: (SWEEP_ORDER.index(g) if g in SWEEP_ORDER else len(SWEEP_ORDER), g))
    jobs = []
    for group in order:
        for m in zoo:
            control = graded_of(m) or m
            if m not in ("none", "oracle") and exclusion(control, group) is not None:
                continue
            for s in range(seeds):
                jobs.append(
                    (
                        f"{m} x {group} sweep seed {s}",
                        [*common, *seed(s), "--method", m, "--attacks", ",".join(groups[group])],
                    )
                )
    return jobs


def sweep_attacks(board: str) -> list[str]:
    """The board's certification sweep variants (``ATTACK~TAG`` entries of its attacks section)."""
    from bench.board.load import board_path, read_yaml

    return [n for n in (read_yaml(board_path(board)).get("attacks") or {}) if "~" in n]


def all_methods(board: str) -> set[str]:
    from bench.board.load import board_path, read_yaml

    return set(read_yaml(board_path(board)).get("methods") or {})


def no_attacks(method: str) -> list[str]:
    """Localisation's known answers are judged without attacks (``bench.eval.validity``)."""
    from bench.eval.validity import NEURONS

    return ["--attacks", ""] if method in NEURONS.values() else []


def run_job(args: list[str], deadline: float, log: Path) -> tuple[float, int]:
    t0 = time.time()
    left = deadline - t0
    if left <= 5:
        return 0.0, -1
    with open(log, "a") as fh:
        fh.write(f"$ bench {' '.join(args)}\n")
        fh.flush()
        try:
            rc = subprocess.run([*BENCH, *args], stdout=fh, stderr=subprocess.STDOUT, timeout=left).returncode
        except subprocess.TimeoutExpired:
            rc = -9
    return time.time() - t0, rc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--board", default="tiny")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--workers", type=int, default=0, help="concurrent jobs (default: core slots, times BENCH_SLOT_SHARE)"
    )
    p.add_argument("--deadline", type=float, default=0, help="seconds before unfinished jobs stop (0: none)")
    p.add_argument(
        "--methods",
        default="",
        help="comma-separated subset, run in this order (default: the board's, slowest first)",
    )
    p.add_argument("--out", default="", help="leaderboard folder (default: none written)")
    p.add_argument("--log", default="grid.log")
    p.add_argument(
        "--record",
        action="store_true",
        help="save the grid's time as the README's target record (the whole board, 3 seeds)",
    )
    p.add_argument(
        "--certify",
        action="store_true",
        help="also run the certification sweeps: the zoo and graded controls under every ATTACK~TAG "
        "variant of the board (bench.eval.certify), after the grid",
    )
    p.add_argument("--only-certify", action="store_true", help="run only the certification sweeps")
    p.add_argument("--set", dest="sets", action="append", default=[])
    a = p.parse_args()

    from bench import cores  # the installed package (run from the repository or after pip install)
    from bench.errors import BenchError

    if a.record:
        if a.methods or a.seeds != 3 or a.board != "tiny":
            p.error("--record times the whole tiny board with 3 seeds: drop --methods, --seeds and --board")
        if any(not s.startswith("calibration.") for s in a.sets):
            p.error("--record times the board as committed: only calibration.* values may be set")
        store = Path(os.environ.get("BENCH_HOME", ".bench")) / "store"
        if store.is_dir() and any(store.iterdir()):
            p.error(f"--record times the grid cold: {store} is not empty (set BENCH_HOME to a new folder)")

    try:
        workers = a.workers or cores.capacity()
    except BenchError as e:  # a bad BENCH_SLOT_SHARE: one line, as the CLI gives it
        p.error(str(e))
    board_m, attacks = board_lists(a.board)
    if a.methods:
        methods = a.methods.split(",")  # the caller's order (e.g. what a claim needs first)
    else:
        methods = sorted(board_m, key=lambda m: (0, SLOW_FIRST.index(m)) if m in SLOW_FIRST else (1, 0))
    sets = [x for s in a.sets for x in ("--set", s)]
    common = ["run", "--board", a.board, "--quiet", *sets]
    t0 = time.time()
    deadline = t0 + a.deadline if a.deadline else float("inf")
    log = Path(a.log)
    print(f"grid: board {a.board}, {len(methods)} methods x {a.seeds} seeds, {workers} workers, log {log}")
    seed = lambda s: ["--set", f"seeds=[{s}]"]  # noqa: E731
    phase_names = ("organisms", "base model × attack", "method × seed")
    phases = [
        # each seed's organism and the base model's unattacked cell
        [
            (f"seed {s} organism", [*common, *seed(s), "--method", "none", "--attacks", ""])
            for s in range(a.seeds)
        ],
        # the base model under each attack: every method's job compares against these
        [
            (f"none x {att} seed {s}", [*common, *seed(s), "--method", "none", "--attacks", att])
            for att in attacks
            for s in range(a.seeds)
        ],
        [
            (f"{m} seed {s}", [*common, *seed(s), "--method", m, *no_attacks(m)])
            for m in methods
            for s in range(a.seeds)
        ],
    ]
    if a.certify or a.only_certify:
        zoo = [m for m in CERT_ZOO if m in set(board_m) | {"none"} or "-" in m and m in all_methods(a.board)]
        cert = certify_jobs(sweep_attacks(a.board), zoo, a.seeds, common, seed)
        phases = [cert] if a.only_certify else [*phases, cert]
        phase_names = ("certification",) if a.only_certify else (*phase_names, "certification")
    codes: list[list[int]] = []
    with ThreadPoolExecutor(workers) as pool:
        for jobs in phases:
            results = pool.map(lambda j: run_job(j[1], deadline, log), jobs)
            codes.append([])
            for (name, _), (sec, rc) in zip(jobs, results):
                print(f"  {name:<28} {sec:7.1f} s  rc {rc}", flush=True)
                codes[-1].append(rc)
    wall = time.time() - t0
    every = [rc for phase in codes for rc in phase]
    done, stopped = every.count(0), sum(rc in (-1, -9) for rc in every)  # -1: not started, -9: stopped
    failed = len(every) - done - stopped
    by_phase = ", ".join(f"{n} {c.count(0)}/{len(c)}" for n, c in zip(phase_names, codes))
    print(
        f"grid wall time: {wall:.1f} s ({wall / 60:.1f} min); {done} of {len(every)} jobs finished "
        f"({by_phase}), {stopped} stopped by the deadline, {failed} failed"
    )
    if a.record:
        span = f"{a.deadline / 60:.0f}-minute" if a.deadline >= 60 else f"{a.deadline:.0f}-second"
        limit = f"by the {span} deadline" if a.deadline else f"in {wall / 60:.1f} min"
        save(
            "grid",
            wall if done == len(every) else None,
            f"{done} of {len(every)} jobs finished {limit}: {by_phase}; {stopped} stopped, {failed} failed; "
            f"{workers} worker{'s' if workers > 1 else ''}, from an empty store",
        )
    if a.out:
        env = {**os.environ}
        out = subprocess.run(
            [*BENCH, "leaderboard", a.board, "--out", a.out], env=env, text=True, capture_output=True
        )
        print(out.stdout.strip() or out.stderr.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
