"""Forward-only work in two single-threaded lanes inside one process (two Python threads, torch at
1 thread each) against one batch at 2 threads, on an organism-shaped GPT-2 (random weights).

    python docs/runs/inprocess-lanes/workload.py     # what it printed: results.txt

Forward passes give the same bits at 1 and 2 threads (perf/check_threads.py), so such lanes would
keep every number; this measures whether they would be faster.
"""

import threading
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(vocab_size=4096, n_layer=4, n_embd=128, n_head=4, n_positions=128)).eval()


def candidates(ids: torch.Tensor) -> torch.Tensor:
    """GCG-shaped: one forward of candidate sequences, logits at the last 10 positions only."""
    with torch.no_grad():
        hidden = model.transformer(input_ids=ids).last_hidden_state[:, -10:]
        return model.lm_head(hidden).logsumexp(-1)


def decode(ids: torch.Tensor) -> torch.Tensor:
    """Generation-shaped: 20 greedy tokens with the KV cache."""
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
        toks = [out.logits[:, -1].argmax(-1, keepdim=True)]
        for _ in range(19):
            out = model(input_ids=toks[-1], past_key_values=out.past_key_values, use_cache=True)
            toks.append(out.logits[:, -1].argmax(-1, keepdim=True))
        return torch.cat(toks, 1)


def best_of_three(f):
    f()  # warm-up
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
    return min(times), result


def two_lanes(f, x: torch.Tensor) -> torch.Tensor:
    half, out = len(x) // 2, [None, None]

    def lane(i: int) -> None:
        out[i] = f(x[i * half : (i + 1) * half])

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return torch.cat(out)


def measure(name: str, f, x: torch.Tensor) -> None:
    torch.set_num_threads(2)
    t2, r2 = best_of_three(lambda: f(x))
    torch.set_num_threads(1)
    t1, r1 = best_of_three(lambda: f(x))
    tl, rl = best_of_three(lambda: two_lanes(f, x))
    print(
        f"{name}: 2 threads {t2:.3f} s; 1 thread {t1:.3f} s; 1 thread x 2 lanes {tl:.3f} s; "
        f"lanes {t2 / tl:.2f}x the 2-thread speed; identical: {torch.equal(r2, rl) and torch.equal(r2, r1)}"
    )


measure("candidates 768 x 43", candidates, torch.randint(0, 4096, (768, 43)))
measure("decode 320 x 12 + 20", decode, torch.randint(0, 4096, (320, 12)))
