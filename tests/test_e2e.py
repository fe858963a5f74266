"""End to end on a small organism board: caching, results, leaderboard, gc, determinism,
secrets, crash-resume and concurrent runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import GRID, TOKEN, run_cli, small_sets


def results(home):
    run = sorted((home / "runs").iterdir())[-1]
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    return run, rows


def comparable(rows):
    return sorted(
        json.dumps({k: r[k] for k in ("method", "attack", "seed", "metrics", "ci95", "keys")}, sort_keys=True)
        for r in rows
    )


def test_first_run_produces_every_cell(small_home):
    home, _ = small_home
    run, rows = results(home)
    cells = {(r["method"], r["attack"]) for r in rows}
    assert cells == {(m, a) for m in ("none", "dpo", "repo") for a in ("none", "gcg", "relearn")}
    for r in rows:
        assert {"board", "model", "method", "attack", "seed", "metrics", "ci95", "keys"} <= set(r)
        assert 0 <= r["metrics"]["toxic_rate"] <= 1 and r["metrics"]["ppl"] > 1
        lo, hi = r["ci95"]["toxic_rate"]
        assert lo <= r["metrics"]["toxic_rate"] <= hi
    relearn = [r for r in rows if r["attack"] == "relearn"]
    assert all([s for s, _ in r["curve"]] == [0, 2, 5] for r in relearn)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and manifest["stages"]
    assert (run / "config.yaml").is_file()


def test_second_run_computes_nothing(small_home):
    home, _ = small_home
    _, before = results(home)
    t0 = time.time()
    out = run_cli(*GRID, home=home)
    assert out.returncode == 0, out.stderr[-2000:]
    run, after = results(home)
    manifest = json.loads((run / "manifest.json").read_text())
    assert all(s["cached"] for s in manifest["stages"]), [s for s in manifest["stages"] if not s["cached"]]
    assert comparable(before) == comparable(after)
    assert time.time() - t0 < 60


def test_changing_one_attack_recomputes_only_its_artifacts(small_home):
    home, _ = small_home
    out = run_cli(*GRID, "--set", "attacks.relearn.lr=1e-3", home=home)
    assert out.returncode == 0, out.stderr[-2000:]
    run, _ = results(home)
    computed = [s for s in json.loads((run / "manifest.json").read_text())["stages"] if not s["cached"]]
    assert computed and all("relearn" in s["label"] for s in computed), computed
    assert {s["stage"] for s in computed} <= {"attack", "gen", "score"}


def test_results_json_and_dataframe(small_home):
    home, _ = small_home
    out = run_cli("results", "--board", "tiny", "--json", home=home)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 9 and all("ci95" in r and "keys" in r for r in rows)
    from bench.results import results_frame

    df = results_frame("tiny", home=home)
    assert len(df) == 9 and {"toxic_rate", "toxic_rate_lo", "toxic_rate_hi", "ppl"} <= set(df.columns)


def test_leaderboard_is_generated_and_reproducible(small_home, tmp_path):
    home, _ = small_home
    out = run_cli("leaderboard", "tiny", "--out", str(tmp_path / "lb"), home=home)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert text.startswith("<!-- Generated") and "| organism | repo |" in text
    for fig in ("relearn_curves.png", "readout_layers.png", "attack_rates.png"):
        assert (tmp_path / "lb" / fig).is_file(), fig
    run_cli("leaderboard", "tiny", "--out", str(tmp_path / "lb"), home=home)
    assert (tmp_path / "lb" / "LEADERBOARD.md").read_text() == text


def test_secrets_never_reach_the_store(small_home):
    home, _ = small_home
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".txt", ".md", ""):
            assert TOKEN not in path.read_text(errors="ignore"), path
    from bench.provenance import masked

    assert masked({"hub_token": TOKEN, "description": f"x {TOKEN} y"}) == {
        "hub_token": "***",
        "description": "x *** y",
    }
    kept = {"max_new_tokens": 20, "n_tokens": 5, "prompt_max_tokens": 32, "api_key": "k", "password": "p"}
    assert masked(kept) == {
        "max_new_tokens": 20,
        "n_tokens": 5,
        "prompt_max_tokens": 32,
        "api_key": "***",
        "password": "***",
    }


def test_same_command_from_an_empty_store_gives_identical_results(small_home, tmp_path):
    home, _ = small_home
    fresh = tmp_path / "fresh"
    out = run_cli(*GRID, home=fresh)
    assert out.returncode == 0, out.stderr[-2000:]
    assert comparable(results(fresh)[1]) == comparable(_first_run_rows(home))
    a = next((home / "store" / "organism").iterdir()) / "model" / "model.safetensors"
    b = next((fresh / "store" / "organism").iterdir()) / "model" / "model.safetensors"
    assert a.read_bytes() == b.read_bytes()  # building twice from scratch gives identical weights


def _first_run_rows(home):
    first = sorted((home / "runs").iterdir())[0]
    return [json.loads(line) for line in (first / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("point", ["organism", "method", "gcg", "relearn", "gen", "score"])
def test_sigkill_during_a_stage_then_rerun_resumes(point, small_home, tmp_path):
    home, _ = small_home
    fresh = tmp_path / "crash"
    if point not in ("organism",):  # start from a store holding the organism, as a real rerun would
        shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    killed = run_cli(*GRID, home=fresh, env={"BENCH_FAULT": point})
    assert killed.returncode == -9, (point, killed.returncode, killed.stderr[-1500:])
    assert not (fresh / "runs").exists() or not any((fresh / "runs").iterdir())
    partial = list((fresh / "store").glob("*/.partial/*/*"))
    out = run_cli(*GRID, home=fresh)
    assert out.returncode == 0, out.stderr[-2000:]
    assert comparable(results(fresh)[1]) == comparable(_first_run_rows(home))
    if point in ("gen", "gcg", "relearn"):
        assert partial, "the killed stage left per-item records to resume from"
    # a SIGKILLed stage may leave its temporary folder behind (never read); gc clears it
    assert run_cli("gc", home=fresh).returncode == 0
    tmp = fresh / "store" / ".tmp"
    assert not tmp.exists() or not list(tmp.iterdir())
    assert not list((fresh / "store").glob("*/.partial/*"))


def test_two_concurrent_runs_share_the_store(small_home, tmp_path):
    home, _ = small_home
    fresh = tmp_path / "conc"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    import os

    env = {**os.environ, "BENCH_HOME": str(fresh)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.cli", *GRID],
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
    expected = comparable(_first_run_rows(home))
    for run in runs:
        rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
        assert comparable(rows) == expected


def test_gc_removes_only_unreferenced_artifacts(small_home, tmp_path):
    home, _ = small_home
    copy = tmp_path / "gc"
    shutil.copytree(home, copy)
    stray = copy / "store" / "gen" / ("f" * 24)
    stray.mkdir(parents=True)
    (stray / "_artifact.json").write_text("{}")
    out = run_cli("gc", home=copy)
    assert out.returncode == 0 and "removed 1" in out.stdout, out.stdout
    assert not stray.exists()
    again = run_cli(*GRID, home=copy)
    run = sorted((copy / "runs").iterdir())[-1]
    assert again.returncode == 0 and all(
        s["cached"] for s in json.loads((run / "manifest.json").read_text())["stages"]
    )


def test_ray_executor_gives_the_local_results(small_home, tmp_path):
    pytest.importorskip("ray")
    home, _ = small_home
    fresh = tmp_path / "ray"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    out = run_cli(
        *GRID, "--executor", "ray", home=fresh, env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run, rows = results(fresh)
    assert json.loads((run / "manifest.json").read_text())["executor"] == "ray"
    assert comparable(rows) == comparable(_first_run_rows(home))


PLUGIN = '''
"""An out-of-tree method: unlikelihood on toxic continuations, shipped by another package."""
from dataclasses import dataclass
from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 3


def apply(model, tokenizer, data, config, seed, progress=None):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("toxic",), config.max_length)
        return -losses.nll(losses.run(model, enc)["toxic"]).clamp(max=20), {}
    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "unlikely", use_ref=False, progress=progress)
'''


def test_out_of_tree_plugin_via_entry_points(small_home, tmp_path):
    """A package installed beside bench (simulated by its dist-info metadata) adds --method unlikely."""
    home, _ = small_home
    site = tmp_path / "site"
    (site / "myplug").mkdir(parents=True)
    (site / "myplug" / "__init__.py").write_text("")
    (site / "myplug" / "unlikely.py").write_text(PLUGIN)
    dist = site / "myplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[bench.methods]\nunlikely = myplug.unlikely\n")
    import os

    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = run_cli("ls", "methods", home=tmp_path / "h", env=env)
    assert "unlikely\t(plugin from myplug)" in listing.stdout
    fresh = tmp_path / "plug"
    shutil.copytree(home / "store" / "organism", fresh / "store" / "organism")
    out = run_cli("run", "--method", "unlikely", "--attacks", "", *small_sets(), home=fresh, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    _, rows = results(fresh)
    assert {r["method"] for r in rows} == {"none", "unlikely"}


def test_gcg_targets_from_the_base_models_own_continuations(small_home):
    home, _ = small_home
    out = run_cli(*GRID, "--set", "attacks.gcg.target=base", home=home)
    assert out.returncode == 0, out.stderr[-2000:]
    run, rows = results(home)
    computed = [s for s in json.loads((run / "manifest.json").read_text())["stages"] if not s["cached"]]
    # only GCG and the base model's continuations of the prompts it now targets are computed
    assert computed and all("gcg" in s["label"] or "attack prompts" in s["label"] for s in computed)
    first = {(r["method"], r["attack"]): r for r in _first_run_rows(home)}
    for r in rows:
        if r["attack"] == "gcg":
            assert r["keys"]["attack"] != first[(r["method"], "gcg")]["keys"]["attack"]
