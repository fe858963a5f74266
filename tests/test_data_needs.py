"""Plugins that need data only some boards have say so in the plan's check, before any method
trains: `undo` distils on the organism's corpus, `relearn_benign` needs benign text unrelated to
the toxic register. Without the check both stopped mid-run, after the other methods had trained."""

from __future__ import annotations

import pytest

from bench.board.load import load_plan
from bench.errors import BenchError


def _file_board(tmp_path, tiny_lm, extra: str = "") -> str:
    _, _, folder = tiny_lm
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(f'{{"prompt": "a{i}", "benign": " b", "toxic": " c"}}\n' for i in range(600)))
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "plain prose."}\n' * 4)
    board = tmp_path / "b.yaml"
    board.write_text(
        f"name: t\nmodels: [{{name: {folder}}}]\n"
        f"data: {{source: files, pairs: {pairs}, eval_prompts: {pairs}, benign_text: {texts}{extra}}}\n"
        "methods: {undo-x: {use: undo}}\n"
    )
    return str(board)


def test_undo_on_a_file_board_is_refused_by_the_plan(tmp_path, tiny_lm):
    board = _file_board(tmp_path, tiny_lm)
    with pytest.raises(BenchError, match="undo-x distils on the organism's corpus"):
        load_plan(board, methods=["undo-x"], attacks=[], dry_run=True)
    load_plan(board, methods=["dpo"], attacks=[], dry_run=True)  # other methods run there


def test_benign_relearning_needs_benign_text_on_a_file_board(tmp_path, tiny_lm):
    with pytest.raises(BenchError, match="relearn_benign relearns on benign text"):
        load_plan(_file_board(tmp_path, tiny_lm), methods=[], attacks=["relearn_benign"], dry_run=True)
    texts = tmp_path / "texts.jsonl"
    named = _file_board(tmp_path, tiny_lm, f", relearn_benign: {texts}")
    load_plan(named, methods=[], attacks=["relearn_benign", "relearn"], dry_run=True)  # named: fine


def test_the_organism_board_has_both():
    load_plan("tiny", methods=["undo-a50"], attacks=["relearn_benign"], dry_run=True)
