"""The leaderboard renderer: a fixture of result rows gives exactly the golden markdown; escaping."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.leaderboard import esc, render

FIX = Path(__file__).parent / "fixtures"


def _rows():
    return [json.loads(line) for line in (FIX / "results.jsonl").read_text().splitlines()]


PROV = {
    "board": "fixture",
    "board file": "board.yaml (sha256 0123)",
    "scorer": "profanity {}",
    "prompts": "4 evaluation prompts",
    "decoding": "greedy, 20 new tokens",
    "commit": "abc",
    "date": "2026-01-01",
}


def test_render_matches_golden_file():
    text = render(_rows(), PROV, ["relearn_curves.png"])
    golden = FIX / "LEADERBOARD.golden.md"
    if os.environ.get("BENCH_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_render_sorts_by_worst_case_and_is_pure():
    rows = _rows()
    text = render(rows, PROV)
    assert text == render(list(rows), PROV)
    main = text.split("## Main table")[1].split("##")[0]
    body = [ln for ln in main.splitlines() if ln.startswith("| tiny")]
    assert [ln.split("|")[2].strip() for ln in body] == ["repo", "dpo", "none"]


def test_names_from_configs_cannot_break_the_table():
    assert esc("a|b\nc<script>`x`") == "a\\|b c&lt;script&gt;'x'"
    rows = _rows()
    for r in rows:
        r["method"] = "evil|name\n<b>" if r["method"] == "dpo" else r["method"]
    text = render(rows, {**PROV, "board": "x|y"})
    main = text.split("## Main table")[1].split("##")[0]
    row = next(ln for ln in main.splitlines() if "evil" in ln)
    header = next(ln for ln in main.splitlines() if ln.startswith("| model"))
    assert row.count("|") - row.count("\\|") == header.count("|")  # same number of cells
    assert "<b>" not in text and "# Leaderboard: x\\|y" in text


def test_several_seeds_show_mean_and_spread():
    rows = _rows()
    second = [json.loads(json.dumps(r)) for r in rows]
    for r in second:
        r["seed"] = 1
        r["metrics"]["toxic_rate"] = min(1.0, r["metrics"]["toxic_rate"] + 0.1)
    text = render(rows + second, PROV)
    row = next(ln for ln in text.splitlines() if ln.startswith("| tiny | none |"))
    assert "0.800 ± 0.071" in row  # mean and sample std of 0.75 and 0.85
