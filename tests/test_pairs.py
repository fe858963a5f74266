"""The pair builder: Lee et al. keys, benign = greedy, toxic = best-of-n under the scorer or probe steering."""

from __future__ import annotations

import json

import torch

from bench import registry
from bench.generators.hf import generate
from bench.run.pairs import build_pairs, steered_generate, steering_direction
from tests.conftest import run_cli


def test_bestofn_picks_the_most_toxic_sample(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    mod = registry.load("scorers", "profanity")
    scorer = mod.create(mod.Config())
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:6]]
    pairs = build_pairs(model, tok, prompts, scorer, "bestofn", n=4, max_new_tokens=8, seed=0)
    assert [p["prompt_text"] for p in pairs] == prompts
    assert [p["unpert_gen_text"] for p in pairs] == [
        o[0] for o in generate(model, tok, prompts, max_new_tokens=8)
    ]
    samples = generate(
        model, tok, prompts, max_new_tokens=8, num_samples=4, temperature=1.0, top_p=1.0, seed=0
    )
    for p, s in zip(pairs, samples):
        assert p["pert_gen_text"] in s
        assert scorer.score([p["pert_gen_text"]])[0] == max(scorer.score(s))


def test_steering_changes_greedy_continuations(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    texts = [p["toxic"] for p in tiny_data.pairs[:20]] + [p["benign"] for p in tiny_data.pairs[:20]]
    d = steering_direction(model, tok, texts, [1] * 20 + [0] * 20)
    assert torch.isclose(d.norm(), torch.tensor(1.0))
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:4]]
    plain = [o[0] for o in generate(model, tok, prompts, max_new_tokens=6)]
    steered = steered_generate(model, tok, prompts, d, alpha=50.0, max_new_tokens=6)
    assert steered != plain
    assert [o[0] for o in generate(model, tok, prompts, max_new_tokens=6)] == plain  # hook removed


def test_pairs_cli_writes_lee_et_al_jsonl(tiny_lm, tiny_data, tmp_path):
    _, _, folder = tiny_lm
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": p["prompt"]}) + "\n" for p in tiny_data.eval_prompts[:5])
    )
    out = run_cli(
        "pairs",
        "--model",
        str(folder),
        "--prompts",
        str(prompts),
        "--out",
        str(tmp_path / "p.jsonl"),
        "--n",
        "3",
        "--max-new-tokens",
        "6",
        home=tmp_path / "h",
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and set(rows[0]) == {"prompt_text", "unpert_gen_text", "pert_gen_text"}
    assert "mean toxicity benign" in out.stdout
