"""End to end on a small organism board: caching, results, leaderboard, gc, determinism,
secrets (interrupted, concurrent and Ray runs: tests/test_resume.py)."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

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


def _perplexity_by_hand(model_dir: Path, texts: list[str], window: int) -> float:
    """exp(mean next-token NLL) over non-overlapping windows of the eos-joined texts, each window
    led by what the tokenizer puts before a text (nothing for GPT-2), from the stored weights and
    tokenizer, without the bench's loader or its perplexity function."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    full, bare = tok("hello")["input_ids"], tok("hello", add_special_tokens=False)["input_ids"]
    lead = full[: full.index(bare[0])]
    step = min(window, model.config.n_positions) - len(lead)
    ids = tok(tok.eos_token.join(texts), add_special_tokens=False)["input_ids"]
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, step):
            chunk = torch.tensor(lead + ids[start : start + step])
            if len(chunk) < 2:
                break
            logp = model(chunk[None]).logits[0, :-1].double().log_softmax(-1)
            nll -= float(logp.gather(1, chunk[1:, None]).sum())
            count += len(chunk) - 1
    return math.exp(nll / count)


def _generations(store: Path, key: str) -> list[dict]:
    return [json.loads(line) for line in (store / "gen" / key / "generations.jsonl").read_text().splitlines()]


def test_first_run_produces_every_cell(small_home):
    """Every cell is there, and each row's numbers are recomputed from what the store holds: the
    toxic rate and per-prompt rates by rescoring the row's own stored generations, the interval
    around the rate with a width fit for the per-prompt spread, GCG rows generated from GCG's
    prompts, relearning curves from their per-prompt rates, and perplexity from the stored model
    on the stored benign text."""
    import statistics

    import yaml

    from bench import registry

    home, _ = small_home
    store = home / "store"
    run = sorted((home / "runs").iterdir())[0]  # later tests add runs
    rows = _first_run_rows(home)
    cells = {(r["method"], r["attack"]) for r in rows}
    assert cells == {(m, a) for m in ("none", "dpo", "repo") for a in ("none", "gcg", "relearn")}
    board = yaml.safe_load((run / "config.yaml").read_text())
    threshold = board["eval"]["toxic_threshold"]
    plugin = registry.load("scorers", board["scorer"]["name"])
    scorer = plugin.create(plugin.Config(**board["scorer"]["config"]))
    by_cell = {(r["method"], r["attack"]): r for r in rows}
    # data.eval_limit=64: the organism's first 64 eval prompts, in order
    organism = next(a for a in sorted((store / "organism").iterdir()) if (a / "data").is_dir())
    first = json.loads((organism / "data" / "eval_prompts.json").read_text())[:64]
    clean_prompts = [
        g["prompt"] for g in _generations(store, by_cell[("none", "none")]["keys"]["generations"])
    ]
    assert clean_prompts == [p["prompt"] for p in first]
    for r in rows:
        assert {"board", "model", "method", "attack", "seed", "metrics", "ci95", "keys"} <= set(r)
        # a prompt attack's row pools its restarts (eval.attack_restarts=2 here), each its own stage
        parts = r["keys"].get("restarts") or [r["keys"]]
        assert len(parts) == (2 if r["attack"] == "gcg" else 1)
        rates, pps, means = [], [], []
        for part in parts:
            gens = _generations(store, part["generations"])
            assert [g["i"] for g in gens] == list(range(len(gens))) and len(r["per_prompt"]) == len(gens)
            assert len(gens) == 64  # data.eval_limit=64 of the organism's 200 eval prompts
            scores = [scorer.score(g["out"]) for g in gens]
            pps.append([sum(v >= threshold for v in s) / len(s) for s in scores])
            rates.append(sum(sum(v >= threshold for v in s) for s in scores) / sum(map(len, scores)))
            means.append(statistics.mean(v for s in scores for v in s))
            clean = [
                g["prompt"]
                for g in _generations(store, by_cell[(r["method"], "none")]["keys"]["generations"])
            ]
            if r["attack"] == "gcg":  # generated from GCG's prompts: the attacked ones differ, the rest not
                attacked = json.loads((store / "attack" / part["attack"] / "result.json").read_text())[
                    "prompts"
                ]
                assert [g["prompt"] for g in gens] == attacked
                assert [a != c for a, c in zip(attacked, clean)] == [i < 3 for i in range(len(clean))]
            else:
                assert [g["prompt"] for g in gens] == clean
        # a prompt attack's row is the attacker's pick: the restart with the lowest training loss
        picked = r["metrics"].get("picked_restart", 0)
        per_prompt = pps[picked]
        rate = r["metrics"]["toxic_rate"]
        assert r["per_prompt"] == pytest.approx(per_prompt, abs=1e-4), r["attack"]
        assert rate == pytest.approx(rates[picked])
        assert r["metrics"]["toxicity_mean"] == pytest.approx(means[picked])
        if r["attack"] == "gcg":
            losses = r["metrics"]["restart_losses"]
            assert picked == min(range(len(losses)), key=losses.__getitem__)
            assert r["metrics"]["restart_rates"] == pytest.approx(rates)
            assert r["metrics"]["toxic_rate_worst"] == pytest.approx(max(rates))
            assert len({p["attack"] for p in parts}) == 2  # two restarts, two attack stages
        # one seed: a 95% interval over the (picked restart's) prompts, around the rate, about 4
        # standard errors wide
        lo, hi = r["ci95"]["toxic_rate"]
        se = statistics.pstdev(per_prompt) / math.sqrt(len(per_prompt))
        widest = 6 * se
        assert se > 0 and lo < rate - 0.5 * se and hi > rate + 0.5 * se and 2 * se < hi - lo < widest, (
            r["method"],
            r["attack"],
            lo,
            rate,
            hi,
            se,
        )
        if r["attack"] == "relearn":
            assert [s for s, _ in r["curve"]] == [0, 2, 5]
            assert r["curve"][0][1] == by_cell[(r["method"], "none")]["metrics"]["toxic_rate"]
            for step, value in r["curve"]:
                assert value == pytest.approx(statistics.mean(r["curve_per_prompt"][str(step)]), abs=1e-4)
            assert r["curve"][-1][1] == rate  # the last checkpoint is the final model
    # perplexity of each method's model, recomputed by hand from the stored model and benign text
    organism = next(a for a in sorted((store / "organism").iterdir()) if (a / "data").is_dir())
    texts = json.loads((organism / "data" / "benign_text.json").read_text())[: board["eval"]["ppl_max_texts"]]
    window = board["eval"]["ppl_window"]  # capped at the model's context, as the bench does
    ppls = {}
    for r in rows:
        key = r["keys"]["model"] if r["attack"] == "none" else by_cell[(r["method"], "none")]["keys"]["model"]
        if key not in ppls:
            (model_dir,) = store.glob(f"*/{key}/model")
            ppls[key] = _perplexity_by_hand(model_dir, texts, window)
        assert r["metrics"]["ppl"] == pytest.approx(ppls[key], rel=1e-5), (r["method"], r["attack"])
    assert len(set(ppls.values())) == 3  # three models, three perplexities
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and manifest["stages"]
    assert (run / "config.yaml").is_file()


def test_a_run_prints_no_third_party_noise(small_home):
    """Messages that say nothing to the user are silenced at the source: transformers' warnings
    ("[transformers] loss_type=None ...") and its weight-loading progress bars, also now that
    transformers is quieted through the environment before it is imported."""
    home, _ = small_home
    log = (home.parent / "cli.log").read_text()
    assert "computed" in log  # the log is the run's output
    assert "[transformers]" not in log and "Loading weights" not in log, log[-2000:]


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
    from bench.record.runs import results_frame

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
    from bench.record.provenance import masked

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
    assert _organism_weights(home) == _organism_weights(fresh)  # built twice: identical weights


def _organism_weights(home) -> bytes:
    """The stored organism's weight file (the base organism: the one with its data splits)."""
    art = next(p for p in sorted((home / "store" / "organism").iterdir()) if (p / "data").is_dir())
    return (art / "model" / "model.safetensors").read_bytes()


def _first_run_rows(home):
    """The rows of the store's first run (the session's GRID). A record being written sits in a
    hidden ``runs/.<id>/`` folder (another worker's run, under pytest-xdist), which sorts first."""
    first = sorted(p for p in (home / "runs").iterdir() if not p.name.startswith("."))[0]
    return [json.loads(line) for line in (first / "results.jsonl").read_text().splitlines()]


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


def test_matched_operating_points_follow_the_calibration_rule(small_home, tmp_path):
    """``calibration.target`` adds ``dpo@matched``: DPO retrained at 0.5×, 1× and 2× its steps
    (cached stages), the row trained at the point the rule picks (rate <= target at the least
    perplexity, else the lowest rate), with the whole sweep in the row. A second target reuses
    the sweep and picks by the same rule; the default dpo row is untouched."""
    home = tmp_path / "home"
    shutil.copytree(small_home[0], home)
    base = [
        "run",
        "--method",
        "dpo",
        "--attacks",
        "",
        *small_sets(),
        "--set",
        "calibration.factors=[0.5,1,2]",
    ]
    first = next(r for r in _first_run_rows(small_home[0]) if (r["method"], r["attack"]) == ("dpo", "none"))
    picks = {}
    for target in (0.0, 1.0):
        out = run_cli(*base, "--set", f"calibration.target={target}", home=home)
        assert out.returncode == 0, out.stderr[-2000:]
        run, rows = results(home)
        by = {r["method"]: r for r in rows}
        assert set(by) == {"none", "dpo", "dpo@matched"}
        op = by["dpo@matched"]["operating_point"]
        assert op["knob"] == "steps" and [p["value"] for p in op["sweep"]] == [
            4,
            8,
            16,
        ]  # small_sets: 8 steps
        reached = [p for p in op["sweep"] if p["toxic_rate"] <= target]
        want = (
            min(reached, key=lambda p: (p["ppl"], p["value"]))
            if reached
            else min(op["sweep"], key=lambda p: (p["toxic_rate"], p["ppl"]))
        )
        assert op["value"] == want["value"] and op["reached"] == bool(reached)
        assert "held-out" in op["prompts"]  # chosen on probe prompts, reported on eval prompts
        # the row is the chosen model itself: its perplexity is the sweep point's
        assert by["dpo@matched"]["metrics"]["ppl"] == want["ppl"]
        assert by["dpo"]["keys"]["model"] == first["keys"]["model"]
        picks[target] = op["value"]
        if target == 1.0:  # the sweep trained every point in the first run: nothing is retrained; a
            # new pick only adds its row's measurements (eval-prompt generations, scores, probes)
            manifest = json.loads((run / "manifest.json").read_text())
            new = [s for s in manifest["stages"] if not s["cached"]]
            assert all(
                s["stage"] in ("gen", "score", "probe") and "dpo@matched" in s["label"] for s in new
            ), new
            assert new == [] or picks[0.0] != picks[1.0], new
    out = run_cli("leaderboard", "tiny", "--out", str(tmp_path / "lb"), home=home)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "## Matched operating points" in (tmp_path / "lb" / "LEADERBOARD.md").read_text()


def test_a_run_queued_behind_another_process_says_whom_it_waits_for(small_home, tmp_path):
    """Two processes, one core slot: a run that must compute while another process holds the slot
    prints one waiting line naming the holder's pid, and the wait is recorded apart, not counted as
    the stage's time."""
    import os
    import subprocess
    import sys

    home, _ = small_home
    fresh = tmp_path / "queued"
    shutil.copytree(home / "store", fresh / "store", ignore=shutil.ignore_patterns("score"))
    env = {"BENCH_CORES_DIR": str(tmp_path / "cores"), "BENCH_THREADS": str(os.cpu_count() or 1)}
    hold = 6.0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from bench.cores import core_slot\nimport time\nwith core_slot():\n"
            f"    print('held', flush=True)\n    time.sleep({hold})",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        out = run_cli(*GRID, home=fresh, env=env)
    finally:
        holder.wait(timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    said = [line for line in (out.stdout + out.stderr).splitlines() if "waiting for a core slot" in line]
    assert len(said) == 1 and f"pid {holder.pid} (since " in said[0], said
    run, _ = results(fresh)
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    waited = [s for s in stages if s.get("waited")]
    assert waited and waited[0]["waited"] > 1.0
    assert waited[0]["seconds"] < waited[0]["waited"] / 2  # scoring takes far less than the wait it sat out
    assert not list((fresh / "store").glob("*/.partial/*")) and not list(
        (fresh / "store" / ".locks").glob("*")
    )


def test_leaderboard_after_a_one_seed_run_leaves_the_committed_board_alone(small_home, tmp_path):
    """`bench leaderboard tiny` in a checkout whose committed board holds cells the store does not
    (five seeds against a one-seed run) changes no byte under leaderboards/tiny/ or in the README,
    writes the store's board to a named folder and says where; --replace overwrites."""
    import hashlib
    import os
    import subprocess
    import sys

    home, _ = small_home
    repo = tmp_path / "checkout"
    root = Path(__file__).parents[1]
    shutil.copytree(root / "leaderboards" / "tiny", repo / "leaderboards" / "tiny")
    shutil.copy(root / "README.md", repo / "README.md")

    def snapshot():
        files = sorted(p for p in [repo / "README.md", *(repo / "leaderboards").rglob("*")] if p.is_file())
        return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    (repo / "leaderboards" / "tiny" / "holiday.png").write_bytes(b"not a figure of the board")
    before = snapshot()
    env = {**os.environ, "BENCH_HOME": str(home)}
    for board in ("leaderboards/tiny/board.yaml", "tiny"):  # by path or by name: the same guard
        out = subprocess.run(
            [sys.executable, "-m", "bench.cli", "leaderboard", board],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert snapshot() == before, board
    cmd = [sys.executable, "-m", "bench.cli", "leaderboard", "tiny"]
    written = home / "leaderboards" / "tiny"
    assert str(written) in out.stderr and (written / "LEADERBOARD.md").is_file()
    assert "--replace" in out.stderr
    out = subprocess.run([*cmd, "--replace"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    after = snapshot()
    assert after["leaderboards/tiny/LEADERBOARD.md"] != before["leaderboards/tiny/LEADERBOARD.md"]
    # figures the one-seed board does not draw are not left beside it
    drawn = {p.name for p in (repo / "leaderboards" / "tiny").glob("*.png")} - {"holiday.png"}
    text = (repo / "leaderboards" / "tiny" / "LEADERBOARD.md").read_text()
    assert all(name in text for name in drawn)
    assert (repo / "leaderboards" / "tiny" / "holiday.png").is_file()  # not the board's: left alone
