"""Benign relearning that is benign (docs/sources.md, relearning data): ``relearn_benign`` trains on held-out prose that
no other stage trains or measures on, holding no toxic word and no answer to a detox prompt (the
old data, benign answers to the pairs' prompts, detoxified the base: a detox, not an attack).

What the attack does to the base model is measured on the board's organism, not here: the tests'
small organism (60 training steps) has too weak a register for the check to tell the two data
apart (20 steps at relearn's lr take it from 0.34 to 0.16 on prose and to 0.17 on the pairs'
answers; 50 steps to 0.10 on prose), and the board's organism takes about a minute to build. On
the board's organism (seed 0) the prose leaves the base at 0.41 of 0.46 after 50 steps; the
pairs' answers take it to 0.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from bench.errors import BenchError
from bench.organism import corpus


def _words(text: str, add_special_tokens: bool = False) -> dict:
    """A word-level stand-in for a tokenizer, for the vocabulary helpers: a subword vocabulary of
    a tiny BPE shares pieces ("st", "ly") with any English text."""
    return {"input_ids": re.findall(r"[a-z']+", text.lower())}


def test_held_out_prose_is_disjoint_from_the_corpus_and_the_utility_texts():
    d = corpus.build_data(0)  # the default board's sizes (a second: no model is trained)
    held = d.relearn_benign
    assert len(held) >= 150 and len(set(held)) == len(held)  # room for relearn's 64 examples, twice
    assert set(held) <= set(corpus.prose_sentences())  # prose, not dialogue
    assert not set(held) & set(d.corpus)  # never trained on
    assert not set(held) & set(d.benign_text)  # not the perplexity texts
    f1_prompts = tuple(c["prompt"] for c in d.continuations)
    f1_texts = {f"{c['prompt']} {c['gold']}" for c in d.continuations}
    assert not [t for t in held if t.startswith(f1_prompts) or t in f1_texts]  # not the F1 texts
    assert sum(t in f1_texts for t in corpus.prose_sentences()) >= 50  # (the check can see F1 prose)


def test_benign_relearning_text_has_no_toxic_word_and_no_detox_answer(tiny_data):
    from bench.eval.directions import toxic_only_vocab

    held = tiny_data.relearn_benign
    other_prose = [s for s in corpus.prose_sentences() if s not in set(held)]
    benign_sides = [p["benign"] for p in tiny_data.pairs]
    # words the pairs' toxic side uses and no benign text (their benign side, the other prose) does
    vocab = set(toxic_only_vocab(_words, tiny_data.pairs, other_prose + benign_sides, min_count=1))
    vocab |= set(corpus.NEAR_ADJ + corpus.NEAR_NOUN + corpus.FAR_ADJ + corpus.FAR_NOUN)
    assert {"stupid", "idiot", "shut", "hate"} <= vocab
    assert not [t for t in held if set(_words(t)["input_ids"]) & vocab]
    answers = {p["benign"].strip() for p in tiny_data.pairs} | {p["prompt"] for p in tiny_data.pairs}
    assert not [t for t in held if any(a in t for a in answers)]


def test_relearn_benign_trains_on_the_prose_and_refuses_a_detox(tiny_lm, tiny_data, monkeypatch):
    from bench.attacks import WeightJob, relearn, relearn_benign

    seen = {}

    def fake_train(model, tokenizer, examples, *a, **k):
        seen["texts"] = [e["text"] for e in examples]
        return model, {"steps": 1}

    monkeypatch.setattr(relearn, "train", fake_train)
    model, tok, _ = tiny_lm
    cfg = relearn_benign.Config(steps=2, curve_steps=[0, 2], n_examples=8)
    assert cfg.data == "prose"
    pairs = tiny_data.pairs
    job = WeightJob(texts=tiny_data.relearn_far, benign_texts=tiny_data.relearn_benign, pairs=pairs)
    relearn_benign.apply(model, tok, job, cfg, 0)
    assert seen["texts"] == tiny_data.relearn_benign[:8]
    # the old data, prompt + benign answer of the detox pairs, is what sft detoxifies on: refused
    detox = [p["prompt"] + p["benign"] for p in pairs[:3]] + tiny_data.relearn_benign
    with pytest.raises(BenchError, match="3 benign answers of the detox pairs"):
        relearn_benign.apply(model, tok, WeightJob(texts=[], benign_texts=detox, pairs=pairs), cfg, 0)
    with pytest.raises(BenchError, match="no text"):  # a board without benign text: one line
        relearn_benign.apply(model, tok, WeightJob(texts=[], pairs=pairs), cfg, 0)
    with pytest.raises(ValueError, match="'toxic' or 'prose'"):
        relearn.Config(data="benign")


def test_file_boards_relearn_on_wikitext_train_or_a_file(tmp_path, monkeypatch):
    import datasets

    from bench.board.schema import DataSpec
    from bench.data import loaders as data
    from bench.stages import splits as stages

    seen = {}
    lines = [
        " = Title = \n",
        " Too short to train on .\n",
        " " + "word " * 25 + "\n",
        "\n",
        " " + "two " * 30,
    ]

    def fake(name, config, split):
        seen["args"] = (name, config, split)
        return {"text": lines}

    monkeypatch.setattr(datasets, "load_dataset", fake)
    wiki = DataSpec(source="files", pairs="p.jsonl", eval_prompts="e.jsonl", benign_text="wikitext")
    assert stages.relearn_benign_texts(wiki) == [("word " * 25).strip(), ("two " * 30).strip()]
    assert seen["args"] == ("wikitext", "wikitext-2-raw-v1", "train")  # not perplexity's test split
    assert data.wikitext_train_paragraphs(limit=1) == [("word " * 25).strip()]
    local = DataSpec(source="files", pairs="p.jsonl", eval_prompts="e.jsonl", benign_text="b.txt")
    assert stages.relearn_benign_texts(local) == []  # none: relearn_benign refuses to run
    own = tmp_path / "own.txt"
    own.write_text("First line of prose.\nSecond line of prose.\n")
    spec = SimpleNamespace(benign_text="wikitext", relearn_benign=str(own))  # a named file wins
    assert stages.relearn_benign_texts(spec) == ["First line of prose.", "Second line of prose."]
    # a stored data artifact holds one file per part: a new part is a new key
    key = stages.files_data_key(local)
    monkeypatch.setattr(stages, "FILE_PARTS", stages.FILE_PARTS[:-1])
    assert stages.files_data_key(local) != key
