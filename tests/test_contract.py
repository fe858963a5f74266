"""The plugin contract (``bench/contract.py``): every mistake a plugin author can make in a declaration
is one line naming the plugin, the docs list exactly the declared attributes, and a new method is
one file: the stand-in and dry-run paths take it with nothing else edited."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from bench import contract, registry
from bench.errors import BenchError
from tests.conftest import run_cli

METHOD = '''
"""``throwaway``: a method that exists only in this test."""

from dataclasses import dataclass, field

from bench import losses
from bench.trainer import TrainConfig, train

VERSION = 1
STRENGTH = "steps"
LAYER_FIELDS = ("layers",)
EDITED_LAYERS = "layers"
{extra}


@dataclass(frozen=True)
class Config(TrainConfig):
    steps: int = 40
    layers: list[int] = field(default_factory=lambda: [3, 4])  # beyond a 2-block stand-in


def apply(model, tokenizer, data, config, seed, progress=None):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tokenizer, batch, ("benign",), config.max_length)
        return losses.nll(losses.run(model, enc)["benign"]), {{}}

    return train(model, tokenizer, data.pairs, config, loss_fn, seed, "throwaway", progress=progress)
'''


def _site(tmp_path: Path, extra: str = "") -> tuple[Path, dict]:
    """A package installed beside bench (its dist-info names the method's entry point)."""
    site = tmp_path / "site"
    (site / "throwpkg").mkdir(parents=True, exist_ok=True)
    (site / "throwpkg" / "__init__.py").write_text("")
    (site / "throwpkg" / "throwaway.py").write_text(METHOD.format(extra=extra))
    dist = site / "throwpkg-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: throwpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[bench.methods]\nthrowaway = throwpkg.throwaway\n")
    return site, {"PYTHONPATH": str(site)}


@pytest.fixture
def load_throwaway(tmp_path, monkeypatch):
    """Load the throwaway method with ``extra`` declarations through the registry, in-process."""

    def load(extra: str):
        name = f"throwmod_{abs(hash(extra))}"
        (tmp_path / f"{name}.py").write_text(METHOD.format(extra=extra))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setitem(registry.METHODS, "throwaway", (name, "a test method"))
        try:
            return registry.load("methods", "throwaway")
        finally:
            sys.modules.pop(name, None)

    return load


def test_the_throwaway_method_keeps_the_contract(load_throwaway):
    module = load_throwaway("")
    assert contract.value("methods", module, "STRENGTH") == "steps"
    assert contract.value("methods", module, "GRADED_BY") is None  # the declared default


@pytest.mark.parametrize(
    "extra, says",
    [
        ('GRADED_BYY = "steps"', "declares GRADED_BYY, which is no method attribute"),
        ('GRADED_BYY = "steps"', "Did you mean 'GRADED_BY'?"),
        ('VERSION = "2"', "VERSION = '2' does not fit the contract"),
        ('GRADED_BY = "stepz"', "GRADED_BY names 'stepz', which is no Config field. Did you mean 'steps'?"),
        ('LAYER_FIELDS = ("layerz",)', "LAYER_FIELDS names 'layerz', which is no Config field"),
        ("UNREACHABLE = {'prompt': 3}", "UNREACHABLE = {'prompt': 3} does not fit"),
        ("NEEDS_TEACHER = True", "sets NEEDS_TEACHER but defines no teacher_of(config)"),
        ('KIND = "weights"', "declares KIND, which is no method attribute"),
    ],
)
def test_each_broken_declaration_is_one_line_naming_the_plugin(load_throwaway, extra, says):
    with pytest.raises(BenchError) as err:
        load_throwaway(extra)
    message = str(err.value)
    assert says in message
    assert "method plugin 'throwaway'" in message and "\n" not in message


def test_a_private_constant_and_an_imported_module_are_no_declarations(load_throwaway):
    module = load_throwaway("import math as M\n_HELD_OUT = 32")
    assert module._HELD_OUT == 32


def test_reading_an_attribute_the_contract_does_not_declare_is_an_error(load_throwaway):
    module = load_throwaway("")
    with pytest.raises(KeyError, match="GRADED_BYY"):
        contract.value("methods", module, "GRADED_BYY")


def test_every_registered_plugin_keeps_the_contract():
    for kind in registry.TABLES:
        for name in registry.available(kind):
            registry.load(kind, name)  # raises on any broken declaration


def test_the_docs_list_exactly_the_contracts_attributes():
    text = (Path(__file__).parents[1] / "docs" / "adding-plugins.md").read_text(encoding="utf-8")
    assert contract.block() in text
    listed = {line.split("`")[1] for line in contract.block().splitlines() if line.startswith("| `")}
    assert listed == {a.name for attrs in contract.CONTRACT.values() for a in attrs}


def test_a_misspelt_attribute_stops_the_cli_in_one_line(tmp_path):
    _, env = _site(tmp_path, 'GRADED_BYY = "steps"')
    out = run_cli("run", "--method", "throwaway", "--attacks", "", "--dry-run", home=tmp_path / "h", env=env)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "GRADED_BYY" in out.stderr


def test_a_new_method_file_runs_through_the_stand_in_and_dry_run_paths(tmp_path, monkeypatch):
    """Nothing in bench/ names the method: the stand-ins shrink its budget (it has a STRENGTH) and
    its layers (its LAYER_FIELDS), and the dry run checks those layers against the model."""
    from bench.testing.standins import board_args, build, write_data

    site, env = _site(tmp_path)
    monkeypatch.syspath_prepend(str(site))  # installed in this process too, for board_args
    model = build("gpt2", tmp_path / "gpt2", layers=2, width=32)
    files = write_data(tmp_path / "data", n_pairs=80, n_prompts=4)
    files = {k: v for k, v in files.items() if k in ("pairs", "eval_prompts", "benign_text", "continuations")}
    args = board_args("gpt2-medium", str(model), files, ["throwaway"], [])
    assert "methods.throwaway.steps=2" in args and "methods.throwaway.layers=[1, 2]" in args
    out = run_cli("run", *args, "--dry-run", home=tmp_path / "h", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "throwaway" in out.stdout + out.stderr  # its row in the plan
    # the same run with the method's own layers [3, 4] stops on the 2-block model, in one line
    at = args.index("methods.throwaway.layers=[1, 2]")
    unshrunk = args[: at - 1] + args[at + 1 :]  # without that --set
    out = run_cli("run", *unshrunk, "--dry-run", home=tmp_path / "h", env=env)
    assert out.returncode == 2
    assert "methods.throwaway.layers: layer 3 is beyond model" in out.stderr, textwrap.shorten(
        out.stderr, 400
    )


@pytest.fixture(autouse=True)
def _fresh_entry_points():
    """Entry points are read once per process: a test that installs a package reads them anew."""
    registry._entry_points.cache_clear()
    yield
    registry._entry_points.cache_clear()
