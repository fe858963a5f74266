"""Runs that are interrupted, concurrent or spread over Ray workers end with exactly the rows of
the uninterrupted local run of the session's small grid (``small_home``): each kill point on the
smallest grid that still reaches it, two processes racing on one store, and ``--executor ray``.
They only read the shared store's organism and first run, so they can run beside tests/test_e2e.py
(which writes to that store) on another pytest-xdist worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import GRID, run_cli, small_sets
from tests.test_e2e import _first_run_rows, _organism_weights, comparable, results


def _grid(methods: str, attacks: str) -> list[str]:
    """GRID's settings on a smaller grid: ``bench run`` arguments for (methods, attacks)."""
    assert GRID[1:5] == ["--method", "dpo,repo", "--attacks", "gcg,relearn"]  # what GRID[5:] drops
    sets = GRID[5:]
    if "gcg" not in attacks:  # a key the board lacks may only be set for an attack that runs
        i = sets.index("attacks.gcg.max_prompts=3")
        sets = sets[: i - 1] + sets[i + 1 :]
    return ["run", "--method", methods, "--attacks", attacks, *sets]


def _cells(methods: str, attacks: str) -> set[tuple[str, str]]:
    return {
        (m, a) for m in ["none", *methods.split(",")] for a in ["none", *filter(None, attacks.split(","))]
    }


def _first_rows_of(home, cells) -> list[dict]:
    return [r for r in _first_run_rows(home) if (r["method"], r["attack"]) in cells]


# each kill point on the smallest grid that reaches it: (methods, attacks) of the run
KILL_GRIDS = {
    "organism": ("none", ""),
    "method": ("dpo", ""),
    "gcg": ("none", "gcg"),
    "gen": ("none", ""),
    "score": ("none", ""),
}


@pytest.mark.parametrize("point", list(KILL_GRIDS))  # relearn: below
def test_sigkill_during_a_stage_then_rerun_resumes(point, small_home, tmp_path):
    """A run SIGKILLed inside a stage, then rerun, gives exactly the rows of the uninterrupted
    first run (the session's GRID) for the cells it covers."""
    home, _ = small_home
    methods, attacks = KILL_GRIDS[point]
    grid = _grid(methods, attacks)
    fresh = tmp_path / "crash"
    if point not in ("organism",):  # start from a store holding the organism, as a real rerun would
        shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    killed = run_cli(*grid, home=fresh, env={"BENCH_FAULT": point})
    assert killed.returncode == -9, (point, killed.returncode, killed.stderr[-1500:])
    assert not (fresh / "runs").exists() or not any((fresh / "runs").iterdir())
    partial = list((fresh / "store").glob("*/.partial/*/*"))
    out = run_cli(*grid, home=fresh)
    assert out.returncode == 0, out.stderr[-2000:]
    rows, cells = results(fresh)[1], _cells(methods, attacks)
    assert {(r["method"], r["attack"]) for r in rows} == cells
    assert comparable(rows) == comparable(_first_rows_of(home, cells))
    if point == "organism":  # the rebuilt organism is the uninterrupted one, weight for weight
        assert _organism_weights(home) == _organism_weights(fresh)
    if point in ("gen", "gcg", "relearn"):
        assert partial, "the killed stage left per-item records to resume from"
    # a SIGKILLed stage may leave its temporary folder behind (never read); gc clears it
    assert run_cli("gc", home=fresh).returncode == 0
    tmp = fresh / "store" / ".tmp"
    assert not tmp.exists() or not list(tmp.iterdir())
    assert not list((fresh / "store").glob("*/.partial/*"))


def test_relearn_killed_after_a_checkpoint_resumes_from_it(small_home, tmp_path):
    """A relearning attack killed right after its step-2 checkpoint continues from that step:
    the rerun keeps the checkpoint (same file), loads the trainer state saved beside it, trains
    steps 3-5 only, and ends byte-identical to an uninterrupted run. A rerun that trained again
    from step 0, rewrote the checkpoint, or resumed the weights with a fresh optimiser fails."""
    home, _ = small_home
    grid = [
        "run",
        "--method",
        "none",
        "--attacks",
        "relearn",
        *small_sets(),
        "--set",
        "generation.batch_size=16",
    ]
    first = [r for r in _first_run_rows(home) if r["method"] == "none" and r["attack"] in ("none", "relearn")]
    key = next(r["keys"]["attack"] for r in first if r["attack"] == "relearn")
    uninterrupted = home / "store" / "attack" / key
    fresh = tmp_path / "crash"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    killed = run_cli(*grid, home=fresh, env={"BENCH_FAULT": "relearn"})
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-1500:])
    partial = fresh / "store" / "attack" / ".partial" / key
    assert sorted(p.name for p in partial.iterdir()) == ["state-2", "step-2"]  # killed right after saving
    saved = partial / "step-2" / "model.safetensors"
    before = saved.stat()
    assert saved.read_bytes() == (uninterrupted / "curve" / "step-2" / "model.safetensors").read_bytes()

    out = run_cli(*grid, home=fresh)
    assert out.returncode == 0, out.stderr[-2000:]
    assert comparable(results(fresh)[1]) == comparable(first)
    art = fresh / "store" / "attack" / key
    kept = (art / "curve" / "step-2" / "model.safetensors").stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "step 2 was saved again"
    for rel in (
        "curve/step-2/model.safetensors",
        "curve/step-5/model.safetensors",
        "model/model.safetensors",
    ):
        assert (art / rel).read_bytes() == (uninterrupted / rel).read_bytes(), rel
    # the resumed process trained from step 2 on, and its record equals the uninterrupted one's
    train = json.loads((art / "_artifact.json").read_text())["train"]
    ref = json.loads((uninterrupted / "_artifact.json").read_text())["train"]
    assert train["resumed_from"] == 2 and "resumed_from" not in ref
    assert train["steps"] == 5 and train["losses"] == ref["losses"] and len(train["losses"]) == 5
    assert run_cli("gc", home=fresh).returncode == 0
    assert not list((fresh / "store").glob("*/.partial/*"))


def test_two_concurrent_runs_share_the_store(small_home, tmp_path):
    home, _ = small_home
    fresh = tmp_path / "conc"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    env = {**os.environ, "BENCH_HOME": str(fresh)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.cli", *_grid("dpo", "gcg,relearn")],
            env=env,
            cwd=str(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    runs = sorted((fresh / "runs").iterdir())
    assert len(runs) == 2
    cells = _cells("dpo", "gcg,relearn")  # both processes race on GCG's per-prompt records too
    expected = comparable(_first_rows_of(home, cells))
    for run in runs:
        rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
        assert {(r["method"], r["attack"]) for r in rows} == cells
        assert comparable(rows) == expected


def test_ray_executor_gives_the_local_results(small_home, tmp_path):
    pytest.importorskip("ray")
    home, _ = small_home
    fresh = tmp_path / "ray"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    # two cells (none, dpo) in Ray lanes, with GCG's per-prompt records and relearning's checkpoints
    out = run_cli(
        *_grid("dpo", "gcg,relearn"),
        "--executor",
        "ray",
        home=fresh,
        env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run, rows = results(fresh)
    assert json.loads((run / "manifest.json").read_text())["executor"] == "ray"
    cells = _cells("dpo", "gcg,relearn")
    assert {(r["method"], r["attack"]) for r in rows} == cells
    assert comparable(rows) == comparable(_first_rows_of(home, cells))


def test_ray_without_room_for_one_lane_is_a_one_line_error_before_any_work(tmp_path):
    """A lane that needs more CPUs than any node has would never start: the run says so in one
    line (exit 2) before it builds the organism, instead of waiting forever."""
    pytest.importorskip("ray")
    home = tmp_path / "home"
    threads = 4 * (os.cpu_count() or 1)  # two lanes per slot: each asks for twice the node's CPUs
    out = run_cli(
        "run",
        "--method",
        "dpo",
        "--attacks",
        "relearn",
        "--executor",
        "ray",
        "--set",
        "device=cpu",  # lanes of CPUs only, also on a machine with a GPU
        home=home,
        env={"BENCH_THREADS": str(threads), "RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"},
        timeout=180,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "bench: error: this machine has no room for one Ray lane" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (home / "store" / "organism").exists() and not (home / "runs").exists()


def test_ray_cluster_of_two_nodes_gives_the_local_results(small_home, tmp_path):
    """``--address`` joins a running cluster. Its two nodes hold one lane each (lanes are counted
    node by node; a user's active wait policy gives each lane a whole core slot), so one lane
    computes two of the three cells one after the other, and every row equals the local run's."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    home, _ = small_home
    fresh = tmp_path / "cluster"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    threads = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)  # a lane's CPUs here
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": threads, "num_gpus": 0})
    try:
        cluster.add_node(num_cpus=threads, num_gpus=0)
        out = run_cli(
            *_grid("dpo,repo", "relearn"),
            "--executor",
            "ray",
            "--address",
            cluster.address,
            "--set",
            "device=cpu",
            home=fresh,
            # a local instance if --address were ignored (not the cluster, found on this machine)
            env={"OMP_WAIT_POLICY": "active", "RAY_ADDRESS": "local", "RAY_USAGE_STATS_ENABLED": "0"},
        )
    finally:
        cluster.shutdown()
    assert out.returncode == 0, out.stderr[-3000:]
    run, rows = results(fresh)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["executor"] == "ray"
    assert manifest["placement"] == {"nodes": 2, "lanes": 2, "lane_cpus": threads, "lane_gpus": 0}
    cells = _cells("dpo,repo", "relearn")
    assert {(r["method"], r["attack"]) for r in rows} == cells
    assert comparable(rows) == comparable(_first_rows_of(home, cells))


def test_ctrl_c_leaves_no_empty_partial_folder_or_lock_and_the_rerun_resumes(small_home, tmp_path):
    """An interrupt (SIGINT, as Ctrl-C sends) inside the method stage exits 130 with one line; the
    store keeps no empty ``.partial`` folder and no lock file, and the rerun computes the cell."""
    home, _ = small_home
    grid = _grid("dpo", "")
    fresh = tmp_path / "interrupted"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    out = run_cli(*grid, home=fresh, env={"BENCH_FAULT": "method", "BENCH_FAULT_SIGNAL": "INT"})
    assert out.returncode == 130, out.stderr[-1500:]
    assert "interrupted" in out.stderr.strip().splitlines()[-1]
    store = fresh / "store"
    assert not [p for p in store.glob("*/.partial/*") if not any(p.iterdir())]
    assert not list(store.glob("*/.partial")) or all(any(p.iterdir()) for p in store.glob("*/.partial"))
    assert not list((store / ".locks").glob("*.lock"))
    out = run_cli(*grid, home=fresh)
    assert out.returncode == 0, out.stderr[-2000:]
    assert {(r["method"], r["attack"]) for r in results(fresh)[1]} == _cells("dpo", "")
