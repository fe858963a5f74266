"""The speed-targets table in docs/performance.md is what the perf scripts' records give (``perf/figures.py``)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("perf_figures", ROOT / "perf" / "figures.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["perf_figures"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_table_is_rendered_from_the_committed_records(figures):
    text = (ROOT / "docs" / "performance.md").read_text()
    start, end = text.index(figures.BEGIN), text.index(figures.END) + len(figures.END)
    committed = figures.load(ROOT / "perf" / "records")  # whatever BENCH_PERF_RECORDS says
    assert text[start:end] == figures.render(committed), "run python perf/figures.py"
    for rec in committed.values():  # every record names what measured it, where and when
        assert rec["command"].startswith("python perf/") and rec["commit"] and rec["machine"]
        if rec["target"] in ("default_cold", "suite"):  # the ratios are against the target's baseline
            assert figures.BASELINE in rec["detail"]
        if rec["target"] == "grid":  # timed cold
            assert "from an empty store" in rec["detail"]


@pytest.mark.parametrize(
    "value, op, threshold, expected",
    [
        (1.10, ">=", 2.0, False),
        (2.0, ">=", 2.0, True),
        (2.4, "<=", 5.0, True),
        (0.51, "<=", 0.5, False),
        (None, "<=", 1200.0, False),  # not reached within the measurement
    ],
)
def test_met_is_computed_from_the_value_and_the_comparison(figures, value, op, threshold, expected):
    assert figures.met({"value": value, "op": op, "threshold": threshold}) is expected


@pytest.mark.parametrize(
    "value, unit, op, threshold, text",
    [
        (1.1, "x", ">=", 2.0, "1.10×"),
        (1.996, "x", ">=", 2.0, "1.996×"),  # "2.00×" would read as met
        (0.5049, "x", "<=", 0.5, "0.505×"),
        (1200.04, "s", "<=", 1200.0, "1200.04 s"),
        (2.4, "s", "<=", 5.0, "2.4 s"),
        (None, "s", "<=", 1200.0, "not reached"),
    ],
)
def test_a_value_is_never_printed_rounded_across_its_target(figures, value, unit, op, threshold, text):
    assert figures.shown({"value": value, "unit": unit, "op": op, "threshold": threshold}) == text


def test_a_saved_record_reaches_the_table_and_check_sees_a_stale_table(figures, tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(sys, "argv", ["perf/bench_ray.py", "--order", "ray,local"])
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{figures.BEGIN}\nold table\n{figures.END}\n\nafter\n")
    figures.save("ray", 1.13, "local 100.2 s, ray 113.5 s")
    rec = json.loads((tmp_path / "records" / "ray.json").read_text())
    assert rec["command"] == "python perf/bench_ray.py --order ray,local" and rec["value"] == 1.13
    assert figures.main(["--check", "--readme", str(readme)]) == 1  # stale: the old table
    assert figures.main(["--readme", str(readme)]) == 0
    assert figures.main(["--check", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\n\nafter\n") and "old table" not in text
    (row,) = [line for line in text.splitlines() if "executor ray" in line]
    assert "1.13× (local 100.2 s, ray 113.5 s) | no |" in row
    assert text.count("| no record yet | | |") == len(figures.TARGETS) - 1  # the targets without one
    with pytest.raises(ValueError):
        figures.save("nosuchtarget", 1.0, "")


def test_the_grid_records_jobs_by_phase_and_only_from_an_empty_store(tmp_path):
    """``perf/grid.py --record`` with a deadline too short to start any job: the record counts every
    job of the board, phase by phase, as stopped; a store with anything in it, or a value set
    outside calibration, is refused before anything runs."""
    import subprocess

    import yaml

    board = yaml.safe_load((ROOT / "leaderboards" / "tiny" / "board.yaml").read_text())
    methods = [m for m in board["run_methods"] if m != "none"]
    attacks = board["run_attacks"]
    env = {**os.environ, "BENCH_HOME": str(tmp_path / "home"), "BENCH_PERF_RECORDS": str(tmp_path / "rec")}
    grid = [
        sys.executable,
        str(ROOT / "perf" / "grid.py"),
        "--record",
        "--workers",
        "1",
        "--log",
        str(tmp_path / "grid.log"),
    ]
    out = subprocess.run([*grid, "--deadline", "5"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rec = json.loads((tmp_path / "rec" / "grid.json").read_text())
    n = 3 + 3 * len(attacks) + 3 * len(methods)
    assert rec["value"] is None and rec["detail"] == (
        f"0 of {n} jobs finished by the 5-second deadline: organisms 0/3, base model × attack "
        f"0/{3 * len(attacks)}, method × seed 0/{3 * len(methods)}; {n} stopped, 0 failed; "
        "1 worker, from an empty store"
    )
    # refused before anything runs (with a deadline, so that a refusal that fails ends at once)
    (tmp_path / "home" / "store" / "organism").mkdir(parents=True)
    warm = subprocess.run([*grid, "--deadline", "5"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert warm.returncode == 2 and "is not empty" in warm.stderr
    (tmp_path / "home" / "store" / "organism").rmdir()
    cheaper = [*grid, "--deadline", "5", "--set", "eval.attack_restarts=1"]
    out = subprocess.run(cheaper, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "only calibration.* values may be set" in out.stderr


@pytest.mark.parametrize("order", ["local,local", "local,ray,ray", "ray,ray,local,local", "local,dask"])
def test_bench_ray_times_each_executor_once_per_round(order, tmp_path):
    """Its ratio is of summed times, so each round must run local and ray once: an unbalanced
    order (which would weigh one executor's runs double) is refused before anything runs."""
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parent.parent / "perf" / "bench_ray.py"),
            "--order",
            order,
        ],
        env={**os.environ, "BENCH_PERF_RECORDS": str(tmp_path / "records"), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,  # a refusal is immediate; a run that started would build an organism
    )
    assert out.returncode == 1 and "rounds of local and ray" in out.stderr, out.stderr
    assert not (tmp_path / "records").exists() and not list(tmp_path.glob("bench-ray-*"))
