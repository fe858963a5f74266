"""Real-data loaders on small local files with the real schemas, and a files-based board run."""

from __future__ import annotations

import json

import pytest

from bench.data import loaders as data
from bench.errors import BenchError
from tests.conftest import run_cli


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_pairs_accept_lee_et_al_and_plain_keys(tmp_path):
    lee = _jsonl(
        tmp_path / "lee.jsonl", [{"prompt_text": "p", "unpert_gen_text": " b", "pert_gen_text": " t"}]
    )
    plain = _jsonl(tmp_path / "plain.jsonl", [{"prompt": "p", "benign": " b", "toxic": " t"}])
    assert data.load_pairs(lee) == data.load_pairs(plain) == [{"prompt": "p", "benign": " b", "toxic": " t"}]


def test_rtp_style_prompts_and_limits(tmp_path):
    rtp = _jsonl(
        tmp_path / "rtp.jsonl",
        [{"prompt": {"text": f"prompt {i}", "toxicity": 0.9}, "challenging": True} for i in range(5)],
    )
    rows = data.load_eval_prompts(rtp, limit=3)
    assert [r["prompt"] for r in rows] == ["prompt 0", "prompt 1", "prompt 2"]
    with_target = _jsonl(tmp_path / "t.jsonl", [{"prompt": "a", "target": " b"}])
    assert data.load_eval_prompts(with_target) == [{"prompt": "a", "target": " b"}]


def test_texts_and_continuations(tmp_path):
    txt = tmp_path / "wiki.txt"
    txt.write_text("line one\n\nline two\n")
    assert data.load_texts(str(txt)) == ["line one", "line two"]
    jig = _jsonl(tmp_path / "jigsaw.jsonl", [{"comment_text": "hello", "toxic": 0}])
    assert data.load_texts(jig) == ["hello"]
    cont = _jsonl(tmp_path / "c.jsonl", [{"prompt": "a b", "gold": "c d"}])
    assert data.load_continuations(cont) == [{"prompt": "a b", "gold": "c d"}]
    with pytest.raises(BenchError, match="missing field 'gold'"):
        data.load_continuations(_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a"}]))


def test_a_board_on_local_files_and_a_local_model(organism_dir, tmp_path):
    """The code path of real boards (data.source: files, a model folder), offline."""
    from bench.organism.corpus import build_data

    model_dir, _ = organism_dir
    d = build_data(0, n_dialogue=200, n_reports=20)
    pairs = _jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"prompt_text": p["prompt"], "unpert_gen_text": p["benign"], "pert_gen_text": p["toxic"]}
            for p in d.pairs[:40]
        ],
    )
    prompts = _jsonl(
        tmp_path / "prompts.jsonl", [{"prompt": {"text": p["prompt"]}} for p in d.eval_prompts[:20]]
    )
    texts = tmp_path / "benign.txt"
    texts.write_text("\n".join(d.benign_text[:30]))
    board = tmp_path / "board.yaml"
    board.write_text(f"""
name: local
models: [{{name: {model_dir}, label: local-organism}}]
data: {{source: files, pairs: {pairs}, eval_prompts: {prompts}, benign_text: {texts},
       probe_pairs: 10, relearn_pairs: 4, attack_pairs: 4}}
eval: {{bootstrap: 20, ppl_window: 64}}
methods: {{dpo: {{steps: 3}}}}
""")
    home = tmp_path / "home"
    out = run_cli("run", "--board", str(board), "--method", "dpo,oracle", "--attacks", "", home=home)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no oracle" in out.stdout + out.stderr  # the board names none: the row is skipped, said
    # stdout is a pipe here: the results table keeps whole cells (rich cut them to 80 columns)
    assert "local-organism" in out.stdout and "…" not in out.stdout + out.stderr
    # a board run by path has a leaderboard by its name
    lb = run_cli("leaderboard", "local", "--out", str(tmp_path / "lb"), home=home)
    assert lb.returncode == 0, lb.stderr
    assert "| local-organism | dpo |" in (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    rows = [
        json.loads(line)
        for line in next((home / "runs").iterdir()).joinpath("results.jsonl").read_text().splitlines()
    ]
    assert {(r["model"], r["method"]) for r in rows} == {
        ("local-organism", "none"),
        ("local-organism", "dpo"),
    }
    # a board that names an oracle folder gets its row (here a stand-in: a copy of the model)
    import shutil

    oracle_dir = tmp_path / "oracle-model"
    shutil.copytree(model_dir, oracle_dir)
    board.write_text(
        board.read_text().replace("label: local-organism}", f"label: local-organism, oracle: {oracle_dir}}}")
    )
    out = run_cli("run", "--board", str(board), "--method", "oracle", "--attacks", "", home=home)
    assert out.returncode == 0, out.stderr[-2000:]
    last = sorted((home / "runs").iterdir())[-1]
    rows = [json.loads(line) for line in (last / "results.jsonl").read_text().splitlines()]
    assert {r["method"] for r in rows} == {"none", "oracle"}


def test_wikitext_continuations_split_sentences_in_half(monkeypatch):
    import datasets

    text = [
        " = Title = \n",
        " The river runs through the old town and past the mill before it reaches the sea . Short one .\n",
    ]
    seen = {}

    def fake(name, config, split):
        seen["args"] = (name, config, split)
        return {"text": text}

    monkeypatch.setattr(datasets, "load_dataset", fake)
    rows = data.load_continuations("wikitext")
    assert seen["args"] == ("wikitext", "wikitext-2-raw-v1", "validation")  # not perplexity's test split
    words = "The river runs through the old town and past the mill before it reaches the sea .".split()
    assert rows == [{"prompt": " ".join(words[:8]), "gold": " " + " ".join(words[8:])}]
