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
    line = _one_line(run_cli("run", "--set", "generation.max_new_tokens=abc", "--dry-run", home=tmp_path / "h"))
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
    assert '"scaled_throwaway": ("bench.methods.scaled_throwaway"' in line and "METHODS in bench/registry.py" in line
    assert "Did you mean" not in line


def test_one_sample_per_prompt_is_said_to_be_greedy(tmp_path):
    out = run_cli("run", "--set", "generation.num_samples=1", "--dry-run", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr[-1500:]
    assert "decoding is greedy" in out.stderr and "temperature" in out.stderr
    out = run_cli("run", "--dry-run", home=tmp_path / "h")  # the sampled default says nothing of it
    assert "decoding is greedy" not in out.stderr
