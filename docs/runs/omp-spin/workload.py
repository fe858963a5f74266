"""The workload behind the README's history row on OpenMP's wait policy (2026-11-29): a 4-layer,
width-128 GPT-2 of the organism's shape, N training steps (batch 32 x 128 tokens) then M forwards of
768 x 22 tokens; prints the times and a hash of the weights (the same hash means the same numbers).

    python workload.py 10 10                     # alone
    python workload.py 10 10 & python workload.py 10 10; wait   # two side by side
    GOMP_SPINCOUNT=1000 python workload.py 10 10 & ...          # with a short spin-wait

results.txt holds what it printed on this project's CI machine kind (2 cores, torch 2.13.0+cpu).
"""

import hashlib
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
cfg = GPT2Config(
    n_embd=128, n_head=4, n_layer=4, n_positions=128, vocab_size=4096, activation_function="gelu"
)
m = GPT2LMHeadModel(cfg)
opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
g = torch.Generator().manual_seed(1)
t0 = time.time()
for _ in range(int(sys.argv[1])):
    x = torch.randint(0, 4096, (32, 128), generator=g)
    loss = m(x, labels=x).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
t1 = time.time()
with torch.no_grad():
    for _ in range(int(sys.argv[2])):
        x = torch.randint(0, 4096, (768, 22), generator=g)
        out = m(x).logits[:, -5:].sum()
t2 = time.time()
h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in m.parameters())).hexdigest()[:12]
times = f"train {t1 - t0:.2f}s fwd {t2 - t1:.2f}s total {t2 - t0:.2f}s"
print(f"threads={torch.get_num_threads()} {times} hash {h} out {out.item():.6f}", flush=True)
