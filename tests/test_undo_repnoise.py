"""The two methods built to resist relearning: ``undo`` (noise a copy, distil a teacher into it) and
``repnoise`` (push toxic representations toward noise). Each test fails when its part is broken:
no noise applied, a distillation that does not follow the teacher, a noise term of the wrong sign."""

from __future__ import annotations

import copy

import pytest
import torch
from bench.methods import MethodData, repnoise, repo, undo

from bench import losses, stages
from bench.errors import BenchError
from bench.trainer import TrainConfig, train


def _params(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_alpha_one_replaces_every_weight_by_the_fresh_initialisation(tiny_lm, tiny_data):
    """At α = 1 the student starts from a fresh initialisation of the architecture (the run's seed):
    after one step at lr ≈ 0 its weights are that initialisation, far from the model's own."""
    model, tok, _ = tiny_lm
    fresh = _params(undo.fresh_init(model, 0))
    own = _params(model)
    assert all(fresh[n].shape == own[n].shape for n in own)
    assert all((fresh[n] - own[n]).abs().max() > 1e-3 for n in own if own[n].dim() == 2)  # a different draw
    cfg = undo.Config(alpha=1.0, steps=1, batch_size=2, warmup=0, lr=1e-12)
    student, stats = undo.apply(
        copy.deepcopy(model), tok, MethodData([], [], distill=tiny_data.corpus[:40]), cfg, 0
    )
    got = _params(student)
    assert all(torch.allclose(got[n], fresh[n], atol=1e-6) for n in own), "α = 1 did not replace the weights"
    assert stats["teacher"] == "self" and stats["distill_set"] == "distill"
    # α = 0.5 is the midpoint of the model and the same initialisation
    half = undo.apply(
        copy.deepcopy(model),
        tok,
        MethodData([], [], distill=tiny_data.corpus[:40]),
        undo.Config(alpha=0.5, steps=1, batch_size=2, warmup=0, lr=1e-12),
        0,
    )[0]
    mid = _params(half)
    assert all(torch.allclose(mid[n], 0.5 * own[n] + 0.5 * fresh[n], atol=1e-6) for n in own)


def _teacher(model, tok, texts):
    """A teacher that knows something the student does not: the model trained on ``texts``."""

    def loss_fn(m, ref, batch, ctx):
        enc = losses.encode_sides(tok, batch, ("text",), 64)
        return losses.nll(losses.run(m, enc)["text"]), {}

    examples = [{"prompt": "", "text": t} for t in texts]
    cfg = TrainConfig(steps=25, lr=5e-3, batch_size=8, warmup=0)
    return train(copy.deepcopy(model), tok, examples, cfg, loss_fn, 0, "teacher", use_ref=False)[0].eval()


def _kl(student, teacher, tok, texts) -> float:
    from bench.trainer import collate

    blocks = undo.pack(tok, texts, 64)
    ids, attn, _ = collate(tok, [(b, 0) for b in blocks])
    with torch.no_grad():
        return undo.distill_kl(
            student(input_ids=ids, attention_mask=attn).logits,
            teacher(input_ids=ids, attention_mask=attn).logits,
            attn,
            1.0,
        ).item()


def test_distillation_lowers_the_kl_to_the_teacher_on_held_out_text(tiny_lm, tiny_data):
    """The noised student distilled on one set of texts is closer to its teacher on *other* texts
    than the same run at lr ≈ 0 (same noise, batches and schedule, no learning)."""
    model, tok, _ = tiny_lm
    teacher = _teacher(model, tok, tiny_data.corpus[:300])
    held_out = tiny_data.benign_text[:40]  # never in the corpus the student is distilled on
    distill = tiny_data.corpus[:300]
    assert not set(held_out) & set(distill)

    def run(lr):
        cfg = undo.Config(alpha=0.5, steps=20, batch_size=4, warmup=0, lr=lr)
        data = MethodData([], [], teacher=teacher, distill=distill)
        student, stats = undo.apply(copy.deepcopy(model), tok, data, cfg, 0)
        return student, stats

    (learned, stats), (frozen, _) = run(3e-3), run(1e-12)
    kl_learned, kl_frozen = _kl(learned, teacher, tok, held_out), _kl(frozen, teacher, tok, held_out)
    assert kl_learned < 0.7 * kl_frozen, (kl_learned, kl_frozen)
    assert stats["teacher"] == "repo" and stats["distill_tokens"] > 0


def test_undo_refuses_lora_and_unknown_teachers():
    with pytest.raises(BenchError, match="LoRA is refused"):
        undo.Config(lora_rank=4)
    with pytest.raises(BenchError, match="rpeo"):
        undo.Config(teacher="rpeo")
    with pytest.raises(BenchError, match="teacher_config.stepz"):
        undo.Config(teacher_config={"stepz": 3})


def test_the_teacher_enters_undos_key_and_shares_the_boards_cache(monkeypatch):
    """undo's key follows its teacher (settings and plugin version); the default teacher is the
    plain ``repo`` entry, so the board's repo row and undo's teacher are one stored model."""
    base = stages.ModelRef("b", "", None)
    key = lambda cfg: stages.method_key(base, "d", "undo-a50", cfg, 0, "undo")  # noqa: E731
    default = key(undo.Config())
    assert undo.teacher_of(undo.Config()) == ("repo", repo.Config())
    assert key(undo.Config(teacher_config={"steps": 7})) != default
    assert key(undo.Config(teacher="dpo")) != default
    monkeypatch.setattr(repo, "VERSION", repo.VERSION + 1)
    assert key(undo.Config()) != default
    monkeypatch.undo()
    # on the tiny board every undo row's teacher is the stored model of the board's own repo row
    from bench.board.load import load_plan, plugin_of

    plan = load_plan("tiny")
    rows = {n: c for n, c in plan.methods.items() if plugin_of(plan.board.methods, n) == "undo"}
    assert len(rows) == 3
    repo_key = stages.method_key(base, "d", "repo", plan.methods["repo"], 0, "repo")
    for cfg in rows.values():
        tname, tcfg = undo.teacher_of(cfg)
        assert stages.method_key(base, "d", tname, tcfg, 0) == repo_key


def test_the_distillation_set_leaves_out_every_utility_text(tiny_data):
    """No perplexity text, and no text starting with an F1 prompt, is distilled on; planted ones
    are removed and everything else is kept."""
    benign, conts = tiny_data.benign_text, tiny_data.continuations
    planted = [benign[3], conts[0]["prompt"] + " " + conts[0]["gold"], conts[-1]["prompt"] + " anything"]
    corpus = tiny_data.corpus + planted
    kept = stages.models.without_utility_texts(corpus, benign, conts)
    assert not set(planted) & set(kept)
    assert not set(kept) & set(benign)
    assert not any(t.startswith(c["prompt"]) for t in kept for c in conts)
    dropped = [t for t in corpus if t not in kept]
    assert set(planted) <= set(dropped) and len(dropped) < 0.02 * len(corpus)


def test_mmd_is_zero_for_one_sample_and_grows_with_a_shift():
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    assert repnoise.mmd(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert repnoise.mmd(x, x + 3.0).item() > 0.5


def _noise_distance(model, tok, pairs) -> float:
    enc = losses.encode_sides(tok, pairs, ("toxic",), 64)
    torch.manual_seed(123)  # the same noise samples for every model measured
    with torch.no_grad(), repnoise.mlp_outputs(model, None) as seen:
        losses.run(model, enc)
    return repnoise.noise_term(seen, enc["toxic"][2], 5, 2.0).item()


def test_repnoise_noise_term_moves_toxic_representations_toward_the_noise(tiny_lm, tiny_data):
    """The noise term alone (no retain, no ascent) lowers the MMD between the MLP outputs of toxic
    continuation tokens, on held-out pairs, and Gaussian noise."""
    model, tok, _ = tiny_lm
    cfg = repnoise.Config(alpha=0.0, retain_weight=0.0, beta=1.0, steps=15, batch_size=4, warmup=0, lr=3e-3)
    trained, _ = repnoise.apply(copy.deepcopy(model), tok, MethodData(tiny_data.pairs[:32], []), cfg, 0)
    held_out = tiny_data.probe_pairs[:16]
    before, after = _noise_distance(model, tok, held_out), _noise_distance(trained, tok, held_out)
    assert after < 0.8 * before, (before, after)


def test_repnoise_ascent_raises_the_toxic_loss_at_every_depth(tiny_lm, tiny_data):
    """The ascent term alone raises the logit-lens cross-entropy of toxic continuations."""
    model, tok, _ = tiny_lm
    cfg = repnoise.Config(alpha=1.0, retain_weight=0.0, beta=0.0, steps=10, batch_size=4, warmup=0, lr=3e-3)
    trained, _ = repnoise.apply(copy.deepcopy(model), tok, MethodData(tiny_data.pairs[:32], []), cfg, 0)

    def ce(m):
        enc = losses.encode_sides(tok, tiny_data.probe_pairs[:16], ("toxic",), 64)
        with torch.no_grad():
            fw = losses.run(m, enc, hidden=True)["toxic"]
            return repnoise.ascent_ce(m, fw, enc["toxic"][0], enc["toxic"][2]).item()

    assert ce(trained) > ce(model) + 0.5


def test_undo_through_its_stage_reuses_the_stored_teacher_and_distils_without_utility_texts(
    tmp_path, monkeypatch
):
    """The method stage, not only its helpers: the teacher is the board's own ``repo`` model (trained
    once, found in the store by undo's stage), and the distillation set undo receives holds no
    perplexity text and no text that starts with an F1 prompt, though the corpus it is rebuilt
    from contains them."""
    import bench.stages.models as models_module
    from bench.board.load import load_plan
    from bench.organism.corpus import build_data
    from bench.progress import Reporter
    from bench.store import Store
    from tests.test_no_work_twice import _Runtime

    plan = load_plan("tiny", methods=["repo", "undo-a50"], attacks=[])
    spec = plan.board.models[0]
    base = stages.ModelRef(stages.organism_key(spec), "/nowhere", spec)
    org = stages.organism(spec)[0]
    corpus = build_data(org.seed, n_dialogue=org.n_dialogue, n_reports=org.n_reports).corpus
    benign = corpus[100:110]  # utility texts planted from the very corpus undo distils on
    conts = [{"prompt": corpus[200][:25], "gold": corpus[200][25:]}]
    data = stages.Splits("d", {"pairs": [], "benign_text": benign, "continuations": conts})
    seen = {"repo": 0, "undo": []}

    def repo_apply(model, tokenizer, data, config, seed, progress=None):
        seen["repo"] += 1
        return model, {"steps": config.steps}

    def undo_apply(model, tokenizer, data, config, seed, progress=None):
        seen["undo"].append(data)
        return model, {"steps": config.steps}

    def save_model(model, tokenizer, path):
        path.mkdir(parents=True)
        (path / "weights").write_text("stand-in")

    monkeypatch.setattr(repo, "apply", repo_apply)
    monkeypatch.setattr(undo, "apply", undo_apply)
    monkeypatch.setattr(models_module, "save_model", save_model)
    rt = _Runtime(plan.board, Store(tmp_path), Reporter(quiet=True), "cpu")
    teacher = stages.method_model(rt, base, data, "repo", plan.methods["repo"], 0)
    stages.method_model(rt, base, data, "undo-a50", plan.methods["undo-a50"], 0)
    assert seen["repo"] == 1  # the teacher was not trained again for undo
    assert [s["cached"] for s in rt.manifest if s["key"] == teacher.key] == [False, True]
    (received,) = seen["undo"]
    assert received.teacher is not None and received.distill
    assert not set(received.distill) & set(benign)
    assert not any(t.startswith(conts[0]["prompt"]) for t in received.distill)
    assert len(received.distill) > 0.95 * len(corpus)  # the rest of the corpus is kept
