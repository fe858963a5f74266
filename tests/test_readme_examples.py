"""The README's two plugin examples are real code: each is imported from the README's own text,
registered, and run on the tests' tiny model, so a renamed trainer argument or loss helper breaks
this test instead of the front door."""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from pathlib import Path

import torch
from bench.attacks import WeightJob
from bench.methods import MethodData

from bench import registry

README = Path(__file__).resolve().parent.parent / "README.md"


def _example(tmp_path, name: str, marker: str):
    """The README's python block that holds ``marker``, imported as module ``name``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (code,) = [b for b in blocks if marker in b]
    path = tmp_path / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_method_trains_through_the_registry(tmp_path, monkeypatch, tiny_lm, tiny_data):
    _example(tmp_path, "readme_mymethod", '"mymethod"')
    monkeypatch.setitem(registry.METHODS, "mymethod", ("readme_mymethod", "the README's example"))
    plugin = registry.load("methods", "mymethod")  # fails if the example lacks Config/VERSION/apply
    model, tok, _ = tiny_lm
    before = copy.deepcopy(model.state_dict())
    cfg = plugin.Config(steps=3, batch_size=4, warmup=0, lr=1e-3)
    trained, stats = plugin.apply(
        copy.deepcopy(model), tok, MethodData(tiny_data.pairs, tiny_data.benign_text), cfg, 0
    )
    assert stats["steps"] == 3
    assert any(not torch.equal(before[k], v) for k, v in trained.state_dict().items())


def test_the_readme_attack_changes_weights_through_the_registry(tmp_path, monkeypatch, tiny_lm):
    _example(tmp_path, "readme_noise", 'KIND = "weights"')
    monkeypatch.setitem(registry.ATTACKS, "noise", ("readme_noise", "the README's example"))
    plugin = registry.load("attacks", "noise")
    model, tok, _ = tiny_lm
    before = copy.deepcopy(model.state_dict())
    attacked, info = plugin.apply(copy.deepcopy(model), tok, WeightJob(texts=[]), plugin.Config(), 0)
    assert any(not torch.equal(before[k], v) for k, v in attacked.state_dict().items())
    again, _ = plugin.apply(copy.deepcopy(model), tok, WeightJob(texts=[]), plugin.Config(), 0)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in attacked.state_dict().items())  # seeded


def test_ci_runs_exactly_the_readmes_test_command_and_both_install_the_pins():
    """CI must test what a user installs: `.ci/run`'s command is the README's, and both README
    commands install through ``constraints.txt`` (fails when one drifts from the other)."""
    bash = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    run, test = (next(b.strip() for b in bash if key in b) for key in ("bench run", "pytest"))
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()
    for command in (run, test):
        assert command.count("pip install -c constraints.txt") == 2, command
    pins = (README.parent / "constraints.txt").read_text(encoding="utf-8")
    assert re.search(r"^transformers==\S+$", pins, flags=re.M) and re.search(
        r"^torch==2\.13\.0$", pins, flags=re.M
    )
