"""Which computations give the same bits at 1 and at 2 torch threads, op by op and stage by stage
on the organism's shapes: why concurrent runs share cores by taking turns (``bench/cores.py``)
instead of each running on fewer threads.

    python perf/check_threads.py [--threads 2]

For each case it runs the same computation at 1 thread and at ``--threads``, on the same inputs,
and prints whether every output is bit-identical and, if not, the largest difference.
"""

from __future__ import annotations

import argparse

import torch
from common import machine, organism


def compare(name: str, outputs: list[str], fn, threads: int) -> None:
    """Print which of ``fn``'s outputs (named ``outputs``) differ between 1 and ``threads`` threads."""
    runs = []
    for t in (1, threads):
        torch.set_num_threads(t)
        runs.append([x.detach().clone() for x in fn()])
    torch.set_num_threads(threads)
    differ = [
        f"{o} (max {float((a - b).abs().max()):.1e})"
        for o, a, b in zip(outputs, *runs)
        if not torch.equal(a, b)
    ]
    if len(differ) > 4:
        worst = max(float((a - b).abs().max()) for a, b in zip(*runs))
        differ = [f"{len(differ)} of {len(outputs)} (max {worst:.1e})"]
    print(f"{name:44s} {'identical' if not differ else 'differ: ' + ', '.join(differ)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="thread count compared with 1 (default 2)")
    args = ap.parse_args()
    print(f"machine: {machine()}; 1 thread against {args.threads}")
    g = torch.Generator().manual_seed(0)
    rows, width, hidden, vocab = 2048, 128, 512, 4096  # a training batch of 16 x 128 tokens
    x = torch.randn(rows, hidden, generator=g, requires_grad=True)
    w = torch.randn(hidden, width, generator=g, requires_grad=True)
    dy = torch.randn(rows, width, generator=g)

    def linear():
        x.grad = w.grad = None
        y = x @ w
        y.backward(dy)
        return [y, x.grad, w.grad]

    ln = torch.nn.LayerNorm(width)
    h = torch.randn(rows, width, generator=g, requires_grad=True)

    def layer_norm():
        ln.zero_grad()
        h.grad = None
        y = ln(h)
        y.backward(dy)
        return [y, h.grad, ln.weight.grad, ln.bias.grad]

    q, k, v = (torch.randn(16, 4, 128, 32, generator=g, requires_grad=True) for _ in range(3))
    do = torch.randn(16, 4, 128, 32, generator=g)

    def attention():
        for t in (q, k, v):
            t.grad = None
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        y.backward(do)
        return [y, q.grad, k.grad, v.grad]

    logits = torch.randn(rows, vocab, generator=g, requires_grad=True)
    labels = torch.randint(0, vocab, (rows,), generator=g)

    def cross_entropy():
        logits.grad = None
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        return [loss, logits.grad]

    head = torch.randn(vocab, width, generator=g)
    dlogits = torch.randn(rows, vocab, generator=g)
    hh = torch.randn(rows, width, generator=g, requires_grad=True)

    def lm_head():
        hh.grad = None
        y = hh @ head.T
        y.backward(dlogits)
        return [y, hh.grad]

    for name, outputs, fn in (
        ("linear 2048x512 @ 512x128", ["y", "dx", "dw"], linear),
        ("layer norm over 128", ["y", "dx", "dgamma", "dbeta"], layer_norm),
        ("causal attention 16x4x128x32", ["y", "dq", "dk", "dv"], attention),
        ("cross-entropy over 4096 tokens", ["loss", "dlogits"], cross_entropy),
        ("LM head 2048x128 @ 128x4096", ["logits", "dh"], lm_head),
    ):
        compare(name, outputs, fn, args.threads)

    from bench.attacks import gcg

    model, tok, data, _ = organism()
    model.requires_grad_(False)
    items = data["eval_prompts"][:6]
    objs = [
        gcg.Objective(model, tok, it["prompt"], " shut up, you idiot.", position="prefix") for it in items
    ]
    ids = torch.tensor(
        tok("x x x x x x x x x x x x x x x x x x x x .", add_special_tokens=False)["input_ids"]
    )
    cands = torch.randint(100, len(tok), (128, len(ids)), generator=g)
    enc = tok([it["prompt"] for it in items], return_tensors="pt", padding=True)
    with torch.no_grad():
        compare("organism forward, 6 eval prompts", ["logits"], lambda: [model(**enc).logits], args.threads)
        losses = lambda: [gcg.batched_losses(objs, cands, 0)]  # noqa: E731
        compare("GCG candidates, 128 x 6 prompts", ["losses"], losses, args.threads)
    compare(
        "GCG token gradient, 6 prompts", ["gradient"], lambda: [gcg.token_gradient(objs, ids)], args.threads
    )
    model.requires_grad_(True)
    batch = tok([it["prompt"] for it in items], return_tensors="pt", padding=True)["input_ids"]

    def train_grads():
        model.zero_grad(set_to_none=True)
        model(input_ids=batch, labels=batch).loss.backward()
        return [p.grad for p in model.parameters()]

    names = [n for n, _ in model.named_parameters()]
    compare("organism training step, 6 prompts: gradients", names, train_grads, args.threads)


if __name__ == "__main__":
    main()
