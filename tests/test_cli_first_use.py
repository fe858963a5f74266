"""First use without surprises (issue 41): each error names the thing to fix where the user wrote
it, and a setting that silently changes another is said and recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import run_cli

ROOT = Path(__file__).parents[1]


def _one_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-1500:]
    return lines[0]


def test_a_bad_set_value_names_set_not_the_board_file(tmp_path):
    line = _one_line(run_cli("run", "--set", "methods.repo.steps=abc", "--dry-run", home=tmp_path / "h"))
    assert line.startswith("bench: error: --set methods.repo.steps=abc:") and "board.yaml" not in line
    line = _one_line(
        run_cli("run", "--set", "generation.max_new_tokens=abc", "--dry-run", home=tmp_path / "h")
    )
    assert "--set generation.max_new_tokens=abc" in line and "board.yaml" not in line


def test_a_missing_model_folder_is_said_to_be_missing(tmp_path):
    line = _one_line(run_cli("run", "--model", "/no/such/dir", "--dry-run", home=tmp_path / "h"))
    assert "--model /no/such/dir" in line and "not found" in line and "data.source" not in line


def test_an_unregistered_plugin_file_says_so_and_names_the_registry_line(tmp_path):
    plugin = ROOT / "methods" / "scaled_throwaway.py"
    shutil.copy(ROOT / "methods" / "dpo.py", plugin)
    try:
        line = _one_line(run_cli("run", "--method", "scaled_throwaway", "--dry-run", home=tmp_path / "h"))
    finally:
        plugin.unlink()
    assert "has a file (methods/scaled_throwaway.py) but is not registered" in line
    assert (
        '"scaled_throwaway": ("bench.methods.scaled_throwaway"' in line
        and "METHODS in bench/registry.py" in line
    )
    assert "Did you mean" not in line


def test_one_sample_per_prompt_is_said_to_be_greedy(tmp_path):
    out = run_cli("run", "--set", "generation.num_samples=1", "--dry-run", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr[-1500:]
    assert "decoding is greedy" in out.stderr and "temperature" in out.stderr
    out = run_cli("run", "--dry-run", home=tmp_path / "h")  # the sampled default says nothing of it
    assert "decoding is greedy" not in out.stderr


def _rows_like(methods, attacks):
    return [
        {
            "board": "tiny",
            "model": "organism",
            "method": m,
            "attack": a,
            "seed": 0,
            "metrics": {
                "toxic_rate": 0.468,
                "toxicity_mean": 0.5,
                "ppl": 11.79,
                "f1": 0.18,
                "erasure": {"readout": 0.07},
            },
            "ci95": {"toxic_rate": [0.425, 0.51]},
        }
        for m in methods
        for a in attacks
    ]


def test_the_results_table_fits_80_columns_without_cutting_the_model_or_the_interval():
    from rich.console import Console

    from bench.run.describe import results_table

    rows = _rows_like(
        ["none", "repo-retain", "undo-a80", "logit_filter-s90"], ["none", "relearn_benign~lr1e-3", "gcg"]
    )
    console = Console(width=80, force_terminal=True, color_system=None, record=True)
    console.print(results_table(rows, 80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and text.count("organism") == len(rows)
    assert text.count("0.468 [0.425, 0.510]") == len(rows)
    from bench.run.describe import print_table

    wide = Console(width=80, force_terminal=True, color_system=None, record=True)
    print_table(wide, rows, wide=True)
    assert "readout" in wide.export_text() and "…" not in wide.export_text()  # --wide keeps every column


def test_bench_results_as_csv_with_a_header_and_json_into_a_closed_pipe(small_home):
    import csv
    import io
    import os
    import subprocess
    import sys

    home, _ = small_home
    env = {**os.environ, "BENCH_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.cli", "results", "--csv"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert table and {"toxic_rate", "ci_low", "ci_high", "method", "attack", "seed"} <= set(table[0])
    assert all(float(r["ci_low"]) <= float(r["toxic_rate"]) <= float(r["ci_high"]) for r in table)
    piped = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m bench.cli results --json | head -1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0 and "Traceback" not in piped.stderr and "Error" not in piped.stderr, (
        piped.stderr
    )
    assert piped.stdout.count("\n") == 1


def test_ls_without_a_kind_lists_every_kind_and_show_prints_a_plugins_settings(tmp_path):
    out = run_cli("ls", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr
    for heading in ("methods:", "attacks:", "scorers:", "generators:", "boards:"):
        assert heading in out.stdout.splitlines()
    assert "variant of repo (board tiny)" in out.stdout
    out = run_cli("show", "method", "repo", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr
    assert "layers: list[int] = [2, 3, 4]  # hidden-state indices erased" in out.stdout
    assert "steps: int = 100" in out.stdout and "STRENGTH = 'steps'" in out.stdout
    assert run_cli("show", "attack", "rleearn", home=tmp_path / "h").returncode == 2


def test_limit_is_a_smoke_run_of_n_prompts_and_fewest_steps(tmp_path):
    from bench.board.load import limit_sets, load_plan

    sets = limit_sets("tiny", ["repo"], ["gcg", "relearn"], 4)
    plan = load_plan("tiny", ["repo"], ["gcg", "relearn"], sets, seeds=1)
    assert plan.board.data.eval_limit == 4 and plan.board.seeds == [0]
    assert plan.methods["repo"].steps == 2 and plan.attacks["gcg"].num_steps == 2
    assert plan.attacks["relearn"].steps == 2 and plan.attacks["relearn"].curve_steps == [0, 2]
    teacher = load_plan("tiny", ["undo-a50"], [], limit_sets("tiny", ["undo-a50"], [], 4), seeds=1)
    assert teacher.methods["undo-a50"].teacher_config["steps"] == 2  # undo's teacher is trained too
    out = run_cli(
        "run", "--method", "repo", "--attacks", "gcg", "--limit", "0", "--dry-run", home=tmp_path / "h"
    )
    assert out.returncode == 2 and "--limit" in out.stderr
    out = run_cli(
        "run", "--method", "repo", "--attacks", "gcg", "--limit", "3", "--dry-run", home=tmp_path / "h"
    )
    assert out.returncode == 0 and " 1 seed(s)" in out.stderr, out.stderr[-1500:]  # one seed from the CLI


def test_a_long_stage_says_when_it_starts_when_output_is_not_a_terminal(capsys):
    from bench.progress import Reporter

    reporter = Reporter()
    with reporter.task("organism", 300) as advance:
        advance()
    assert "started  organism (300 to do)" in capsys.readouterr().err


def test_a_bad_board_for_ls_is_one_line_with_nothing_listed_and_csv_stays_data_only(tmp_path):
    out = run_cli("ls", "--board", "nosuch", home=tmp_path / "h")
    assert out.returncode == 2 and out.stdout == "" and "Unknown board 'nosuch'" in out.stderr
    out = run_cli("results", "--csv", home=tmp_path / "h")
    assert out.returncode == 0 and out.stdout == "" and "no results" in out.stderr
