"""The GCG search (Zou et al. 2023, arXiv 2307.15043), in the shape of nanoGCG 0.3.0's loop:
config in, result out.

Each step: the gradient of the target loss w.r.t. the one-hot string gives the top-k replacement
tokens per position; ``search_width`` candidates each replace ``n_replace`` random positions;
all candidates' exact losses are computed in batches; the best one whose joined text re-tokenises
to the ids scored is kept.
"""

from __future__ import annotations

import torch

from bench.prompt_search.candidates import first_exact, sample_candidates
from bench.prompt_search.objective import Objective, batched_losses, token_gradient


def optimise(
    model,
    tokenizer,
    objectives: list[Objective],
    cfg,
    seed: int,
    init_ids: torch.Tensor,
    banned: torch.Tensor,
    success=None,
    progress=None,
    probes: list[str] | None = None,
) -> dict:
    """Run GCG on ``objectives``; returns the best string, its loss and its cost. Candidates are
    kept only if their joined text re-tokenises exactly (:func:`bench.prompt_search.candidates.joined_ok`)
    with every objective's prompt and every prompt in ``probes``.

    ``cfg`` gives ``num_steps``, ``search_width``, ``topk``, ``n_replace``, ``batch_size``,
    ``buffer_size``, ``filter_ids`` and ``early_stop_every`` (an attack's ``Config``). init_ids
    (n,): the initial string; banned (k,): ids never proposed. ``success(ids)``, checked every
    ``early_stop_every`` steps on the best string, stops the search when true; ``progress(loss=)``
    is called after each step that picks a candidate. ``model`` is the objectives' own (unused
    here; kept for the callers). The result: ``ids`` (n,), ``string``, ``init_loss``, ``loss``,
    ``steps``, ``forward_passes``, ``tokens``, ``empty_steps``."""
    # the prompts every kept candidate must join exactly: the objectives' own, then the probes
    position = objectives[0].position
    probes = [o.prompt for o in objectives] + [
        p for p in probes or [] if p not in {o.prompt for o in objectives}
    ]
    # the initial string is the first best; a generator seeded for this search draws candidates
    gen = torch.Generator().manual_seed(seed)
    init_loss = float(batched_losses(objectives, init_ids.unsqueeze(0), 1)[0])
    buffer = [(init_loss, init_ids.clone())]  # best first; greedy GCG keeps one entry
    best_loss, best_ids = init_loss, init_ids.clone()
    passes, tokens, steps, empty = 0, 0, 0, 0
    for step in range(cfg.num_steps):
        steps = step + 1
        current = buffer[0][1]
        # compute the token gradient of the current string
        grad = token_gradient(objectives, current)
        # sample candidates from the gradient's top-k tokens per position
        cands = sample_candidates(current, grad, cfg.search_width, cfg.topk, cfg.n_replace, banned, gen)
        # exact losses of all candidates, in batches; count what they cost
        losses = batched_losses(objectives, cands, cfg.batch_size).cpu()
        passes += len(cands) * len(objectives)
        tokens += len(cands) * sum(o.n_tokens(len(current)) for o in objectives)
        # the best candidate whose joined text re-tokenises to the scored ids: the filter runs
        # lazily, best loss first, so a step tokenises a few candidates instead of all of them
        # (the same pick as filtering first; ties keep the lower index, as argmin does)
        j = (
            first_exact(tokenizer, cands, losses, probes, position)
            if cfg.filter_ids
            else int(losses.argmin())
        )
        if j is None:
            empty += 1  # no candidate joins exactly: the step changes nothing (reported)
            continue
        # keep it: the next step mutates the buffer's best; the search returns the best ever seen
        step_best = (float(losses[j]), cands[j].clone())
        if cfg.buffer_size:
            buffer = sorted(buffer + [step_best], key=lambda t: t[0])[: cfg.buffer_size]
        else:
            buffer = [step_best]
        if step_best[0] < best_loss:
            best_loss, best_ids = step_best
        # report, and stop early once the scorer judges the best string a success
        if progress:
            progress(loss=best_loss)
        if success is not None and steps % cfg.early_stop_every == 0 and success(best_ids):
            break
    return {
        "ids": best_ids,
        "string": tokenizer.decode(best_ids),
        "init_loss": init_loss,
        "loss": best_loss,
        "steps": steps,
        "forward_passes": passes,
        "tokens": tokens,
        "empty_steps": empty,
    }
