"""No work done twice (issue 33): stages are found by what they compute, not by the row's name.

``npo@matched`` at factor 1 is ``npo``: the same plugin, config, seed, base and data, so it is one
stored model, trained once for both rows (and every attack on it, keyed by the model, is shared
too). ``ablate`` on a model that is its own base (``none``, the oracle) has a zero direction and
returns its input at step 1: that checkpoint is the model itself, neither copied nor measured again.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest

from bench import stages
from bench.board.load import ModelSpec, load_plan, plugin_of
from bench.progress import Reporter
from bench.run.calibrate import calibrate
from bench.run.cell import Cell
from bench.store import Store

CALIBRATED = ["calibration.target=0.5", "calibration.factors=[0.5,1,2]"]


def _matched_plan():
    return load_plan("tiny", methods=["npo"], attacks=[], sets=CALIBRATED)


def test_the_matched_row_at_factor_one_has_the_plain_rows_key():
    plan = _matched_plan()
    assert set(plan.methods) == {"none", "npo", "npo@matched"}
    spec = plan.board.models[0]
    base = stages.ModelRef(stages.organism_key(spec), "/nowhere", spec)
    data_key = stages.organism_data_key(base)

    def key(name, cfg):
        return stages.method_key(base, data_key, name, cfg, 0, plugin_of(plan.board.methods, name))

    assert plan.methods["npo@matched"] == plan.methods["npo"]
    assert key("npo@matched", plan.methods["npo"]) == key("npo", plan.methods["npo"])
    # another strength is another model
    half = dataclasses.replace(plan.methods["npo"], steps=plan.methods["npo"].steps // 2)
    assert key("npo@matched", half) != key("npo", plan.methods["npo"])


class _Model:
    """Stands in for a loaded model: the method stage deep-copies it and hands it to the plugin."""


class _Runtime(stages.Runtime):
    """The real runtime (store, manifest, cached or computed) with stand-in models."""

    def model(self, ref):
        return _Model()

    def tokenizer(self, ref):
        return None


def test_npo_at_matched_factor_one_computes_nothing_new(tmp_path, monkeypatch):
    """After the ``npo`` row has trained its model, the calibration sweep of ``npo@matched`` trains
    only its other factors, and the row, which picks factor 1 here, trains nothing: the stage is
    found in the store, under ``npo``'s key."""
    from bench.methods import npo

    import bench.run.calibrate as calibrate_module
    import bench.stages.models as models_module

    plan = _matched_plan()
    default = plan.methods["npo"].steps
    trained = []

    def apply(model, tokenizer, data, config, seed, progress=None):
        trained.append(config.steps)
        return model, {"steps": config.steps}

    def save_model(model, tokenizer, path):
        path.mkdir(parents=True)
        (path / "weights").write_text("stand-in")

    def rate(cell, model, tag, items=None):
        steps = json.loads((Path(model.path).parent / "_artifact.json").read_text())["train"]["steps"]
        return {"toxic_rate": 0.1 if steps == default else 0.9}, {}, {}

    monkeypatch.setattr(npo, "apply", apply)
    monkeypatch.setattr(models_module, "save_model", save_model)
    monkeypatch.setattr(calibrate_module, "toxicity_row", rate)
    monkeypatch.setattr(stages, "utility", lambda rt, model, data, label: {"ppl": 10.0})
    rt = _Runtime(plan.board, Store(tmp_path), Reporter(quiet=True), "cpu")
    spec = plan.board.models[0]
    base = stages.ModelRef(stages.organism_key(spec), "/nowhere", spec)
    data = stages.Splits("d", {"pairs": [], "benign_text": [], "probe_pairs": [{"prompt": "p"}]})

    plain = stages.method_model(rt, base, data, "npo", plan.methods["npo"], 0)
    assert trained == [default]
    # what run_cell does for the matched row: the sweep, then the chosen model
    cell = Cell(rt, base, data, [], "npo@matched", 0, None, None)
    cfg, point = calibrate(cell, plan.methods["npo@matched"])
    matched = stages.method_model(rt, base, data, "npo@matched", cfg, 0)
    assert point["factor"] == 1 and cfg.steps == default
    assert sorted(trained) == sorted([default, default // 2, default * 2])  # factor 1 not trained again
    assert matched.key == plain.key and matched.path == plain.path
    runs = [s for s in rt.manifest if s["stage"] == "method" and s["key"] == plain.key]
    assert [s["cached"] for s in runs] == [False, True, True]  # npo; the sweep at 1; the row
    assert all("npo@matched" in s["label"] for s in runs[1:])  # labels keep the row's name


@pytest.fixture
def ablate_runtime(tmp_path, tiny_lm):
    _, _, folder = tiny_lm
    plan = load_plan("tiny", methods=[], attacks=["ablate"])
    rt = stages.Runtime(plan.board, Store(tmp_path), Reporter(quiet=True), "cpu")
    return rt, plan.attacks["ablate"], stages.ModelRef("b" * 24, str(folder), ModelSpec(name=str(folder)))


def _ablate(rt, model, base, cfg, tiny_data):
    data = stages.Splits(
        "d", {"attack_prompts": [], "relearn": [], "relearn_benign": [], "pairs": tiny_data.pairs[:8]}
    )
    return stages.attack(rt, model, base, data, "ablate", cfg, 0, [], None, "x")


def test_ablate_on_an_unedited_model_reuses_it_at_step_one(ablate_runtime, tiny_data, monkeypatch):
    """On a model that is its own base, step 1 is the model's own reference (its key: its stored
    generations, scores and utility are what the row reads) and no copy of it is stored; the
    random control (step 2) is a new model. On an edited model step 1 is the attack's own."""
    import torch
    from bench.attacks import ablate

    from bench.modeling import load_model

    rt, cfg, base = ablate_runtime
    assert cfg.direction == "diff" and ablate.unchanged_on_base(cfg) == [1]
    assert ablate.unchanged_on_base(type(cfg)(direction="toxic")) == []
    attack_module = importlib.import_module("bench.stages.attack")  # ``stages.attack``: the function
    saved = []
    real_save = attack_module.save_model
    monkeypatch.setattr(
        attack_module, "save_model", lambda m, tok, path: (saved.append(path.name), real_save(m, tok, path))
    )
    res = _ablate(rt, base, base, cfg, tiny_data)
    assert sorted(saved) == [".step-2", "model"]  # step 1 is not even written as a copy
    curve = dict(res["curve"])
    assert [p["direction"] for p in res["info"]["points"]] == ["none", "random"]
    assert curve[1] is base  # the model itself: the no-attack row's artifacts
    assert curve[2].key != base.key
    stored = Path(res["model"].path).parent / "curve"
    assert sorted(p.name for p in stored.iterdir()) == ["step-2"]

    # the same weights under another key (an edited model, as far as keys can tell): step 1 is
    # the attack's own checkpoint, and it holds the input's weights (the claim the flag makes)
    edited = stages.ModelRef("e" * 24, base.path, base.spec)
    res = _ablate(rt, edited, base, cfg, tiny_data)
    step1 = dict(res["curve"])[1]
    assert step1.key not in (base.key, edited.key)
    copy, original = load_model(step1.path, "cpu", "float32"), load_model(base.path, "cpu", "float32")
    a, b = copy.state_dict(), original.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b)
