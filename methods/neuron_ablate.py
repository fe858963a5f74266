"""``neuron_ablate``: zero k MLP value vectors, the known answer of the localisation metric.

Toxic neurons follow Lee et al. 2024 (arXiv 2401.01967): MLP value vectors ranked by cosine with a
linear probe's toxic direction at the last layer (``bench.eval.probes``); Geva et al. 2022 (arXiv
2203.14680) read such vectors as promoting tokens when their neuron fires. ``which: toxic`` zeroes
the base model's top-k toxic neurons, found here on the method's training pairs, not on the
held-out probe pairs the metric reads, so the whole edit sits on toxic neurons by construction and
the metric must call it localised. ``which: random`` zeroes k neurons drawn uniformly (seeded): an
edit of the same kind with no preference, which the metric must not call localised. The pair also
tests whether the "toxic neurons" carry toxicity at all: ablating them must lower the toxic rate
more than ablating random ones (``bench.eval.validity.localisation_check``).
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 1


@dataclass(frozen=True)
class Config:
    k: int = 20  # neurons zeroed (the board's eval.top_neurons is the metric's k)
    which: str = "toxic"  # toxic: the top-k by cosine with the probe direction; random: k uniform draws
    max_pairs: int = 400  # training pairs the probe direction is fitted on

    def __post_init__(self):
        if self.k <= 0 or self.max_pairs <= 0:
            raise ValueError(f"k and max_pairs must be positive, got {self.k} and {self.max_pairs}")
        if self.which not in ("toxic", "random"):
            raise ValueError(f"which must be toxic or random, not {self.which!r}")


def chosen_neurons(model, tokenizer, data, config: Config, seed: int) -> list[tuple[int, int]]:
    """(block, neuron) pairs to zero."""
    import torch

    from bench.errors import BenchError
    from bench.eval import probes

    sizes = [probes.value_rows(m).shape[0] for m in probes.value_modules(model)]  # views: no copy
    if not sizes:
        raise BenchError(
            "neuron_ablate: the model has no MLP output projection it can read value vectors from"
        )
    if config.k > sum(sizes):
        raise BenchError(f"neuron_ablate: k={config.k} exceeds the model's {sum(sizes)} MLP neurons")
    if config.which == "toxic":
        d = probes.probe_direction(model, tokenizer, data.pairs[: config.max_pairs])
        return [(n["layer"], n["index"]) for n in probes.toxic_neurons(model, d, config.k)]
    flat = torch.randperm(sum(sizes), generator=torch.Generator().manual_seed(seed))[: config.k].tolist()
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    out = []
    for f in sorted(flat):
        layer = max(i for i, s in enumerate(starts) if s <= f)
        out.append((layer, f - starts[layer]))
    return out


def apply(model, tokenizer, data, config: Config, seed: int, progress=None):
    import torch

    from bench.eval import probes

    chosen = chosen_neurons(model, tokenizer, data, config, seed)
    modules = probes.value_modules(model)
    with torch.no_grad():
        for layer, index in chosen:
            probes.value_rows(modules[layer])[index] = 0.0
    if progress:
        progress(1, 1, {"neurons": len(chosen)})
    return model, {"steps": 1, "seconds": 0.0, "neurons": [list(n) for n in chosen]}
