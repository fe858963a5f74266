"""Cache keys cover every package and plugin that can change a stage's output.

The bugs this guards (issue 12): the score key left out the scorer's package version, so an
upgraded Detoxify reused old scores; the attack key left out the scorer although ``early_stop``
asks it when to stop.
"""

from __future__ import annotations

import dataclasses

import pytest
from bench.attacks import gcg

from bench import registry, stages
from bench.board.load import load_plan
from bench.board.typed import to_dict
from bench.record import provenance
from bench.store import make_key
from tests.keyprint import KeyOnly

REAL_VERSION = provenance.package_version


def _versions(monkeypatch, **changed):
    monkeypatch.setattr(provenance, "package_version", lambda name: changed.get(name, REAL_VERSION(name)))


def test_score_key_changes_with_the_scorers_package(monkeypatch):
    rt = KeyOnly(load_plan("tiny").board)  # scorer: profanity (alt-profanity-check)
    scorer = type("S", (), {"config": {}})()
    before = rt.key_of(stages.scores, "g", [["a"]], scorer, 1, "x")
    _versions(monkeypatch, **{"alt-profanity-check": "999.0"})
    assert rt.key_of(stages.scores, "g", [["a"]], scorer, 1, "x") != before
    _versions(monkeypatch, detoxify="999.0")  # not this board's scorer: same key
    assert rt.key_of(stages.scores, "g", [["a"]], scorer, 1, "x") == before


def test_generation_key_changes_with_torch_and_transformers(monkeypatch):
    rt = KeyOnly(load_plan("tiny").board)
    model = stages.ModelRef("m", "/nowhere", None)
    before = rt.key_of(stages.generations, model, ["p"], 0, "x")
    _versions(monkeypatch, transformers="0.0.1")
    assert rt.key_of(stages.generations, model, ["p"], 0, "x") != before


def test_attack_key_includes_the_scorer_only_when_early_stop_asks_it():
    model = stages.ModelRef("m", "/nowhere", None)
    data = stages.Splits("d", {"attack_prompts": [{"prompt": "p", "target": "t"}]})
    items = [{"prompt": "q", "target": "t"}]
    keys, plan = {}, load_plan("tiny")
    for early in (False, True):
        for setting in (0.5, 0.9):  # a scorer setting that can change what counts as success
            scorer = dataclasses.replace(plan.board.scorer, config={"setting": setting})
            rt = KeyOnly(dataclasses.replace(plan.board, scorer=scorer))
            cfg = gcg.Config(early_stop=early)
            keys[early, setting] = rt.key_of(
                stages.attack, model, model, data, "gcg", cfg, 0, items, None, "x"
            )
    assert keys[False, 0.5] == keys[False, 0.9]  # the scorer plays no part: one key
    assert keys[True, 0.5] != keys[True, 0.9]  # early stop asks the scorer: its config is in the key


VARIANTS = """
name: variants
models: [{name: organism, organism: {seed: 0}}]
data: {source: organism}
methods:
  repo: {steps: 7, erase: adversarial}
  repo-match: {use: repo, steps: 7, erase: match}
  repo-same: {use: repo, steps: 7, erase: adversarial}
attacks:
  gcg-suffix: {use: gcg, position: suffix, num_steps: 3}
  gcg-same: {use: gcg}
"""


def test_named_variants_resolve_to_their_plugin_and_are_keyed_by_content(tmp_path):
    """Each variant runs its plugin with its own config. Keys are by content (issue 33): a variant
    whose config equals its plugin's entry (``repo-same``, ``gcg-same``) is the same computation
    and shares that entry's key, so its model and attack are stored once; a variant with another
    config (``repo-match``, ``gcg-suffix``) gets a key of its own. Until issue 33 every variant was
    keyed by its row name, and ``repo-same`` retrained what ``repo`` had stored."""
    from bench.board.load import plugin_of
    from bench.errors import BenchError

    board = tmp_path / "variants.yaml"
    board.write_text(VARIANTS)
    plan = load_plan(
        str(board), methods=["repo", "repo-match", "repo-same"], attacks=["gcg", "gcg-suffix", "gcg-same"]
    )
    assert type(plan.methods["repo-match"]).__module__ == type(plan.methods["repo"]).__module__
    assert plan.methods["repo-match"].erase == "match" and plan.methods["repo"].erase == "adversarial"
    assert plan.methods["repo-match"].steps == 7
    assert plan.attacks["gcg-suffix"].position == "suffix" and plan.attacks["gcg"].position == "suffix"
    assert plan.attacks["gcg-suffix"].num_steps == 3 and plan.attacks["gcg"].num_steps != 3
    assert plugin_of(plan.board.methods, "repo-match") == "repo" == plugin_of(plan.board.methods, "repo")
    base = stages.ModelRef("b", "", None)
    keys = {
        n: stages.method_key(base, "d", n, plan.methods[n], 0, plugin_of(plan.board.methods, n))
        for n in plan.methods
    }
    assert keys["repo-same"] == keys["repo"]  # same plugin, same config: one model
    assert len({keys["none"], keys["repo"], keys["repo-match"]}) == 3  # another config: its own
    assert keys["none"] == base.key
    # a plain entry's key is what it was when keys held the row's name (no store is orphaned)
    assert keys["repo"] == make_key(
        kind="method",
        parent="b",
        data="d",
        method="repo",
        version=registry.load("methods", "repo").VERSION,
        config=to_dict(plan.methods["repo"]),
        seed=0,
        software=stages.software(*stages.CORE, "peft"),
    )
    # the row name is no part of the key: the same content under any name is the same key
    assert stages.method_key(base, "d", "renamed", plan.methods["repo"], 0, "repo") == keys["repo"]
    assert stages.method_key(base, "d", "repo", plan.methods["repo"], 1) != keys["repo"]  # the seed is
    model = stages.ModelRef("m", "/nowhere", None)
    data = stages.Splits("d", {"attack_prompts": [{"prompt": "p", "target": "t"}]})
    items = [{"prompt": "q", "target": "t"}]
    rt = KeyOnly(plan.board)
    akeys = {
        a: rt.key_of(stages.attack, model, model, data, a, plan.attacks[a], 0, items, None, "x")
        for a in plan.attacks
    }
    assert akeys["gcg-same"] == akeys["gcg"]  # same plugin, same config: one attack
    assert akeys["gcg"] != akeys["gcg-suffix"]
    # a variant must name a plugin, not another variant or nothing
    for bad, words in (
        ("  repo-x: {use: nosuch}", "nosuch"),
        ("  repo-x: {use: repo-match}", "itself a variant"),
    ):
        board.write_text(VARIANTS.replace("attacks:", bad + "\nattacks:"))
        with pytest.raises(BenchError, match=words):
            load_plan(str(board), methods=["repo-x"], attacks=[])


def test_the_organism_data_key_changes_with_an_eval_limit_and_only_then():
    """Without ``data.eval_limit`` the key is the one every cached organism cell was stored under
    (a change would orphan the committed board's store); with a limit it differs per limit, so
    cells of 64 prompts are never read as cells of 200."""
    base = stages.ModelRef("k" * 24, "", None)
    assert stages.organism_data_key(base) == make_key(kind="organism-data", organism=base.key)
    assert stages.organism_data_key(base, None) == stages.organism_data_key(base)
    limited = {stages.organism_data_key(base, n) for n in (64, 100)}
    assert len(limited) == 2 and stages.organism_data_key(base) not in limited
