"""Mixed precision: a bf16 board trains on fp32 master weights and stores bf16.

The bug this guards (issue 12): AdamW updating bf16 weights directly. At lr 1e-5 an update is
below half of bf16's spacing near |w| = 0.03, so most steps round to nothing: on a tiny GPT-2,
5 DPO steps moved 16.5% of the matrix weights in bf16 against 99% in fp32.
"""

from __future__ import annotations

import copy

import torch

from bench import losses
from bench.trainer import TrainConfig, train

CFG = TrainConfig(steps=5, lr=1e-5, batch_size=4, warmup=0)


def _dpo_loss(tok):
    def loss_fn(model, ref, batch, ctx):
        enc = losses.encode_sides(tok, batch, ("benign", "toxic"), 64)
        return losses.pair_dpo(losses.run(model, enc), losses.run(ref, enc, no_grad=True), 0.1), {}

    return loss_fn


def _train_and_capture(model, tok, pairs, cfg=CFG):
    """Train DPO; return (the master weights after the last step, the returned model, stats)."""
    live, master = [model], {}

    def on_step(step, total, logs):
        if step == total:
            master.update({k: v.detach().float().clone() for k, v in live[0].named_parameters()})

    out, stats = train(
        model,
        tok,
        pairs,
        cfg,
        _dpo_loss(tok),
        seed=0,
        name="dpo",
        progress=on_step,
        on_model=lambda m: live.__setitem__(0, m),
    )
    return master, out, stats


def test_bf16_board_updates_like_fp32_and_is_stored_in_bf16(tiny_lm, tiny_data):
    model, tok, _ = tiny_lm
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    start = {k: v.detach().float().clone() for k, v in bf16.named_parameters()}
    fp32 = copy.deepcopy(bf16).float()  # the same starting point, an fp32 board
    pairs = tiny_data.pairs[:32]
    m_bf, out_bf, stats = _train_and_capture(bf16, tok, pairs)
    m_fp, out_fp, _ = _train_and_capture(fp32, tok, pairs)

    mats = [k for k, v in start.items() if v.dim() == 2]
    d_bf = torch.cat([(m_bf[k] - start[k]).flatten() for k in mats])
    d_fp = torch.cat([(m_fp[k] - start[k]).flatten() for k in mats])
    # the fp32 run moves (almost) every matrix weight; the bf16 board's master must too
    assert (d_fp != 0).float().mean() > 0.9
    assert (d_bf != 0).float().mean() > 0.9
    cos = torch.nn.functional.cosine_similarity(d_bf, d_fp, dim=0)
    assert cos > 0.999, f"bf16 board's update points elsewhere (cosine {cos:.3f})"
    assert abs(d_bf.norm() / d_fp.norm() - 1) < 0.01  # tolerance: 1% of the update's size
    # stored as the board says, and the record says how it was trained
    assert next(out_bf.parameters()).dtype == torch.bfloat16
    assert next(out_fp.parameters()).dtype == torch.float32
    assert stats["precision"] == "fp32 master weights, stored as bfloat16"


def test_updates_that_survive_bf16_storage_are_kept(tiny_lm, tiny_data):
    """A larger learning rate whose updates exceed bf16's spacing: the stored bf16 model differs
    from its start, and equals the fp32 master rounded once (not a sum of rounded steps)."""
    model, tok, _ = tiny_lm
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    start = {k: v.detach().clone() for k, v in bf16.named_parameters()}
    cfg = TrainConfig(steps=5, lr=1e-3, batch_size=4, warmup=0)
    master, out, _ = _train_and_capture(bf16, tok, tiny_data.pairs[:32], cfg)
    stored = dict(out.named_parameters())
    moved = sum(int((stored[k] != start[k]).sum()) for k in start)
    assert moved > 0.5 * sum(v.numel() for v in start.values())
    for k, v in master.items():
        assert torch.equal(stored[k], v.to(torch.bfloat16))
