"""Shared fixtures: offline settings, a tiny GPT-2 and tokenizer built once per session,
a small organism board, and a helper to run the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist workers share the machine's cores: each computes (in this process and in the
    # `bench` processes it starts, which take core slots at that width) with its share of the
    # threads, so two workers do not run 4 threads on 2 cores. Every worker gets the same share,
    # so numbers that depend on the thread count (training, GCG's gradient) are compared only
    # with numbers of this session, at the same count; no test reads a figure computed at
    # another count. The known-answer checks (tests/test_validation.py) then judge organisms
    # trained at 1 thread here and at 2 under plain `pytest -q`: both pass.
    _share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    for _var in ("BENCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(_share))

ROOT = Path(__file__).resolve().parent.parent

# A small organism so end-to-end tests take seconds, not minutes: fewer lines, fewer steps.
SMALL = [
    "models.0.organism.steps=60",
    "models.0.organism.n_dialogue=3000",
    "models.0.organism.n_reports=500",
    "methods.dpo.steps=8",
    "methods.repo.steps=8",
    "attacks.gcg.num_steps=2",
    "attacks.gcg.search_width=16",
    "attacks.gcg.topk=16",
    "attacks.gcg.n_train_prompts=2",
    "attacks.relearn.steps=5",
    "attacks.relearn.curve_steps=[0,2,5]",
    "generation.num_samples=2",  # sampled like the default board, but cheap
    "data.eval_limit=64",  # the first 64 of the organism's 200 eval prompts: a third of the sampling
    "eval.bootstrap=50",
    "eval.attack_restarts=2",  # prompt attacks restart (the board runs 3)
    "eval.probe_max_pairs=60",
    "eval.ppl_max_texts=50",
    "eval.f1_max=20",
]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """(model, tokenizer, folder): a 4-layer, width-32 GPT-2 with a BPE trained on a few sentences."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from bench.organism.build import train_tokenizer
    from bench.organism.corpus import build_data

    folder = tmp_path_factory.mktemp("tiny_lm")
    data = build_data(0, n_dialogue=300, n_reports=50, prose_repeats=1)
    tok = train_tokenizer(data.corpus, 512, folder)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_embd=32,
        n_layer=4,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    model = GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(folder)
    return model, tok, folder


@pytest.fixture(scope="session")
def tiny_data():
    from bench.organism.corpus import build_data

    return build_data(0, n_dialogue=300, n_reports=50, prose_repeats=1)


# a developer's own verbosity settings must not decide what the tests see
DEVELOPER_VERBOSITY = ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")


def run_cli(*args, home: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``bench`` in a subprocess with its own BENCH_HOME."""
    e = {k: v for k, v in os.environ.items() if k not in DEVELOPER_VERBOSITY}
    e |= {"BENCH_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=timeout,
        cwd=str(home.parent),
    )


def small_sets() -> list[str]:
    out = []
    for s in SMALL:
        out += ["--set", s]
    return out


GRID = [
    "run",
    "--method",
    "dpo,repo",
    "--attacks",
    "gcg,relearn",
    *small_sets(),
    "--set",
    "attacks.gcg.mode=per_prompt",
    "--set",
    "attacks.gcg.max_prompts=3",
    "--set",
    "generation.batch_size=16",
]
TOKEN = "hf_" + "Zq7" * 12


def built_once(tmp_path_factory, name: str, build):
    """``build(folder)`` once per test session: under pytest-xdist (the README's ``-n 2``) the
    first worker to need it builds it under a file lock in the folder all workers share, and
    the others wait for it and read its JSON result instead of building it again."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent  # pytest-of-<user>/pytest-<n>: shared by the workers
    done, failed = root / f"{name}.json", root / f"{name}.failed"
    with FileLock(str(root / f"{name}.lock")):
        if failed.exists():  # not built again on top of a failed attempt: the same failure, at once
            pytest.fail(f"{name} failed to build on another worker:\n{failed.read_text()}")
        if not done.exists():
            (root / name).mkdir(exist_ok=True)
            try:
                value = build(root / name)
            except BaseException as e:
                failed.write_text(f"{type(e).__name__}: {e}"[-3000:])
                raise
            done.write_text(json.dumps(value))
    return json.loads(done.read_text())


@pytest.fixture(scope="session")
def small_home(tmp_path_factory):
    def build(folder: Path):
        home = folder / "home"
        t0 = time.time()
        # a token planted in the environment and in the board: neither may reach the store or records
        out = run_cli(*GRID, "--set", f"description=uses {TOKEN}", home=home, env={"HF_TOKEN": TOKEN})
        assert out.returncode == 0, out.stderr[-3000:]
        (home.parent / "cli.log").write_text(out.stdout + out.stderr)  # for tests of what a run prints
        return str(home), time.time() - t0

    home, seconds = built_once(tmp_path_factory, "e2e", build)
    return Path(home), seconds


@pytest.fixture(scope="session")
def organism_dir(small_home):
    home, _ = small_home
    art = next(a for a in sorted((home / "store" / "organism").iterdir()) if (a / "data").is_dir())
    data = {n: json.loads((art / "data" / f"{n}.json").read_text()) for n in ("eval_prompts",)}
    return str(art / "model"), data


# Files whose tests wait on a minutes-long build (the validation zoo, the shared small store) or
# run many `bench` processes, longest first: with the README's `-n 2 --dist loadfile
# --no-loadscope-reorder`, the workers take these first, and the many short files fill in at
# the end, so the two workers finish together.
LONG_FIRST = [
    "test_validation.py",
    "test_e2e.py",
    "test_resume.py",
    "test_standins.py",
    "test_generators.py",
    "test_data.py",
]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise
