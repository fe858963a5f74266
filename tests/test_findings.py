"""The headline findings block: generated from result rows, written between markers, and the
committed README's block is what the committed results give (so no number it shows goes stale)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.board.load import ClaimsSpec
from bench.errors import BenchError
from bench.eval.claims import judge
from bench.report.cells import cell, r_cell, rate_cell
from bench.report.findings import NO_RESULTS, begin, block, end, findings, replace_block
from bench.report.view import BoardView
from tests.test_claims import _rows

ROOT = Path(__file__).resolve().parent.parent


def committed_rows(board: str) -> list[dict]:
    """The board's committed results (``leaderboards/<board>/results/``, written by `bench
    leaderboard`): the rows its findings come from (those not stale), or none while none are
    committed."""
    from bench.record.runs import committed_rows as read

    return read(ROOT / "leaderboards" / board / "results")


def test_the_readmes_block_is_what_the_committed_results_generate():
    """Fails when the README's findings were edited by hand, or when results were regenerated (and
    the block rewritten) without committing them, or committed without rewriting the block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, stop = text.index(begin("tiny")), text.index(end("tiny")) + len(end("tiny"))
    spec = json.loads(json.dumps(_claims_of("tiny")))
    assert text[start:stop] == block("tiny", findings(committed_rows("tiny"), spec)), (
        "run `bench leaderboard tiny` and commit the README with the results"
    )


def _claims_of(board: str) -> dict:
    from bench.board.load import board_path, read_yaml

    return read_yaml(board_path(board)).get("claims") or {}


def test_no_results_state_no_number():
    assert findings([]) == NO_RESULTS
    assert not any(ch.isdigit() for line in NO_RESULTS for ch in line)


def test_the_numbers_are_the_tables_own_cells_for_the_right_rows():
    """Each number is the cell the tables show for that method and attack: a findings line that
    took the wrong method's rows, the wrong attack or another interval would differ."""
    rows = _rows()
    board = BoardView.of(rows)
    text = "\n".join(findings(rows, {}))
    for method, name in (("none", "base"), ("oracle", "oracle"), ("repo", "`repo`"), ("dpo", "`dpo`")):
        assert f"{name} {rate_cell(board.grid[('m', method)]['none'])}" in text  # the interval cell
        assert rate_cell(board.grid[("m", method)]["none"]) == cell(
            board.grid[("m", method)]["none"], "toxic_rate"
        )
    relearn = next(line for line in text.splitlines() if "R under `relearn`" in line)
    for method in ("repo", "dpo", "npo"):
        assert f"`{method}` {r_cell(board.rec[('m', method, 'relearn', None)])}" in relearn
    # the rows make REPO relearn far less than DPO: the lines must not be swapped
    assert r_cell(board.rec[("m", "repo", "relearn", None)]) != r_cell(
        board.rec[("m", "dpo", "relearn", None)]
    )


def test_every_claim_appears_with_its_verdict():
    rows = _rows()
    text = "\n".join(findings(rows, {}))
    claims = judge(rows, ClaimsSpec(), BoardView.of(rows).checks)
    assert claims
    for c in claims:
        assert f"**{c['id']}** ({c['claim']}): {c['quantity']}: **{c['verdict']}**." in text


def test_replace_block_rewrites_only_the_block():
    text = f"intro 1.23\n{begin('tiny')}\nold 0.5\n{end('tiny')}\nafter 4.56\n"
    out = replace_block(text, "tiny", ["new"], "README.md")
    assert out == f"intro 1.23\n{begin('tiny')}\nnew\n{end('tiny')}\nafter 4.56\n"
    assert replace_block(out, "tiny", ["new"], "README.md") == out  # idempotent
    for bad in (
        "no markers",
        f"{begin('tiny')}\n{begin('tiny')}\n{end('tiny')}",
        f"{end('tiny')}{begin('tiny')}",
    ):
        with pytest.raises(BenchError, match="no single findings block"):
            replace_block(bad, "tiny", ["x"], "README.md")
    with pytest.raises(BenchError):  # another board's markers are not this board's
        replace_block(text, "gpt2-medium", ["x"], "README.md")


def test_bench_leaderboard_writes_the_same_block_into_the_readme_and_the_leaderboard(tmp_path, monkeypatch):
    """In a checkout (README.md beside leaderboards/), writing the board's leaderboard rewrites the
    README's block for that board, and only the block; the leaderboard carries the same block."""
    from bench.board.load import load_plan
    from bench.record.cell_key import config_hash
    from bench.record.runs import latest_rows
    from bench.report.leaderboard import write_leaderboard
    from bench.run.local import write_record
    from bench.store import Store

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "store"))
    plan = load_plan("tiny", methods=["dpo"], attacks=[])
    spec = plan.board.models[0]
    rows = [
        {
            "board": "tiny",
            "model": spec.label,
            "method": m,
            "attack": "none",
            "seed": 0,
            "config_hash": config_hash(plan.board, spec, m, "none"),
            "metrics": {"toxic_rate": rate},
            "ci95": {"toxic_rate": [rate - 0.05, rate + 0.05]},
            "keys": {"generations": "0" * 24},
        }
        for m, rate in (("none", 0.5), ("dpo", 0.125))
    ]
    write_record(plan, Store(tmp_path / "store"), rows, [], "cpu", 0.0)
    readme = tmp_path / "checkout" / "README.md"
    readme.parent.mkdir()
    other = "<!-- findings:gpt2-medium: generated by `bench leaderboard`; do not edit by hand -->\nkept\n<!-- /findings:gpt2-medium -->"
    readme.write_text(f"# prose 1.0\n\n{block('tiny', ['stale 9.99'])}\n\n{other}\n")
    target = write_leaderboard("tiny", out=str(readme.parent / "leaderboards" / "tiny"))
    expected = block("tiny", findings(latest_rows("tiny", tmp_path / "store"), {}))
    assert "0.125 [0.075, 0.175]" in expected and "stale" not in expected
    assert readme.read_text() == f"# prose 1.0\n\n{expected}\n\n{other}\n"
    assert expected in target.read_text()
