"""Residual-stream directions and the weights that read and write them.

Shared by the known-answer models (``filter``, ``subtract``), the representation attacks
(``steer``, ``ablate``, ``unalign``) and the erasure metrics, so all of them mean the same thing
by "the toxic direction": the difference of the mean toxic and mean benign continuation-token
states of a model at a layer (Arditi et al. 2024, arXiv 2406.11717). Layer ``l`` is the residual
stream after ``l`` blocks (0 = embeddings); the last layer is read *before* the final norm, so
a bias folded into the last block moves it exactly.

Weight access covers the GPT-2 family (``Conv1D`` stores ``(in, out)``) and ``nn.Linear``
families (Llama, Gemma: ``(out, in)``).
"""

from __future__ import annotations

import torch

from bench.errors import BenchError
from bench.trainer import collate, encode_example


def _find(model, paths: tuple[str, ...], what: str):
    for path in paths:
        node = model
        try:
            for part in path.split("."):
                node = getattr(node, part)
        except AttributeError:
            continue
        return node
    raise BenchError(f"cannot find the {what} of {type(model).__name__}")


def blocks(model) -> list:
    """The transformer blocks, in order."""
    paths = ("transformer.h", "model.layers", "gpt_neox.layers", "model.decoder.layers")
    return list(_find(model, paths, "transformer blocks"))


def final_norm(model):
    paths = ("transformer.ln_f", "model.norm", "gpt_neox.final_layer_norm", "model.decoder.final_layer_norm")
    return _find(model, paths, "final norm")


def mlp_out(block):
    """The block's MLP output projection (writes the MLP's result into the residual stream)."""
    names = ("mlp.c_proj", "mlp.down_proj", "mlp.fc2", "mlp.dense_4h_to_h")
    return _find(block, names, "MLP output projection")


def mlp_in(block):
    """The MLP input projection whose columns (per neuron) are Lee et al.'s key vectors."""
    return _find(block, ("mlp.c_fc", "mlp.up_proj", "mlp.fc1", "mlp.dense_h_to_4h"), "MLP input projection")


def is_conv1d(module) -> bool:
    return type(module).__name__ == "Conv1D"


def out_bias(block) -> torch.nn.Parameter:
    """The bias of the block's MLP output projection: a constant added to the residual stream."""
    proj = mlp_out(block)
    if getattr(proj, "bias", None) is None:
        raise BenchError(
            f"{type(block).__name__}'s MLP output projection has no bias to fold a direction into"
        )
    return proj.bias


@torch.inference_mode()
def layer_states(model, tokenizer, texts: list[tuple[str, str]], batch_size: int = 32, max_length: int = 128):
    """Per batch of (prompt, continuation) pairs: ``attn`` and ``cont`` masks (B, T) and the
    residual states of every layer, a list of L+1 tensors (B, T, D): index 0 the embeddings,
    index L the last block's output *before* the final norm (captured by a hook, since
    ``hidden_states[-1]`` comes after it)."""
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []
    hook = final_norm(model).register_forward_pre_hook(lambda mod, args: captured.append(args[0]))
    try:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            ids, attn, cont = collate(
                tokenizer, [encode_example(tokenizer, p, c, max_length) for p, c in chunk]
            )
            captured.clear()
            out = model(input_ids=ids.to(device), attention_mask=attn.to(device), output_hidden_states=True)
            yield attn.to(device), cont.to(device), list(out.hidden_states[:-1]) + [captured[-1]]
    finally:
        hook.remove()


def residual_states(
    model, tokenizer, texts: list[tuple[str, str]], batch_size: int = 32, max_length: int = 128
):
    """Mean continuation-token residual state per example and layer: (L+1, N, D)."""
    feats = []
    for _, cont, states in layer_states(model, tokenizer, texts, batch_size, max_length):
        m = cont.unsqueeze(-1).float()  # (B, T, 1)
        feats.append(torch.stack([(h.float() * m).sum(1) / m.sum(1).clamp(min=1) for h in states]).cpu())
    return torch.cat(feats, 1)


def toxic_direction(model, tokenizer, pairs: list[dict]) -> torch.Tensor:
    """Per layer, mean toxic minus mean benign continuation state: (L+1, D), not normalised."""
    tox = residual_states(model, tokenizer, [(p["prompt"], p["toxic"]) for p in pairs])
    ben = residual_states(model, tokenizer, [(p["prompt"], p["benign"]) for p in pairs])
    return tox.mean(1) - ben.mean(1)


def toxic_vocab(tokenizer, pairs: list[dict], min_count: int = 2) -> list[int]:
    """Token ids that occur at least ``min_count`` times in toxic continuations and never in
    benign ones: the toxic vocabulary of the pairs."""
    from collections import Counter

    tox, ben = Counter(), Counter()
    for p in pairs:
        tox.update(tokenizer(p["toxic"], add_special_tokens=False)["input_ids"])
        ben.update(tokenizer(p["benign"], add_special_tokens=False)["input_ids"])
    return sorted(t for t, n in tox.items() if n >= min_count and t not in ben)


def toxic_only_vocab(tokenizer, pairs: list[dict], retain: list[str], min_count: int = 2) -> list[int]:
    """:func:`toxic_vocab` less every token of the retain (benign) text: words only toxic text uses."""
    seen = set()
    for text in retain:
        seen.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    return [t for t in toxic_vocab(tokenizer, pairs, min_count) if t not in seen]


def random_like(direction: torch.Tensor, seed: int) -> torch.Tensor:
    """A random direction with the same norm (the control of every representation attack)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(direction.shape, generator=g, dtype=torch.float32)
    return (r / r.norm() * direction.float().norm()).to(direction.dtype)


@torch.no_grad()
def project_out(model, direction: torch.Tensor) -> None:
    """Orthogonalise every weight that writes to the residual stream against ``direction``
    (token and position embeddings, attention and MLP output projections, their biases), in
    place: Arditi et al.'s weight-folded directional ablation."""
    d = direction.float() / direction.float().norm()

    def rows(w: torch.Tensor) -> None:  # w (N, D): remove d from each row
        dd = d.to(w.device, w.dtype)
        w -= torch.outer(w @ dd, dd)

    def cols(w: torch.Tensor) -> None:  # w (D, N): remove d from each column
        dd = d.to(w.device, w.dtype)
        w -= torch.outer(dd, dd @ w)

    for block in blocks(model):
        if hasattr(block, "post_feedforward_layernorm"):
            # Gemma-2/3 normalise each sublayer's output before adding it to the residual stream,
            # so orthogonalising the output projections would not remove the direction
            raise BenchError(
                f"{type(block).__name__} normalises sublayer outputs: weight-folded ablation does not apply"
            )
    rows(model.get_input_embeddings().weight)
    wpe = getattr(getattr(model, "transformer", None), "wpe", None)
    if wpe is not None:
        rows(wpe.weight)
    for block in blocks(model):
        attn = getattr(block, "attn", None) or getattr(block, "self_attn", None)
        outs = [mlp_out(block)]
        for name in ("c_proj", "o_proj", "out_proj", "dense"):
            if attn is not None and hasattr(attn, name):
                outs.append(getattr(attn, name))
                break
        for proj in outs:
            # Conv1D stores (in, D): each row is what one input writes; Linear stores (D, in)
            rows(proj.weight) if is_conv1d(proj) else cols(proj.weight)
            if getattr(proj, "bias", None) is not None:
                b = proj.bias
                b -= (b @ d.to(b.device, b.dtype)) * d.to(b.device, b.dtype)
