"""The CLI: instant help and listings, and a table of bad inputs that must each give one clear
line, exit code 2, and write nothing to the store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import DEVELOPER_VERBOSITY, run_cli


def test_help_and_ls_do_not_import_torch():
    code = (
        "import sys; from bench.cli import main\n"
        "for argv in (['ls', 'methods'], ['ls', 'attacks'], ['ls', 'boards']):\n"
        "    main(argv)\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.splitlines() if line.strip() and "\t" in line]
    for m in ("none", "sft", "dpo", "npo", "rmu", "cb", "repo", "gcg", "gcg_enhanced", "relearn", "tiny"):
        assert m in names


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def _board(tmp_path, extra=""):
    return write(tmp_path, "b.yaml", "name: t\n" + extra)


def _model_without_weights(tmp_path):
    d = tmp_path / "noweights"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return ["run", "--model", str(d), "--set", "data.source=files"]


def _pairs_board(tmp_path, pairs_text, encoding="utf-8"):
    p = tmp_path / "pairs.jsonl"
    p.write_bytes(pairs_text.encode(encoding) if isinstance(pairs_text, str) else pairs_text)
    return [
        "run",
        "--board",
        _board(
            tmp_path,
            f"""
data:
  source: files
  pairs: {p}
  eval_prompts: {p}
  benign_text: {p}
models:
  - name: {tmp_path / "missing-model"}
""",
        ),
    ]


CASES = {
    "unknown method": (lambda t: ["run", "--method", "rpeo"], "Did you mean 'repo'"),
    "unknown attack": (lambda t: ["run", "--attacks", "gcgg"], "Did you mean 'gcg'"),
    "unknown board": (lambda t: ["run", "--board", "tinyy"], "Did you mean 'tiny'"),
    "missing board file": (lambda t: ["run", "--board", str(t / "nope.yaml")], "not found"),
    "malformed yaml": (lambda t: ["run", "--board", _board(t, "seeds: [0\nmodels: x\n")], "line"),
    "yaml not a mapping": (lambda t: ["run", "--board", write(t, "l.yaml", "- a\n- b\n")], "mapping"),
    "unknown top key": (lambda t: ["run", "--board", _board(t, "seedz: [0]\n")], "Did you mean 'seeds'"),
    "unknown nested key": (
        lambda t: ["run", "--board", _board(t, "generation: {max_new_token: 5}\n")],
        "max_new_tokens",
    ),
    "unknown method key": (
        lambda t: ["run", "--board", _board(t, "methods: {dpo: {betta: 0.1}}\n"), "--method", "dpo"],
        "Did you mean 'beta'",
    ),
    "wrong type top": (lambda t: ["run", "--board", _board(t, "seeds: zero\n")], "wrong type"),
    "wrong type nested": (
        lambda t: ["run", "--board", _board(t, "generation: {max_new_tokens: ten}\n")],
        "wrong type",
    ),
    "wrong type plugin": (
        lambda t: ["run", "--board", _board(t, "attacks: {gcg: {num_steps: [1]}}\n"), "--attacks", "gcg"],
        "wrong type",
    ),
    "set missing key": (lambda t: ["run", "--set", "generation.nope=1"], "does not exist"),
    "set malformed": (lambda t: ["run", "--set", "generation.max_new_tokens"], "key=value"),
    "set wrong type": (lambda t: ["run", "--set", "generation.max_new_tokens=abc"], "wrong type"),
    "negative budget": (
        lambda t: ["run", "--set", "methods.dpo.steps=-5", "--method", "dpo"],
        "must be positive",
    ),
    "zero gcg steps": (lambda t: ["run", "--set", "attacks.gcg.num_steps=0"], "must be positive"),
    "zero temperature": (
        lambda t: ["run", "--set", "generation.temperature=0"],
        "temperature must be positive",
    ),
    "zero relearn examples": (lambda t: ["run", "--set", "attacks.relearn.n_examples=0"], "must be positive"),
    "seeds zero": (lambda t: ["run", "--seeds", "0"], "positive"),
    "unknown model path": (
        lambda t: ["run", "--model", str(t / "no-such-model"), "--set", "data.source=files"],
        "not found",
    ),
    "model folder without weights": (_model_without_weights, "no weights"),
    "empty pairs file": (lambda t: _pairs_board(t, ""), "empty"),
    "pairs missing fields": (
        lambda t: _pairs_board(t, json.dumps({"prompt_text": "a"}) + "\n"),
        "pert_gen_text",
    ),
    "pairs bad encoding": (lambda t: _pairs_board(t, b"\xff\xfe\x00bad\n"), "UTF-8"),
    "pairs invalid json": (lambda t: _pairs_board(t, "{not json}\n"), "invalid JSON"),
    "bad dtype": (
        lambda t: ["run", "--board", _board(t, "models: [{name: organism, dtype: float8}]\n")],
        "dtype",
    ),
    "bad repo variant": (
        lambda t: ["run", "--method", "repo", "--set", "methods.repo.erase=nope"],
        "erase must be",
    ),
    "bad gcg target": (lambda t: ["run", "--set", "attacks.gcg.target=nope"], "target must be"),
    "threshold above 1": (lambda t: ["run", "--set", "eval.toxic_threshold=1.5"], "must lie in [0, 1]"),
    "layer beyond the model": (
        lambda t: ["run", "--method", "repo", "--set", "methods.repo.layers=[99]"],
        "layer 99 is beyond model organism, which has 4 blocks",
    ),
    "attack layer beyond the model": (
        lambda t: ["run", "--attacks", "gcg_enhanced", "--set", "attacks.gcg_enhanced.rep_layers=[2, -9]"],
        "layer -9 is beyond",
    ),
    "results of an unknown board": (lambda t: ["results", "--board", "nosuchboard"], "unknown board"),
    "unknown scorer": (
        lambda t: ["run", "--board", _board(t, "scorer: {name: perspective}\n")],
        "Unknown scorer",
    ),
}


def _in_process(args, home, monkeypatch, capsys):
    """``bench`` called in this process: the table's cases in seconds instead of a minute of
    interpreter start-ups. ``main`` is the console script's entry point. What capsys cannot see
    (warnings and log records, which pytest keeps; writes to file descriptor 2 from native code;
    import-time output) a fresh process does: three cases below also run as a subprocess."""
    from bench.cli import main

    monkeypatch.setenv("BENCH_HOME", str(home))
    for var in DEVELOPER_VERBOSITY:  # unset, as run_cli does
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(home.parent)
    capsys.readouterr()
    try:
        rc = main(list(args))
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out.out, out.err)


def _check_one_line_exit_2(case, out, home):
    expected = CASES[case][1]
    assert out.returncode == 2, (case, out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error:"), out.stderr
    assert expected.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in out.stderr
    assert not (home / "store").exists() or not any((home / "store").rglob("_artifact.json"))
    assert not (home / "runs").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    out = _in_process(CASES[case][0](tmp_path), home, monkeypatch, capsys)
    _check_one_line_exit_2(case, out, home)


# one case per kind of check, in a fresh interpreter: the config's own checks, a model folder
# read from disk (transformers imported), a local data file read line by line
@pytest.mark.parametrize("case", ["set wrong type", "model folder without weights", "pairs missing fields"])
def test_bad_input_in_a_fresh_process_is_one_line_too(case, tmp_path):
    home = tmp_path / "home"
    out = run_cli(*CASES[case][0](tmp_path), home=home, timeout=120)
    _check_one_line_exit_2(case, out, home)


def test_plugin_import_failure_names_the_plugin(tmp_path, monkeypatch):
    from bench import registry
    from bench.errors import BenchError

    monkeypatch.setitem(registry.METHODS, "broken", ("no_such_module_xyz", "broken"))
    with pytest.raises(BenchError, match=r"method plugin 'broken' \(no_such_module_xyz\) failed to import"):
        registry.load("methods", "broken")


def test_malformed_yaml_reports_line_number(tmp_path):
    out = run_cli(
        "run", "--board", _board(tmp_path, "generation:\n  max_new_tokens: [1\n"), home=tmp_path / "h"
    )
    assert out.returncode == 2 and "line" in out.stderr


@pytest.mark.parametrize("board", ["gpt2-medium", "gemma-2-2b"])
def test_real_boards_validate_offline_with_dry_run(board, tmp_path):
    out = run_cli("run", "--board", board, "--dry-run", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr
    assert "dry run" in out.stderr and not (tmp_path / "h" / "store").exists()


def test_results_of_a_known_board_without_results_says_so(tmp_path):
    out = run_cli("results", "--board", "tiny", home=tmp_path / "h")
    assert out.returncode == 0 and out.stdout.strip() == "no results for board 'tiny' yet", out.stdout


def test_a_bad_slot_share_is_one_line_exit_2_before_anything_is_computed(tmp_path, monkeypatch, capsys):
    """``BENCH_SLOT_SHARE`` (bench/cores.py) other than 1 or 2 stops the run before any stage."""
    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_SLOT_SHARE", "3")
    out = _in_process(["run", "--method", "none", "--attacks", ""], home, monkeypatch, capsys)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines == ["bench: error: BENCH_SLOT_SHARE must be 1 or 2, got '3'"], out.stderr
    assert not (home / "store").exists() or not any((home / "store").rglob("_artifact.json"))
    assert not (home / "runs").exists()
