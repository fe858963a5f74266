"""One tokenisation rule: every stage feeds a prompt with the tokenizer's own BOS convention.

The bug this guards (issue 12): training, probes and GCG tokenised with
``add_special_tokens=False`` while generation added BOS, so a Gemma or Llama model would be
trained and attacked without BOS and evaluated with it. The stand-in is a Gemma-2-shaped model
whose tokenizer puts ``<bos>`` before every text (built locally, no hub).
"""

from __future__ import annotations

import pytest
import torch
from bench.attacks import gcg

from bench import losses
from bench.eval import directions, metrics, probes
from bench.generators.hf import generate
from bench.modeling import bos_ids, load_model, load_tokenizer
from bench.trainer import TrainConfig, train

PROMPT = "Those people next door are"
CONT = " loud and rude."


@pytest.fixture(scope="module")
def gemma_like(tmp_path_factory):
    from bench.testing.standins import build

    path = build("gemma2", tmp_path_factory.mktemp("gemma_like"), layers=2, width=32)
    return load_model(str(path)), load_tokenizer(str(path))


class Recorder:
    """Every sequence the model is run on: input ids, or ids recovered from input embeddings."""

    def __init__(self, model):
        self.model, self.seqs = model, []
        self.table = model.get_input_embeddings().weight

    def __enter__(self):
        def hook(mod, args, kwargs):
            ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
            if ids is None and kwargs.get("inputs_embeds") is not None:
                e = kwargs["inputs_embeds"].float()
                ids = torch.cdist(e, self.table.float().unsqueeze(0)).argmin(-1)
            if ids is None and args:
                ids = args[0]
            for i, row in enumerate(ids.tolist()):
                if mask is not None:  # drop left or right padding
                    row = [t for t, m in zip(row, mask[i].tolist()) if m]
                self.seqs.append(row)

        self.handle = self.model.register_forward_pre_hook(hook, with_kwargs=True)
        return self

    def __exit__(self, *a):
        self.handle.remove()


def test_the_stand_in_tokenizer_adds_bos(gemma_like):
    _, tok = gemma_like
    assert bos_ids(tok) == [tok.bos_token_id]
    assert tok(PROMPT)["input_ids"][0] == tok.bos_token_id


def test_every_stage_feeds_the_same_prompt_ids(gemma_like):
    model, tok = gemma_like
    want = tok(PROMPT)["input_ids"]  # what generation (HF and vLLM) feeds: BOS + prompt
    assert want[0] == tok.bos_token_id
    cont = tok(CONT, add_special_tokens=False)["input_ids"]
    pair = [{"prompt": PROMPT, "benign": " kind and quiet.", "toxic": CONT}]

    def first_seqs(run) -> list[list[int]]:
        with Recorder(model) as rec:
            run()
        assert rec.seqs, "the stage ran no forward pass"
        return rec.seqs

    stages = {
        "generation": lambda: generate(model, tok, [PROMPT], max_new_tokens=2),
        "training": lambda: train(
            model,
            tok,
            pair,
            TrainConfig(steps=1, batch_size=1, warmup=0),
            lambda m, ref, batch, ctx: (
                losses.nll(losses.run(m, losses.encode_sides(tok, batch, ("toxic",), 64))["toxic"]),
                {},
            ),
            seed=0,
            name="sft",
            use_ref=False,
        ),
        "probes": lambda: probes.pooled_states(model, tok, pair),
        "directions": lambda: directions.residual_states(model, tok, [(PROMPT, CONT)]),
        "gcg prefix": lambda: gcg.Objective(model, tok, PROMPT, CONT, position="prefix").losses(
            model.get_input_embeddings()(torch.tensor([tok(" x x", add_special_tokens=False)["input_ids"]]))
        ),
        "gcg_enhanced": lambda: gcg.Objective(
            model, tok, PROMPT, CONT, position="prefix", rep_layers=(1, 2), rep_weight=1.0, base_model=model
        ).losses(
            model.get_input_embeddings()(torch.tensor([tok(" x x", add_special_tokens=False)["input_ids"]])),
            torch.tensor([tok(" x x", add_special_tokens=False)["input_ids"]]),
        ),
        "gcg suffix": lambda: gcg.Objective(model, tok, PROMPT, CONT, use_cache=False).losses(
            model.get_input_embeddings()(torch.tensor([tok(" x x", add_special_tokens=False)["input_ids"]]))
        ),
    }
    for name, run in stages.items():
        seqs = first_seqs(run)
        if name in ("gcg prefix", "gcg_enhanced"):  # generation's ids for the joined text, then the target
            joined = tok(gcg.join(PROMPT, " x x", "prefix"))["input_ids"]
            assert joined[0] == tok.bos_token_id
            assert all(s == joined + cont for s in seqs), name  # enhanced: both models, same input
        else:
            assert seqs[0][: len(want)] == want, f"{name} fed {seqs[0][: len(want)]}, generation {want}"
        if name in ("training", "probes", "directions"):  # the continuation follows the prompt
            assert any(s[: len(want) + len(cont)] == want + cont for s in seqs), name
    model.float()  # training upcasts in place; leave the fixture as it was


def test_perplexity_windows_start_with_bos(gemma_like):
    model, tok = gemma_like
    with Recorder(model) as rec:
        metrics.perplexity(model, tok, ["a long benign text about the weather"] * 6, window=16)
    assert len(rec.seqs) > 1 and all(s[0] == tok.bos_token_id and len(s) <= 16 for s in rec.seqs)
    assert sum(len(s) - 1 for s in rec.seqs) == len(
        tok(tok.eos_token.join(["a long benign text about the weather"] * 6), add_special_tokens=False)[
            "input_ids"
        ]
    )  # every text token is predicted once, the first one from BOS


def test_truncation_keeps_a_prompt_that_fits_once_the_continuation_is_cut(tiny_lm, gemma_like):
    """max_length 10, a 4-token prompt, a 20-token continuation: the continuation is cut to half
    the room and the whole prompt stays (a slicing bug once kept 1 prompt token here)."""
    from bench.trainer import encode_example

    for tok in (tiny_lm[1], gemma_like[1]):
        pre = bos_ids(tok)
        words = " ".join(["alpha"] * 40)
        p_ids = tok("a b c d", add_special_tokens=False)["input_ids"]
        c_ids = tok(" " + words, add_special_tokens=False)["input_ids"]
        assert len(p_ids) == 4 and len(c_ids) >= 20
        ids, plen = encode_example(tok, "a b c d", " " + words, 10 + len(pre))
        assert ids == pre + p_ids + c_ids[:5] and plen == len(pre) + 4
        ids, plen = encode_example(tok, "a b c d " * 5, " " + words, 10 + len(pre))  # prompt too long too
        assert len(ids) == 10 + len(pre) and ids[: len(pre)] == pre and ids[plen:] == c_ids[:5]
