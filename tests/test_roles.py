"""Data roles of file-based boards: disjoint, deterministic, recorded, warned about."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench.board.load import DataSpec, load_plan
from bench.data import roles
from bench.errors import BenchError
from bench.run.cell import attack_targets
from bench.stages import files_parts


def _pairs(n):
    return [{"prompt": f"p{i} ", "benign": f"kind words {i}", "toxic": f"rude words {i}"} for i in range(n)]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _lee(pairs):
    return [
        {"prompt_text": p["prompt"], "unpert_gen_text": p["benign"], "pert_gen_text": p["toxic"]}
        for p in pairs
    ]


def _spec(**kw):
    return DataSpec(**{"probe_pairs": 10, "relearn_pairs": 6, "attack_pairs": 4, **kw})


def test_split_is_disjoint_deterministic_and_sized():
    pairs = _pairs(50)
    a = roles.split_pairs(pairs, _spec())
    assert a == roles.split_pairs(pairs, _spec())
    assert {k: len(v) for k, v in a.items()} == {"probe": 10, "relearn": 6, "attack": 4, "train": 30}
    seen = [p["toxic"] for rows in a.values() for p in rows]
    assert sorted(seen) == sorted(p["toxic"] for p in pairs)  # disjoint and complete
    assert a["train"] == [p for p in pairs if p in a["train"]]  # file order kept
    b = roles.split_pairs(pairs, _spec(split_seed=1))
    assert b["probe"] != a["probe"]
    # a role with its own file takes nothing from the pairs
    c = roles.split_pairs(pairs, _spec(probe="probe.jsonl"))
    assert c["probe"] == [] and len(c["train"]) == 40
    with pytest.raises(BenchError, match="cannot hold out 20 .* keep any for training"):
        roles.split_pairs(_pairs(20), _spec())


def test_relearning_and_attack_roles_come_from_held_out_pairs(tmp_path):
    pairs = _pairs(60)
    spec = _spec(
        source="files",
        pairs=_write(tmp_path / "pairs.jsonl", _lee(pairs)),
        eval_prompts=_write(tmp_path / "rtp.jsonl", [{"prompt": {"text": "hello there"}}]),
        benign_text=_write(tmp_path / "b.jsonl", [{"text": "a b c"}]),
    )
    parts = files_parts(spec)
    train_tox = {p["toxic"] for p in parts["pairs"]}
    # before: relearning used pairs[-64:], the very texts the methods trained to avoid
    assert parts["relearn"] and not any(t.endswith(tuple(train_tox)) for t in parts["relearn"])
    assert not {p["toxic"] for p in parts["probe_pairs"]} & train_tox
    # each attack prompt's target is its own pair's toxic side
    by_prompt = {p["prompt"]: p["toxic"] for p in pairs}
    assert all(by_prompt[it["prompt"]] == it["target"] for it in parts["attack_prompts"])
    assert not {it["target"] for it in parts["attack_prompts"]} & train_tox
    # an RTP-style prompt has no target of its own: none is invented from an unrelated pair
    assert parts["eval_prompts"] == [{"prompt": "hello there"}]
    assert set(roles.record(parts)) == set(parts)


def test_prompts_without_a_target_aim_at_the_base_continuation():
    items = [{"prompt": "a", "target": "own"}, {"prompt": "b", "target": None}]
    train = [{"prompt": "t", "target": "pair toxic"}]
    outs = {"eval": [["base a"], ["base b"]], "train": [["base t"]]}
    data_cfg, base_cfg = SimpleNamespace(target="data"), SimpleNamespace(target="base")
    e, t = attack_targets(data_cfg, items, train, outs)
    assert [i["target"] for i in e] == ["own", "base b"] and t == train
    e, t = attack_targets(base_cfg, items, train, outs)
    assert [i["target"] for i in e] == ["base a", "base b"] and t[0]["target"] == "base t"


def test_an_empty_base_continuation_is_no_target():
    items = [{"prompt": "a", "target": None}, {"prompt": "b", "target": None}]
    train = [{"prompt": "t", "target": ""}, {"prompt": "u", "target": "x"}]
    outs = {"eval": [[""], ["base b"]], "train": [[" "], ["base u"]]}
    e, t = attack_targets(SimpleNamespace(target="data"), items, train, outs)
    assert [i["target"] for i in e] == [None, "base b"] and t == [{"prompt": "u", "target": "x"}]
    e, t = attack_targets(SimpleNamespace(target="base"), items, train, outs)
    assert [i["target"] for i in e] == [None, "base b"] and [i["prompt"] for i in t] == ["u"]


def test_per_prompt_gcg_leaves_a_prompt_without_target_unattacked(tiny_lm):
    from bench.attacks import PromptJob, gcg

    model, tok, _ = tiny_lm
    items = [{"prompt": "you are", "target": None}, {"prompt": "they are", "target": " stupid idiots."}]
    cfg = gcg.Config(num_steps=2, search_width=8, topk=8, optim_str_init="x x", mode="per_prompt")
    res = gcg.apply(model, tok, PromptJob(eval_prompts=items, train_prompts=items), cfg, 0)
    assert res["prompts"][0] == "you are" and res["prompts"][1] != "they are"
    assert res["per_prompt"][0]["loss"] is None and res["per_prompt"][1]["loss"] is not None


def test_a_real_run_refuses_an_empty_probe_role(tmp_path):
    with pytest.raises(BenchError, match="the probe role is empty"):
        load_plan(_board(tmp_path, _pairs(40)), sets=["data.probe_pairs=0"])


def _board(tmp_path, pairs, extra=""):
    _write(tmp_path / "rtp.jsonl", [{"prompt": {"text": "p0 "}}, {"prompt": {"text": "zz"}}])
    (tmp_path / "b.txt").write_text("some benign text\n")
    board = tmp_path / "board.yaml"
    board.write_text(
        f"name: roles\nmodels: [{{name: gpt2}}]\n"
        f"data: {{source: files, pairs: {_write(tmp_path / 'pairs.jsonl', _lee(pairs))}, "
        f"eval_prompts: {tmp_path / 'rtp.jsonl'}, benign_text: {tmp_path / 'b.txt'}, "
        f"probe_pairs: 10, relearn_pairs: 6, attack_pairs: 4{extra}}}\n"
        "eval: {probe_max_pairs: 50}\n"
    )
    return str(board)


def test_dry_run_warns_about_missing_roles_and_overlaps(tmp_path):
    pairs = _pairs(40)
    plan = load_plan(_board(tmp_path, pairs), dry_run=True)
    text = "\n".join(plan.warnings)
    assert "data.continuations is not set: F1" in text
    assert "probe_max_pairs is 50 but the probe role has 10 pairs" in text
    assert "overlap" not in text  # a clean split has none
    # duplicated rows land in two roles: the overlap is reported
    dup = tmp_path / "dup"
    dup.mkdir()
    plan = load_plan(_board(dup, pairs + pairs), dry_run=True)
    assert any("probe pairs share their toxic text with training pairs" in w for w in plan.warnings)
    # a relearning file made of training texts is reported
    rel = tmp_path / "rel"
    rel.mkdir()
    relearn = _write(rel / "relearn.jsonl", [{"text": p["prompt"] + p["toxic"]} for p in pairs])
    plan = load_plan(_board(rel, pairs, f", relearn: {relearn}"), dry_run=True)
    assert any("relearning texts are training pairs' toxic texts" in w for w in plan.warnings)


def test_bench_pairs_splits_are_the_boards_split(tmp_path):
    from bench.run.pairs import write_splits

    pairs = _pairs(40)
    args = SimpleNamespace(probe_pairs=10, relearn_pairs=6, attack_pairs=4, split_seed=0)
    rec = write_splits(_lee(pairs), tmp_path / "splits", args)
    split = roles.split_pairs(pairs, _spec())
    assert rec["train"]["sha256"] == roles.digest(split["train"])
    # a board that takes each role from its file gets the same roles
    d = tmp_path / "splits"
    spec = DataSpec(
        source="files",
        pairs=str(d / "train.jsonl"),
        attack=str(d / "attack.jsonl"),
        relearn=str(d / "relearn.jsonl"),
        probe=str(d / "probe.jsonl"),
        eval_prompts=_write(tmp_path / "rtp.jsonl", [{"prompt": "hi"}]),
        benign_text=_write(tmp_path / "b.jsonl", [{"text": "a b c"}]),
    )
    parts = files_parts(spec)
    assert parts["pairs"] == split["train"] and parts["probe_pairs"] == split["probe"]
    assert parts["relearn"] == roles.relearn_texts(split["relearn"])
    assert parts["attack_prompts"] == roles.attack_items(split["attack"])
