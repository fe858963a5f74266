"""The committed board's cold compute, read off the run records behind it (no timing of its own).

python perf/board_cost.py [--board tiny] [--record]

Every ``bench run`` writes a record with its wall time; a stage computed once is cached and every
later run of it costs about a second. So the compute a board cost cold is the sum of the wall
times of the run records in the store (``BENCH_HOME``) that built it, however many sessions and
resumed grids that took. A run killed before it finished writes no record, and the stages it did
finish are then cached for the run that resumes it: their compute is missing from the sum (the
note of whoever records it says how many runs were killed). Runs of the certification sweeps (any row under an ``ATTACK~TAG`` budget or of a
graded control) are counted apart, as issue 33 asks. Prints the board's total, its rows × seeds
and the cost per row and seed; ``--record`` saves the per-row cost as the ``row_seed`` target and
the total as the ``grid`` record (``perf/figures.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from figures import save  # first: it notes the commit the measurement starts on


def runs(home: Path, board: str):
    """(manifest, rows) of every finished run of ``board`` in the store."""
    for d in sorted((home / "runs").glob("*")):
        m, r = d / "manifest.json", d / "results.jsonl"
        if not m.is_file():
            continue
        manifest = json.loads(m.read_text())
        if manifest.get("board") != board:
            continue
        rows = (
            [json.loads(line) for line in r.read_text().splitlines() if line.strip()] if r.is_file() else []
        )
        yield manifest, rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--board", default="tiny")
    p.add_argument("--record", action="store_true", help="save the row_seed and grid records")
    a = p.parse_args()
    from bench.eval.certify import graded_of, is_sweep

    home = Path(os.environ.get("BENCH_HOME", ".bench"))
    board_s = cert_s = 0.0
    n_board = n_cert = 0
    cells = set()
    for manifest, rows in runs(home, a.board):
        sweep = any(is_sweep(r["attack"]) or graded_of(r["method"]) for r in rows)
        if sweep:
            cert_s += manifest["seconds"]
            n_cert += 1
        else:
            board_s += manifest["seconds"]
            n_board += 1
            cells |= {(r["model"], r["method"], r["seed"]) for r in rows}
    if not cells:
        print(f"board_cost: no runs of board {a.board!r} in {home}/runs", file=sys.stderr)
        return 2
    per = board_s / len(cells)
    methods = len({c[:2] for c in cells})
    seeds = len({c[2] for c in cells})
    print(
        f"board {a.board}: {n_board} runs, {board_s:.0f} s ({board_s / 3600:.2f} h) for {len(cells)} rows x seeds "
        f"({methods} rows, {seeds} seeds): {per:.1f} s per row and seed; certification sweeps: {n_cert} runs, "
        f"{cert_s:.0f} s"
    )
    if a.record:
        detail = (
            f"{board_s:.0f} s of run records over {len(cells)} rows x seeds ({methods} rows, {seeds} seeds, "
            f"organisms and oracles included; the 3-seed board before: 289 s); certification sweeps apart: "
            f"{cert_s:.0f} s in {n_cert} runs"
        )
        save("row_seed", per, detail)
        save(
            "grid",
            board_s,
            f"{n_board} runs from an empty store, summed run-record wall times ({len(cells)} rows x seeds, "
            f"1 worker); issue 15's 20-minute target is withdrawn (issue 33)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
