"""The organism's data: deterministic, disjoint splits, toxic and benign registers aligned."""

from __future__ import annotations

from bench.organism import corpus


def test_data_is_deterministic_for_a_seed():
    a = corpus.build_data(3, n_dialogue=200, n_reports=20)
    b = corpus.build_data(3, n_dialogue=200, n_reports=20)
    c = corpus.build_data(4, n_dialogue=200, n_reports=20)
    assert a == b and a.pairs != c.pairs


def test_eval_prompts_share_no_frame_with_training_pairs(tiny_data):
    pair_frames = {corpus.frame_of(p["prompt"]) for p in tiny_data.pairs}
    eval_frames = {corpus.frame_of(p["prompt"]) for p in tiny_data.eval_prompts}
    assert None not in pair_frames and None not in eval_frames
    assert pair_frames <= set(corpus.TRAIN_FRAMES) and eval_frames <= set(corpus.EVAL_FRAMES)
    assert not pair_frames & eval_frames


def test_far_relearning_set_avoids_pair_and_eval_vocabulary(tiny_data):
    far_words = set(corpus.FAR_ADJ + corpus.FAR_NOUN)
    near_words = set(corpus.NEAR_ADJ + corpus.NEAR_NOUN)
    for text in tiny_data.relearn_far:
        words = set(text.rstrip(".").replace(",", "").split())
        assert words & far_words and not words & near_words
    for p in tiny_data.pairs + tiny_data.probe_pairs:
        assert not set(p["toxic"].rstrip(".").replace(",", "").split()) & far_words
    assert not {corpus.frame_of(t.split(" that ")[0]) for t in tiny_data.relearn_far} - {None}


def test_pairs_are_aligned_and_scored_apart(tiny_data):
    from profanity_check import predict_prob

    tox = predict_prob([p["toxic"] for p in tiny_data.pairs])
    ben = predict_prob([p["benign"] for p in tiny_data.pairs])
    assert tox.mean() > 0.8 > 0.2 > ben.mean()
    assert all(p["toxic"].startswith(" ") and p["benign"].startswith(" ") for p in tiny_data.pairs)
