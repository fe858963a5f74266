"""GCG candidates: the tokens that may be proposed, sampling from the token gradient, and exact
token identity of the joined text.

A string is scored as ids; generation is given text (:func:`join`). A candidate is kept only if
the joined text re-tokenises to exactly the ids scored (:func:`joined_ok`), so the numbers the
search reports are the numbers generation sees. Shapes: ``n`` tokens in a string, ``B``
candidates, ``V`` the vocabulary.
"""

from __future__ import annotations

import torch


def disallowed_ids(tokenizer, allow_non_ascii: bool) -> torch.Tensor:
    """Ids never proposed: special tokens and (by default) tokens that are not printable ASCII.
    Returns the sorted ids, (k,)."""
    bad = set(tokenizer.all_special_ids)
    if not allow_non_ascii:
        for i in range(len(tokenizer)):
            s = tokenizer.decode([i])
            if not (s.isascii() and s.isprintable()) or not s:
                bad.add(i)
    return torch.tensor(sorted(bad), dtype=torch.long)


def sample_candidates(
    ids: torch.Tensor,
    grad: torch.Tensor,
    width: int,
    topk: int,
    n_replace: int,
    banned: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """Candidates from the token gradient: each replaces ``n_replace`` random positions with one of
    the ``topk`` tokens of most negative gradient there. ids (n,), grad (n, V), banned (k,) ->
    (width, n)."""
    grad = grad.clone()
    grad[:, banned.to(grad.device)] = float("inf")
    top = (-grad).topk(topk, dim=1).indices.cpu()  # (n, k)
    n = ids.shape[0]
    pos = torch.argsort(torch.rand(width, n, generator=gen), dim=1)[:, :n_replace]  # (width, r)
    choice = torch.randint(0, topk, (width, n_replace), generator=gen)  # (width, r)
    new_tok = torch.gather(top[pos], 2, choice.unsqueeze(-1)).squeeze(-1)  # (width, r)
    cands = ids.cpu().repeat(width, 1)
    cands.scatter_(1, pos, new_tok)
    return cands


def roundtrip_ok(tokenizer, cands: torch.Tensor) -> torch.Tensor:
    """Mask of candidates that survive decode -> encode unchanged. cands (B, n) -> (B,)."""
    texts = tokenizer.batch_decode(cands)
    keep = [tokenizer(t, add_special_tokens=False)["input_ids"] == c.tolist() for t, c in zip(texts, cands)]
    return torch.tensor(keep, dtype=torch.bool)


def separator(prompt: str, position: str) -> str:
    """Text between the string and the prompt: a prefix is followed by a space (unless the prompt
    starts with one); a suffix carries its own leading space (see :func:`init_text`)."""
    return " " if position == "prefix" and prompt and not prompt[0].isspace() else ""


def join(prompt: str, string: str, position: str) -> str:
    """The attacked prompt text: exactly what generation is given."""
    if position == "prefix":
        return string + separator(prompt, position) + prompt
    return prompt + string


def prompt_part(prompt: str, position: str) -> str:
    """The prompt's part of the joined text, whose tokens the objective uses."""
    return separator(prompt, position) + prompt if position == "prefix" else prompt


def init_text(optim_str_init: str, position: str) -> str:
    """The initial string's text: a suffix carries its own leading space (:func:`separator`)."""
    return optim_str_init if position == "prefix" else " " + optim_str_init


def joined_ok(tokenizer, cands: torch.Tensor, prompts: list[str], position: str) -> torch.Tensor:
    """Mask of candidates whose joined text re-tokenises to exactly the ids the objective scores
    (``string ids + prompt ids`` for a prefix, ``prompt ids + string ids`` for a suffix) for every
    prompt in ``prompts``. cands (B, n) -> (B,). This implies the string's own round trip."""
    texts = tokenizer.batch_decode(cands)
    keep = torch.ones(len(cands), dtype=torch.bool)
    for prompt in prompts:
        part = tokenizer(prompt_part(prompt, position), add_special_tokens=False)["input_ids"]
        got = tokenizer([join(prompt, t, position) for t in texts], add_special_tokens=False)["input_ids"]
        for b, (ids, c) in enumerate(zip(got, cands.tolist())):
            keep[b] &= ids == (c + part if position == "prefix" else part + c)
    return keep


def first_exact(
    tokenizer, cands: torch.Tensor, losses: torch.Tensor, prompts: list[str], position: str, chunk: int = 8
) -> int | None:
    """Index of the lowest-loss candidate that passes :func:`joined_ok` (None if none does),
    checking candidates in order of loss, ``chunk`` at a time. cands (B, n), losses (B,)."""
    order = sorted(range(len(cands)), key=lambda i: (float(losses[i]), i))
    for start in range(0, len(order), chunk):
        idx = order[start : start + chunk]
        ok = joined_ok(tokenizer, cands[idx], prompts, position)
        for i, good in zip(idx, ok.tolist()):
            if good:
                return i
    return None


def exact(tokenizer, string_ids: torch.Tensor, prompt: str, position: str) -> bool:
    """Whether generation's ids for the joined text are the optimised ids (BOS aside).
    string_ids (n,)."""
    return bool(joined_ok(tokenizer, string_ids.unsqueeze(0), [prompt], position)[0])
