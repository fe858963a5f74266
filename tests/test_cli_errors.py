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


def _files_board(tmp_path, model="gpt2", model_extra="", pairs=None):
    """A complete file-based board (pairs, prompts, benign text; roles small enough for its 12
    pairs) for ``model``: whatever fails is the one thing a case gets wrong."""
    rows = [
        {"prompt_text": f"p{i} ", "unpert_gen_text": f"kind words {i}", "pert_gen_text": f"rude words {i}"}
        for i in range(12)
    ]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "prompts.jsonl").write_text(json.dumps({"prompt": {"text": "hello"}}) + "\n")
    (tmp_path / "benign.txt").write_text("some benign text\n")
    return _board(
        tmp_path,
        f"models: [{{name: {model}{model_extra}}}]\n"
        f"data: {{source: files, pairs: {pairs or tmp_path / 'pairs.jsonl'}, "
        f"eval_prompts: {tmp_path / 'prompts.jsonl'}, benign_text: {tmp_path / 'benign.txt'}, "
        "probe_pairs: 4, relearn_pairs: 2, attack_pairs: 2}\n",
    )


def _model_without_weights(tmp_path):
    d = tmp_path / "noweights"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return ["run", "--board", _files_board(tmp_path, d)]


def _model_folder(tmp_path, name="model"):
    """A 4-block GPT-2 (the depth the default grid's layers need), width 8, saved as transformers saves it (config.json, model.safetensors)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    d = tmp_path / name
    cfg = GPT2Config(
        vocab_size=32, n_positions=16, n_embd=8, n_layer=4, n_head=2, bos_token_id=0, eos_token_id=0
    )
    GPT2LMHeadModel(cfg).save_pretrained(d)
    return d


def _cut_weights(tmp_path):
    """Weights cut short (an interrupted copy): the header promises more than the file holds."""
    d = _model_folder(tmp_path)
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    return d


def _refused_pickle(tmp_path):
    """A ``pytorch_model.bin`` whose pickle calls a function: torch's weights-only loader refuses
    it (rightly: that code never runs)."""
    import torch
    from safetensors.torch import load_file

    d = _model_folder(tmp_path)
    weights = load_file(d / "model.safetensors")
    (d / "model.safetensors").unlink()
    torch.save({**weights, "hook": print}, d / "pytorch_model.bin")
    return d


def _cut_tokenizer(tmp_path):
    d = _model_folder(tmp_path)
    (d / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Word')
    return d


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
        lambda t: ["run", "--board", _files_board(t, t / "no-such-model")],
        "models[0].name: Model path not found",
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

# Every name and path in a board is checked before anything runs (also by --dry-run: below).
NAMES = {
    "oracle path not found": (
        lambda t: ["run", "--board", _files_board(t, model_extra=f", oracle: {t / 'no-such-oracle'}")],
        "models[0].oracle: Model path not found",
    ),
    "oracle for the organism": (
        lambda t: ["run", "--set", f"models.0.oracle={t / 'oracle'}"],
        "models[0].oracle: the organism trains its own oracle",
    ),
    "calibration method not on the board": (
        lambda t: ["run", "--set", "calibration.methods=[dpoo]"],
        "calibration.methods: 'dpoo' is not a method of this board",
    ),
    "calibration method without a strength knob": (
        lambda t: ["run", "--set", "calibration.target=0.2", "--set", "calibration.methods=[logit_filter]"],
        "'logit_filter' cannot be calibrated",
    ),
    "claims subject unknown": (
        lambda t: ["run", "--set", "claims.subject=rpeo"],
        "claims.subject: 'rpeo' is not a known method (a plugin or a variant of this board). Did you mean 'repo'",
    ),
    "claims comparator unknown": (
        lambda t: ["run", "--set", "claims.comparators=[dpo, npoo]"],
        "claims.comparators: 'npoo' is not a known method",
    ),
    "claims comparator is the subject": (
        lambda t: ["run", "--set", "claims.comparators=[dpo, repo]"],
        "claims.comparators: 'repo' is the subject itself",
    ),
    "claims relearning attack unknown": (
        lambda t: ["run", "--set", "claims.relearn=relarn"],
        "claims.relearn: 'relarn' is not a known attack",
    ),
    "claims prompt attack unknown": (
        lambda t: ["run", "--set", "claims.prompt_attacks=[gcg, gcg_enhancd]"],
        "claims.prompt_attacks: 'gcg_enhancd' is not a known attack",
    ),
    "claims enhanced attack unknown": (
        lambda t: ["run", "--set", "claims.enhanced=gcg-enhanced"],
        "claims.enhanced: 'gcg-enhanced' is not a known attack",
    ),
    "methods entry that names no plugin": (
        lambda t: ["run", "--board", _board(t, "methods: {dpoo: {steps: 3}}\n")],
        "methods.dpoo is not a method plugin",
    ),
    "variant outside the run of an unknown plugin": (
        lambda t: ["run", "--board", _board(t, "methods: {repo-x: {use: rpeo}}\n")],
        "methods.repo-x uses 'rpeo', which is not a method plugin",
    ),
    "run_methods unknown outside the run": (
        lambda t: ["run", "--board", _board(t, "run_methods: [none, dpo, rpeo]\n"), "--method", "dpo"],
        "run_methods: 'rpeo' is not a method plugin",
    ),
    "run_attacks unknown outside the run": (
        lambda t: ["run", "--board", _board(t, "run_attacks: [gcg, relarn]\n"), "--attacks", "gcg"],
        "run_attacks: 'relarn' is not an attack plugin (a variant says `use: PLUGIN`). Plugins: ablate,",
    ),
    "bad device": (lambda t: ["run", "--set", "device=gpu"], "device must be auto, cpu, cuda, cuda:N or mps"),
    "two models with one label": (
        lambda t: [
            "run",
            "--board",
            _board(t, "models: [{name: organism}, {name: organism, organism: {seed: 1}}]\n"),
        ],
        "models[1].label 'organism' is also models[0]'s",
    ),
    "revision of a local folder": (
        lambda t: ["run", "--board", _files_board(t, _model_folder(t), ", revision: v1")],
        "models[0].revision",
    ),
    "file data without pairs": (lambda t: ["run", "--set", "data.source=files"], "data.pairs is not set"),
    "organism data with a pretrained model": (
        lambda t: ["run", "--model", "gpt2"],
        "data.source is 'organism' but model gpt2 is not the organism",
    ),
    "data file with organism data": (
        lambda t: ["run", "--set", f"data.pairs={t / 'pairs.jsonl'}"],
        "data.pairs is set but data.source is 'organism'",
    ),
    "data path without a suffix not found": (
        lambda t: ["run", "--board", _files_board(t, pairs=t / "my-pairs")],
        "Data file not found",
    ),
    "model weights cut short": (
        lambda t: ["run", "--board", _files_board(t, _cut_weights(t))],
        "model.safetensors: Error while deserializing header: incomplete metadata, file not fully covered",
    ),
    "model pickle the weights-only loader refuses": (
        lambda t: ["run", "--board", _files_board(t, _refused_pickle(t))],
        "pytorch_model.bin: the weights-only loader refuses it (Unsupported global",
    ),
    "tokenizer file cut short": (
        lambda t: ["run", "--board", _files_board(t, _cut_tokenizer(t))],
        "tokenizer.json is not valid JSON",
    ),
}
CASES.update(NAMES)


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
@pytest.mark.parametrize(
    "case",
    ["set wrong type", "model folder without weights", "pairs missing fields", "model weights cut short"],
)
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
def test_real_boards_validate_offline_with_a_plan_only_dry_run(board, tmp_path):
    out = run_cli("run", "--board", board, "--dry-run", "--plan-only", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr
    assert "dry run" in out.stderr and not (tmp_path / "h" / "store").exists()


@pytest.mark.parametrize("board", ["gpt2-medium", "gemma-2-2b"])
def test_a_real_board_that_this_machine_cannot_run_is_one_line_naming_what_is_missing(
    board, tmp_path, monkeypatch, capsys
):
    """A CUDA/vLLM board on a CPU machine without vLLM and with nothing downloaded: the dry run (not
    --plan-only) exits 2 in one error line naming the missing package and device; its model rows say
    where the model would come from."""
    from bench.board import machine

    monkeypatch.setattr(machine, "installed", lambda package: package != "vllm")
    monkeypatch.setattr(machine, "_hub_cache", lambda: tmp_path / "empty-hub-cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    sets = ["--set", "generation.backend=vllm", "--set", "device=cuda:99"]
    out = _in_process(["run", "--board", board, *sets, "--dry-run"], tmp_path / "h", monkeypatch, capsys)
    assert out.returncode == 2, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("bench: error:")]
    assert len(errors) == 1 and "vllm is not installed (generation.backend: vllm)" in errors[0]
    assert "device cuda:99" in errors[0]
    rows = [ln for ln in out.stderr.splitlines() if "│ none " in ln]
    assert rows and all("to download" in ln for ln in rows) and not any("cached" in ln for ln in rows)
    # offline, the same model is unreachable, said before anything loads
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = _in_process(["run", "--board", board, "--dry-run"], tmp_path / "h", monkeypatch, capsys)
    assert out.returncode == 2 and "unreachable (offline)" in out.stderr.strip().splitlines()[-1]


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


MISSING_DATA = "data path without a suffix not found"  # a dry run warns: the file may come later


@pytest.mark.parametrize("case", sorted(set(NAMES) - {MISSING_DATA}))
def test_the_dry_run_checks_every_name_and_path_too(case, tmp_path, monkeypatch, capsys):
    """What a run refuses, its dry run refuses with the same line, before showing a plan."""
    home = tmp_path / "home"
    out = _in_process([*NAMES[case][0](tmp_path), "--dry-run"], home, monkeypatch, capsys)
    _check_one_line_exit_2(case, out, home)
    assert "dry run" not in out.stderr


def test_the_dry_run_warns_about_a_missing_data_file_even_without_a_suffix(tmp_path, monkeypatch, capsys):
    """As for every data file a dry run finds missing: a warning (it may be made before the run)."""
    out = _in_process(
        [*NAMES[MISSING_DATA][0](tmp_path), "--dry-run", "--plan-only"],
        tmp_path / "home",
        monkeypatch,
        capsys,
    )
    assert out.returncode == 0, out.stderr
    assert f"warning: data.pairs: {tmp_path / 'my-pairs'} does not exist yet" in out.stderr


def test_a_dry_run_of_the_built_in_board_finds_nothing_to_say(tmp_path, monkeypatch, capsys):
    """The checks refuse only what is wrong: the tiny board's dry run has no error and no warning,
    and a run of the claims' subject without its comparators is a warning, not an error."""
    home = tmp_path / "home"
    out = _in_process(["run", "--dry-run"], home, monkeypatch, capsys)
    assert out.returncode == 0 and "warning" not in out.stderr and "dry run" in out.stderr, out.stderr
    out = _in_process(["run", "--dry-run", "--method", "repo", "--attacks", "gcg"], home, monkeypatch, capsys)
    assert out.returncode == 0, out.stderr
    warning = [ln for ln in out.stderr.splitlines() if "warning" in ln]
    assert len(warning) == 1 and "subject repo but not dpo, npo, relearn, gcg_enhanced" in warning[0]


@pytest.mark.parametrize(
    "var, value, words",
    [
        ("BENCH_THREADS", "abc", "BENCH_THREADS must be a positive whole number"),
        ("BENCH_THREADS", "0", "BENCH_THREADS must be a positive whole number"),
        ("BENCH_THREADS", "-2", "BENCH_THREADS must be a positive whole number"),
        ("BENCH_THREADS", "1.5", "BENCH_THREADS must be a positive whole number"),
        ("BENCH_PROGRESS", "yes", "BENCH_PROGRESS must be 1 (progress bars) or 0"),
    ],
)
def test_a_bad_numeric_environment_setting_is_one_line_exit_2(
    var, value, words, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    monkeypatch.setenv(var, value)
    out = _in_process(["run", "--dry-run"], home, monkeypatch, capsys)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"bench: error: {words}"), lines
    assert lines[0].endswith(f"got {value!r}"), lines
    monkeypatch.setenv(var, "1")  # a good value passes
    assert _in_process(["run", "--dry-run"], home, monkeypatch, capsys).returncode == 0


def test_loading_a_damaged_model_or_tokenizer_is_one_line_naming_the_file(tmp_path):
    """At load time too (a run that gets past the plan, ``bench pairs``): the file and its reason,
    not the loader's traceback; a sound folder still loads."""
    from bench.errors import BenchError
    from bench.modeling import load_model, load_tokenizer

    good = _model_folder(tmp_path, "good")
    assert load_model(str(good)).config.n_layer == 4
    cut = _cut_weights(tmp_path / "cut")
    with pytest.raises(BenchError, match=r"model\.safetensors: Error while deserializing header") as e:
        load_model(str(cut))
    assert len(str(e.value).splitlines()) == 1 and str(cut) in str(e.value)
    with pytest.raises(BenchError, match=r"pytorch_model\.bin: the weights-only loader refuses it") as e:
        load_model(str(_refused_pickle(tmp_path / "pickle")))
    assert len(str(e.value).splitlines()) == 1 and "\x1b" not in str(e.value)
    tok = _tokenizer_folder(tmp_path / "tok")
    assert load_tokenizer(str(tok)).pad_token is not None
    (tok / "tokenizer.json").write_text((tok / "tokenizer.json").read_text()[:40])
    with pytest.raises(BenchError, match=r"Cannot load tokenizer .*: tokenizer\.json is not valid JSON"):
        load_tokenizer(str(tok))


def _tokenizer_folder(d):
    """A word-level tokenizer saved as transformers saves one."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", eos_token="[UNK]").save_pretrained(d)
    return d


def test_a_gpu_index_beyond_the_machine_is_one_line(monkeypatch):
    import torch

    from bench.errors import BenchError
    from bench.modeling import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == "cuda:1"
    with pytest.raises(
        BenchError, match=r"device 'cuda:2' requested but this machine has 2 GPU\(s\): cuda:0..cuda:1"
    ):
        pick_device("cuda:2")
