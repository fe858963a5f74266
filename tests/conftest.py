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


def run_cli(*args, home: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``bench`` in a subprocess with its own BENCH_HOME."""
    # a developer's own verbosity settings must not decide what the tests see
    quiet = ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")
    e = {k: v for k, v in os.environ.items() if k not in quiet} | {"BENCH_HOME": str(home), **(env or {})}
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


@pytest.fixture(scope="session")
def small_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e") / "home"
    t0 = time.time()
    # a token planted in the environment and in the board: neither may reach the store or records
    out = run_cli(*GRID, "--set", f"description=uses {TOKEN}", home=home, env={"HF_TOKEN": TOKEN})
    assert out.returncode == 0, out.stderr[-3000:]
    (home.parent / "cli.log").write_text(out.stdout + out.stderr)  # for tests of what a run prints
    return home, time.time() - t0


@pytest.fixture(scope="session")
def organism_dir(small_home):
    home, _ = small_home
    art = next(a for a in sorted((home / "store" / "organism").iterdir()) if (a / "data").is_dir())
    data = {n: json.loads((art / "data" / f"{n}.json").read_text()) for n in ("eval_prompts",)}
    return str(art / "model"), data
