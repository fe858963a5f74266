"""The GCG objective: the target loss of a batch of optimised strings, and its gradient.

:class:`Objective` scores one prompt; :func:`batched_losses` averages several prompts' losses over
a batch of candidates, and :func:`token_gradient` differentiates their sum w.r.t. the one-hot
string. A universal prefix's KV (BOS + string) is computed once per candidate and shared by every
training prompt, since under causal attention the string's states do not depend on what follows:
on CPU in fp32 only (:func:`shares_prefix`), where that was checked to pick the same strings, with
the prompts taking turns on one buffer (:class:`SharedPrefix`). Shapes: ``B`` candidates, ``n``
tokens in a string, ``D`` the embedding width, ``V`` the vocabulary, ``T`` target tokens; a KV
layer is a (keys, values) pair, each (B, H, P, d) for ``H`` heads over ``P`` positions.
"""

from __future__ import annotations

import torch

from bench.errors import BenchError
from bench.generators.hf import cache_name, cache_of, reserve
from bench.modeling import bos_ids
from bench.prompt_search.candidates import prompt_part


class Objective:
    """Target loss of one prompt for a batch of optimised strings.

    ``position="suffix"``: prompt + string -> target (prompt KV cached when ``use_cache``).
    ``position="prefix"``: string + " " + prompt -> target (the string's KV shared across prompts
    by :func:`batched_losses`). The prompt's ids are those of its part of the joined text
    (:func:`bench.prompt_search.candidates.prompt_part`), so for a string that passes
    :func:`bench.prompt_search.candidates.joined_ok` the scored ids are exactly generation's ids for
    :func:`bench.prompt_search.candidates.join`'s text.
    With ``base_model`` and ``rep_weight`` an extra term
    ``rep_weight · mean_l ||h_l - h_base_l||² / ||h_base_l||²`` over the prompt+target tokens,
    where both models read the same sequence (string included). Every sequence starts with the
    tokenizer's BOS if it uses one, as generation's ids do.
    """

    def __init__(
        self,
        model,
        tokenizer,
        prompt: str,
        target: str,
        position: str = "suffix",
        use_cache: bool = True,
        rep_layers: tuple[int, ...] = (),
        rep_weight: float = 0.0,
        base_model=None,
    ):
        device = next(model.parameters()).device
        enc = lambda s: torch.tensor(tokenizer(s, add_special_tokens=False)["input_ids"], device=device)  # noqa: E731
        self.model, self.position, self.prompt = model, position, prompt
        self.prompt_ids, self.target_ids = enc(prompt_part(prompt, position)), enc(target)
        if len(self.target_ids) == 0 or len(self.prompt_ids) == 0:
            raise BenchError(
                f"GCG needs a non-empty prompt and target (prompt {prompt[:40]!r}, target {target!r})"
            )
        self.bos_ids = torch.tensor(bos_ids(tokenizer), dtype=torch.long, device=device)
        self.embed = model.get_input_embeddings()
        self.cache_kv = None
        if position == "suffix" and use_cache:
            with torch.no_grad():
                out = model(input_ids=torch.cat([self.bos_ids, self.prompt_ids]).unsqueeze(0), use_cache=True)
            self.cache_kv = [(layer.keys, layer.values) for layer in cache_of(out).layers]
        self.rep_layers, self.rep_weight = rep_layers, rep_weight
        self.base_model = base_model if rep_weight and base_model is not None else None

    def _cache(self, batch: int):
        """The cached BOS + prompt KV (suffix position), expanded to ``batch`` candidates."""
        return kv_cache(
            [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.cache_kv]
        )

    def sequence(self, optim_ids: torch.Tensor) -> torch.Tensor:
        """The id sequence scored for one string: BOS, string and prompt in order, target.
        optim_ids (n,) -> (L,)."""
        o = optim_ids.to(self.bos_ids.device)
        middle = [o, self.prompt_ids] if self.position == "prefix" else [self.prompt_ids, o]
        return torch.cat([self.bos_ids, *middle, self.target_ids])

    def _base_states(self, optim_ids: torch.Tensor, base_kv=None) -> list[torch.Tensor]:
        """The original model's states on the same sequences, prompt and target positions: one
        (B, P + T, D) tensor per matched layer, P the prompt's tokens. optim_ids (B, n).
        ``base_kv``: the original model's :meth:`prefix_state` of these strings, shared."""
        span = len(self.prompt_ids) + len(self.target_ids)
        dev = self.base_model.device
        if base_kv is not None:
            rest = torch.cat([self.prompt_ids, self.target_ids]).to(dev).expand(len(optim_ids), -1)
            kwargs = {cache_name(self.base_model): kv_cache(base_kv), "use_cache": True}
        else:
            rest, kwargs = torch.stack([self.sequence(row) for row in optim_ids]).to(dev), {}
        with torch.no_grad():
            hs = self.base_model(input_ids=rest, output_hidden_states=True, **kwargs)
        return [hs.hidden_states[layer][:, -span:].float() for layer in self.rep_layers]

    def prefix_state(
        self, optim_ids: torch.Tensor, model=None
    ) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """The KV of BOS + string for a batch of strings (prefix position) in ``model`` (default:
        the attacked one). Under causal attention it is the same whatever prompt follows, so a
        universal attack computes it once per candidate and shares it across its training
        prompts (:func:`batched_losses`). None for a model whose cache is not a plain
        ``DynamicCache`` of key/value layers: then each prompt is computed whole.
        optim_ids (B, n) -> per layer (keys, values), each (B, H, len(bos) + n, d)."""
        model = model or self.model
        ids = optim_ids.to(self.bos_ids.device)
        seq = torch.cat([self.bos_ids.unsqueeze(0).expand(len(ids), -1), ids], 1).to(model.device)
        with torch.no_grad():
            out = model(input_ids=seq, use_cache=True, logits_to_keep=1)
        cache = cache_of(out)
        if type(cache).__name__ != "DynamicCache" or not all(hasattr(x, "keys") for x in cache.layers):
            return None  # another cache layout (sliding windows, state-space layers): not shared
        return [(layer.keys, layer.values) for layer in cache.layers]

    def losses(
        self,
        optim_embeds: torch.Tensor,
        optim_ids: torch.Tensor | None = None,
        prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        base_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """optim_embeds (B, n, D) -> per-candidate loss (B,). The matching term needs the ids too,
        optim_ids (B, n).
        ``prefix_kv`` and ``base_kv`` (prefix position, no gradient): :meth:`prefix_state` of
        these strings in the attacked and the original model, shared across prompts."""
        B = optim_embeds.shape[0]
        tgt = self.embed(self.target_ids).unsqueeze(0).expand(B, -1, -1)
        prm = self.embed(self.prompt_ids).unsqueeze(0).expand(B, -1, -1)
        bos = self.embed(self.bos_ids).unsqueeze(0).expand(B, -1, -1)
        kwargs = {}
        if self.position == "prefix" and prefix_kv is not None:  # BOS and string are in the cache
            seq = torch.cat([prm, tgt], 1)
            cache = prefix_kv.fresh() if isinstance(prefix_kv, SharedPrefix) else kv_cache(prefix_kv)
            kwargs = {cache_name(self.model): cache, "use_cache": True}
        elif self.position == "prefix":
            seq = torch.cat([bos, optim_embeds, prm, tgt], 1)
        elif self.cache_kv is not None:  # BOS and prompt are in the cache
            seq, kwargs = (
                torch.cat([optim_embeds, tgt], 1),
                {cache_name(self.model): self._cache(B), "use_cache": True},
            )
        else:
            seq = torch.cat([bos, prm, optim_embeds, tgt], 1)
        T = len(self.target_ids)
        # only the positions that predict the target need logits: the LM head over a 4k-50k
        # vocabulary at every position is a large share of a small model's cost. Scoring
        # candidates on CPU in fp32 reads exactly those T positions (the same losses, bit for
        # bit; 12-16% faster per step on the organism, mostly by not copying the logits to drop
        # the last position); elsewhere, and for the token gradient, the last T + 1 as before.
        exact = not torch.is_grad_enabled() and shares_prefix(self.embed.weight)
        L = seq.shape[1]
        out = self.model(
            inputs_embeds=seq,
            output_hidden_states=self.base_model is not None,
            logits_to_keep=torch.arange(L - T - 1, L - 1, device=seq.device) if exact else T + 1,
            **kwargs,
        )
        # (B, T, V): positions -T-1 .. -2 predict the target
        logits = (out.logits if exact else out.logits[:, :-1]).float()
        ce = (
            torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), self.target_ids.repeat(B), reduction="none"
            )
            .view(B, T)
            .mean(1)
        )
        if self.base_model is None:
            return ce
        if optim_ids is None:
            raise ValueError("the representation term needs the string's ids")
        span = len(self.prompt_ids) + T
        rep = sum(
            ((out.hidden_states[layer][:, -span:].float() - hb) ** 2).sum(-1).mean(-1)
            / (hb**2).sum(-1).mean(-1)
            for layer, hb in zip(self.rep_layers, self._base_states(optim_ids.reshape(B, -1), base_kv))
        )
        return ce + self.rep_weight * rep / len(self.rep_layers)

    def n_tokens(self, n_optim: int) -> int:
        """Tokens counted for one candidate on this prompt: the whole sequence, less a suffix's
        cached BOS + prompt (a shared prefix is still counted whole)."""
        fixed = len(self.bos_ids) + len(self.prompt_ids)
        return n_optim + len(self.target_ids) + (0 if self.cache_kv is not None else fixed)


def kv_cache(layers: list[tuple[torch.Tensor, torch.Tensor]]):
    """A ``transformers`` ``DynamicCache`` holding these (keys, values) per layer, each
    (B, H, P, d); a forward pass appends to fresh tensors, so the given ones can be shared."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=layers)


class SharedPrefix:
    """The KV of BOS + string (:meth:`Objective.prefix_state`) in one preallocated cache that the
    training prompts take turns on: each prompt's forward writes its own keys and values right
    after the string's, over the previous prompt's, instead of copying the string's KV into a new
    tensor for every prompt (``bench.generators.hf.reserve``). The same numbers: attention reads
    the same values from a view of the buffer. On CPU only, as sharing the prefix is; a layer
    ``reserve`` leaves alone concatenates as before, and :meth:`fresh` cuts it back to the string.
    layers: per layer (keys, values), each (B, H, 1 + n, d); ``extra``: positions to leave room
    for after the string (the longest prompt + target)."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], extra: int):
        self.cache = kv_cache(layers)
        self.length = layers[0][0].shape[-2]
        for layer in self.cache.layers:
            reserve(layer, extra)

    def fresh(self):
        """The cache holding the string's positions only, ready for a prompt's forward."""
        for layer in self.cache.layers:
            keys, values = getattr(layer, "buffers", (layer.keys, layer.values))
            layer.keys, layer.values = keys[..., : self.length, :], values[..., : self.length, :]
        return self.cache


def shares_prefix(weight: torch.Tensor) -> bool:
    """Whether a model with this embedding weight shares a prefix's KV across prompts: only where
    that was checked to pick the same strings as whole sequences (CPU, fp32). A GPU's attention
    kernels for a short query over a cache differ from the whole-sequence ones, and bf16 or fp16
    rounding could change a pick that cached cells of this VERSION made the other way.
    weight (V, D)."""
    return weight.device.type == "cpu" and weight.dtype == torch.float32


def batched_losses(objectives: list[Objective], cands: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean loss over objectives for every candidate; halves the batch on out-of-memory. With a
    prefix on CPU in fp32 (:func:`shares_prefix`), the string's KV is computed once per candidate
    and shared by every objective (they differ only after it): BOS + 21 string tokens of a
    ~43-token sequence, 6 prompts, 1.7x fewer tokens per step on the default board.
    cands (B, n) -> (B,)."""
    first = objectives[0]
    embed = first.embed
    share = shares_prefix(first.embed.weight) and len(objectives) > 1
    share = share and all(
        o.position == "prefix"
        and o.model is first.model
        and o.base_model is first.base_model
        and torch.equal(o.bos_ids, first.bos_ids)
        for o in objectives
    )
    bs = batch_size or len(cands)
    while True:
        try:
            out = []
            with torch.no_grad():
                for i in range(0, len(cands), bs):
                    chunk = cands[i : i + bs].to(embed.weight.device)
                    e, kv, base_kv = embed(chunk), None, None
                    if share and (kv := first.prefix_state(chunk)) is not None:
                        if first.base_model is first.model:  # compared with itself: the same KV
                            base_kv = kv
                        elif first.base_model is not None:
                            base_kv = first.prefix_state(chunk, first.base_model)
                            kv = None if base_kv is None else kv
                    if kv is not None:  # each prompt writes after the string in one buffer
                        kv = SharedPrefix(kv, max(len(o.prompt_ids) + len(o.target_ids) for o in objectives))
                    out.append(sum(o.losses(e, chunk, kv, base_kv) for o in objectives) / len(objectives))
            return torch.cat(out)
        except torch.OutOfMemoryError:
            if bs == 1:
                raise
            bs = max(1, bs // 2)
            torch.cuda.empty_cache()


def token_gradient(objectives: list[Objective], ids: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed loss w.r.t. the one-hot string. ids (n,) -> (n, V)."""
    embed = objectives[0].embed
    onehot = torch.nn.functional.one_hot(ids.to(embed.weight.device), embed.num_embeddings).to(
        embed.weight.dtype
    )
    onehot.requires_grad_(True)
    total = sum(o.losses((onehot @ embed.weight).unsqueeze(0), ids.unsqueeze(0)).sum() for o in objectives)
    (grad,) = torch.autograd.grad(total, onehot)
    return grad
