"""Every registered method through one parametrised suite, and loss terms by hand."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from bench.methods import MethodData

from bench import losses, registry

FEW = {"steps": 6, "batch_size": 4, "warmup": 0}


def _config(name):
    plugin = registry.load("methods", name)
    fields = {f.name for f in dataclasses.fields(plugin.Config)}
    kw = {k: v for k, v in FEW.items() if k in fields}
    if "lr" in fields:
        kw["lr"] = 1e-3
    return plugin, plugin.Config(**kw)


@pytest.mark.parametrize("name", sorted(set(registry.METHODS) - {"oracle"}))
def test_method_properties(name, tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    plugin, cfg = _config(name)
    trains = "steps" in {f.name for f in dataclasses.fields(plugin.Config)}
    if name == "logit_filter":  # an untrained LayerNorm has a zero bias: nothing to shift logits with
        model = copy.deepcopy(model)
        with torch.no_grad():
            model.transformer.ln_f.bias.normal_(generator=torch.Generator().manual_seed(0))
    base = copy.deepcopy(model)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    seen_losses = []
    trained, stats = plugin.apply(
        base,
        tok,
        MethodData(tiny_data.pairs[:16], tiny_data.benign_text[:8]),
        cfg,
        0,
        progress=lambda s, n, logs: seen_losses.append(logs.get("loss")),
    )
    after = trained.state_dict()
    changed = any(not torch.equal(before[k], after[k]) for k in before)
    assert changed == (name != "none")
    # the caller's reference weights never change (the method trained on its own copy)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    if trains:
        assert all(torch.isfinite(torch.tensor(seen_losses)))
        assert len(seen_losses) == cfg.steps


def test_the_oracle_is_built_by_the_pipeline_not_trained(tiny_lm, tiny_data):
    from bench.errors import BenchError

    model, tok, _ = tiny_lm
    with pytest.raises(BenchError, match="built by the pipeline"):
        registry.load("methods", "oracle").apply(model, tok, MethodData([], []), None, 0)


@pytest.mark.parametrize("name", ["sft", "dpo", "npo", "rmu", "cb", "repo"])
def test_loss_decreases_on_fixed_data(name, tiny_lm, tiny_data):
    """Training the same 4 examples over and over lowers the method's own objective below the
    same run with a learning rate of ~0: same batches, same schedule, but no learning. A falling
    loss alone is not evidence: cb's coefficients move from rerouting to retaining, so its loss
    falls with a frozen model too."""
    model, tok, _ = tiny_lm
    plugin = registry.load("methods", name)

    def run(lr):
        seen = []
        plugin.apply(
            copy.deepcopy(model),
            tok,
            MethodData(tiny_data.pairs[:4], tiny_data.benign_text[:4]),
            plugin.Config(steps=30, batch_size=4, warmup=0, lr=lr),
            0,
            progress=lambda s, n, logs: seen.append(logs),
        )
        return seen

    trained, frozen = run(3e-3), run(1e-12)
    mean = lambda logs: sum(x["loss"] for x in logs) / len(logs)  # noqa: E731
    assert mean(trained[-5:]) < mean(trained[:5]), [x["loss"] for x in trained]
    # learning, not the schedule: the last steps end well below the frozen run's last steps
    assert mean(trained[-5:]) < mean(frozen[-5:]) - 0.1 * abs(mean(frozen[-5:])), (trained[-5:], frozen[-5:])
    if name == "cb":  # both terms at one fixed point of the schedule (t = T, equal weights)
        fixed = lambda x: x["rr"] + x["retain"]  # noqa: E731
        assert fixed(frozen[0]) == pytest.approx(fixed(frozen[-1]), abs=1e-4)  # no learning: flat
        assert fixed(trained[-1]) < 0.5 * fixed(trained[0]), (trained[0], trained[-1])


def test_trainer_never_changes_the_reference(tiny_lm, tiny_data):
    from bench.trainer import TrainConfig, train

    model, tok, _ = tiny_lm
    refs = []

    def loss_fn(m, ref, batch, ctx):
        refs.append(ref)
        enc = losses.encode_sides(tok, batch, ("toxic",), 64)
        return -losses.nll(losses.run(m, enc)["toxic"]), {}

    snapshot = None
    trained, _ = train(
        copy.deepcopy(model),
        tok,
        tiny_data.pairs[:8],
        TrainConfig(steps=3, batch_size=4, lr=1e-2),
        loss_fn,
        0,
        "t",
    )
    snapshot = {k: v.clone() for k, v in refs[0].state_dict().items()}
    assert all(torch.equal(snapshot[k], v) for k, v in model.state_dict().items())


def test_nan_loss_stops_with_the_method_and_step(tiny_lm, tiny_data):
    from bench.errors import BenchError
    from bench.trainer import TrainConfig, train

    model, tok, _ = tiny_lm

    def loss_fn(m, ref, batch, ctx):
        p = next(m.parameters())
        return p.sum() * (float("nan") if ctx.step == 2 else 1.0), {}

    with pytest.raises(BenchError, match=r"mymethod: loss became nan at step 2"):
        train(
            copy.deepcopy(model),
            tok,
            tiny_data.pairs[:8],
            TrainConfig(steps=5, batch_size=2),
            loss_fn,
            0,
            "mymethod",
        )


def test_lora_trains_adapters_and_merges(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    plugin = registry.load("methods", "dpo")
    cfg = plugin.Config(steps=4, batch_size=4, lr=1e-2, lora_rank=4, warmup=0)
    trained, _ = plugin.apply(copy.deepcopy(model), tok, MethodData(tiny_data.pairs[:8], []), cfg, 0)
    assert type(trained).__name__ == "GPT2LMHeadModel"  # merged back into a plain model
    assert not torch.equal(
        trained.transformer.h[0].attn.c_attn.weight, model.transformer.h[0].attn.c_attn.weight
    )


def test_dpo_and_npo_by_hand():
    pp, pn, rp, rn = torch.tensor([-3.0]), torch.tensor([-5.0]), torch.tensor([-4.0]), torch.tensor([-4.0])
    # margin = (−3+4) − (−5+4) = 2; β=0.1 -> −log σ(0.2)
    assert losses.dpo(pp, pn, rp, rn, 0.1).item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.2))))
    # NPO: −(2/β) log σ(−β(−5+4)) = −20 log σ(0.1)
    assert losses.npo(pn, rn, 0.1).item() == pytest.approx(-20 * math.log(1 / (1 + math.exp(-0.1))))
    assert losses.dpo(pp, pp, pp, pp, 0.1).item() == pytest.approx(math.log(2))


def test_repo_erasure_is_zero_when_toxic_equals_benign():
    from bench.methods.repo import match_term

    h = torch.randn(7, 16)
    assert match_term(h, h).item() == 0.0
    assert match_term(h + 1.0, h).item() > 0


def test_repo_confusion_term_is_minimal_when_the_adversary_is_undecided():
    from bench.methods.repo import adversarial_terms

    D = torch.nn.Linear(8, 1)
    torch.nn.init.zeros_(D.weight)
    torch.nn.init.zeros_(D.bias)
    h = torch.randn(5, 8)
    term, d_loss = adversarial_terms(D, h, h, "confuse")
    assert term.item() == pytest.approx(math.log(2))
    assert d_loss.item() == pytest.approx(2 * math.log(2))


def test_repo_gradient_reversal_ascends_the_discriminators_loss_on_both_sides():
    """``grl``: the model's term is minus the discriminator's loss, and moves benign states too
    (``reverse`` moves only the toxic side); the discriminator itself is left to its own loss."""
    from bench.methods.repo import adversarial_terms

    torch.manual_seed(0)
    D = torch.nn.Linear(8, 1)
    tox, ben = torch.randn(5, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    term, d_loss = adversarial_terms(D, tox, ben, "grl")
    assert term.item() == pytest.approx(-d_loss.item())
    g_tox, g_ben = torch.autograd.grad(term, (tox, ben), retain_graph=True)
    assert g_tox.abs().sum() > 0 and g_ben.abs().sum() > 0
    assert all(g is None for g in torch.autograd.grad(term, list(D.parameters()), allow_unused=True))
    rev, _ = adversarial_terms(D, tox, ben, "reverse")
    assert torch.autograd.grad(rev, (tox, ben), allow_unused=True)[1] is None


def test_rmu_forget_term_is_zero_at_the_target():
    from bench.methods.rmu import rmu_terms

    target = torch.randn(16)
    h = target.expand(5, 16)
    forget, retain = rmu_terms(h, h, h, target)
    assert forget.item() == 0.0 and retain.item() == 0.0


def test_rmu_trains_only_chosen_mlp_projections():
    from bench.methods.rmu import mlp_out_trainable

    ok = mlp_out_trainable([2])
    assert ok("transformer.h.1.mlp.c_proj.weight") and not ok("transformer.h.0.mlp.c_proj.weight")
    assert not ok("transformer.h.1.attn.c_proj.weight") and ok("model.layers.1.mlp.down_proj.weight")


def test_relearn_full_and_lora_hand_checkpoints_at_curve_steps(tiny_lm, tiny_data):
    from bench.attacks import WeightJob, relearn

    model, tok, _ = tiny_lm
    for rank in (0, 4):
        seen = {}
        cfg = relearn.Config(
            steps=5, lr=1e-2, batch_size=4, n_examples=8, curve_steps=[0, 2, 5], lora_rank=rank
        )
        job = WeightJob(
            texts=tiny_data.relearn_far,
            checkpoint=lambda s, m, state=None, seen=seen: seen.__setitem__(s, copy.deepcopy(m)),
        )
        out, stats = relearn.apply(copy.deepcopy(model), tok, job, cfg, 0)
        assert sorted(seen) == [2, 5] and stats["steps"] == 5
        assert type(out).__name__ == "GPT2LMHeadModel"
        assert not torch.equal(
            out.lm_head.weight if rank == 0 else out.transformer.h[0].attn.c_attn.weight,
            model.lm_head.weight if rank == 0 else model.transformer.h[0].attn.c_attn.weight,
        )


def _train_and_resume(model, tok, examples, cfg, save_at: int, folder):
    """An uninterrupted run that saves its state at ``save_at``, and a run resumed from it."""
    from bench.trainer import load_state, save_state, train

    def loss_fn(m, ref, batch, ctx):
        return losses.nll(losses.run(m, losses.encode_sides(tok, batch, ("text",), 64))["text"]), {}

    def hook(step, state):
        if step == save_at:
            save_state(state(), folder)

    run = dict(
        tokenizer=tok, examples=examples, cfg=cfg, loss_fn=loss_fn, seed=0, name="relearn", use_ref=False
    )
    full, stats = train(copy.deepcopy(model), state_hook=hook, **run)
    resumed, rstats = train(copy.deepcopy(model), resume=load_state(folder), **run)
    same = all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))
    return stats, rstats, same


@pytest.mark.parametrize("lora", [0, 4])
def test_training_resumed_from_a_saved_state_ends_exactly_like_an_uninterrupted_run(
    lora, tiny_lm, tiny_data, tmp_path
):
    """What a killed relearning attack relies on: the state saved at step 2 (safetensors + JSON)
    and the *untrained* model give, after steps 3-8, the uninterrupted run's weights and losses.
    A resume that restarted the data order, the optimiser moments or the weights fails here."""
    from bench.trainer import TrainConfig

    model, tok, _ = tiny_lm
    cfg = TrainConfig(steps=8, lr=1e-3, batch_size=4, warmup=2, lora_rank=lora)  # reshuffles at 7
    examples = [{"prompt": "", "text": p["prompt"] + p["toxic"]} for p in tiny_data.pairs[:24]]
    stats, rstats, same = _train_and_resume(model, tok, examples, cfg, 2, tmp_path / "state-2")
    assert rstats["resumed_from"] == 2 and rstats["losses"] == stats["losses"] and same


def test_resuming_at_the_last_step_trains_nothing_and_reports_every_step(tiny_lm, tiny_data, tmp_path):
    """A run killed after its final checkpoint but before publishing resumes with no step left."""
    from bench.trainer import TrainConfig

    model, tok, _ = tiny_lm
    cfg = TrainConfig(steps=3, lr=1e-3, batch_size=4, warmup=0)
    examples = [{"prompt": "", "text": p["prompt"] + p["toxic"]} for p in tiny_data.pairs[:12]]
    stats, rstats, same = _train_and_resume(model, tok, examples, cfg, 3, tmp_path / "state-3")
    assert rstats["steps"] == 3 and rstats["losses"] == stats["losses"] and same
