"""The README's speed-targets table is what the perf scripts' records give (``perf/figures.py``)."""

from __future__ import annotations

import importlib.util
import json
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
    text = (ROOT / "README.md").read_text()
    start, end = text.index(figures.BEGIN), text.index(figures.END) + len(figures.END)
    assert text[start:end] == figures.render(figures.load()), "run python perf/figures.py"
    for rec in figures.load().values():  # every record names what measured it, where and when
        assert rec["command"].startswith("python perf/") and rec["commit"] and rec["machine"]


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


def test_a_saved_record_reaches_the_table_and_check_sees_a_stale_table(figures, tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(sys, "argv", ["perf/bench_ray.py", "--order", "ray,local"])
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{figures.BEGIN}\nold table\n{figures.END}\n\nafter\n")
    figures.save("ray", 1.13, "x", "<=", 1.0, "local 100.2 s, ray 113.5 s")
    rec = json.loads((tmp_path / "records" / "ray.json").read_text())
    assert rec["command"] == "python perf/bench_ray.py --order ray,local" and rec["value"] == 1.13
    monkeypatch.setattr(figures, "load", lambda folder=None: {"ray": rec})
    assert figures.main(["--check", "--readme", str(readme)]) == 1  # stale: the old table
    assert figures.main(["--readme", str(readme)]) == 0
    assert figures.main(["--check", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\n\nafter\n") and "old table" not in text
    (row,) = [line for line in text.splitlines() if "executor ray" in line]
    assert "1.13× (local 100.2 s, ray 113.5 s) | no |" in row
    assert "| not measured | no |" in text  # the targets without a record
    with pytest.raises(ValueError):
        figures.save("nosuchtarget", 1.0, "x", "<=", 1.0, "")
