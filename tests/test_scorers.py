"""Scorers: profanity (shipped weights) and the real Detoxify code path on a tiny checkpoint."""

from __future__ import annotations

import hashlib
import math

import pytest

from bench import registry
from bench.errors import BenchError


def test_profanity_scores_are_probabilities_in_order():
    mod = registry.load("scorers", "profanity")
    s = mod.create(mod.Config(chunk_size=2))
    texts = ["you are a stupid idiot", "what a lovely day", "shut up, you moron", ""]
    out = s.score(texts)
    assert len(out) == 4 and all(0 <= x <= 1 for x in out)
    assert out[0] > 0.5 > out[1] and out[2] > 0.5
    assert s.score(texts[::-1]) == out[::-1]


@pytest.fixture(scope="module")
def detoxify_checkpoint(tmp_path_factory):
    """A random 2-layer BERT in Detoxify's checkpoint format, with a local config folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    d = tmp_path_factory.mktemp("detox")
    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "you",
        "are",
        "a",
        "stupid",
        "idiot",
        "nice",
        "day",
    ]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(d / "vocab.txt")).save_pretrained(d)
    cfg = BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=6,
    )
    cfg.save_pretrained(d)
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    ckpt = {
        "config": {
            "arch": {
                "args": {
                    "model_type": str(d),
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": 6,
                }
            },
            "dataset": {"args": {"classes": classes}},
        },
        "state_dict": model.state_dict(),
    }
    path = d / "tiny.ckpt"
    torch.save(ckpt, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), d


def test_detoxify_runs_the_real_library_offline(detoxify_checkpoint):
    path, sha, folder = detoxify_checkpoint
    mod = registry.load("scorers", "detoxify")
    s = mod.create(
        mod.Config(checkpoint=str(path), checkpoint_sha256=sha, config_path=str(folder), chunk_size=2)
    )
    texts = ["you are a stupid idiot", "nice day", "you are", "a"]
    out = s.score(texts)
    assert len(out) == 4 and all(0 <= x <= 1 and not math.isnan(x) for x in out)
    assert s.score(texts[:1]) == pytest.approx(out[:1])  # a single text still gives a list
    assert "detoxify" in s.version
    s.close()


def test_detoxify_refuses_a_checkpoint_with_a_wrong_hash(detoxify_checkpoint):
    path, sha, folder = detoxify_checkpoint
    mod = registry.load("scorers", "detoxify")
    with pytest.raises(BenchError, match="refusing to load"):
        mod.create(mod.Config(checkpoint=str(path), checkpoint_sha256="0" * 64, config_path=str(folder)))
    with pytest.raises(BenchError, match="without checkpoint_sha256"):
        mod.create(mod.Config(checkpoint=str(path), config_path=str(folder)))
