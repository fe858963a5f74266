"""Measurement stages of a model: utility (perplexity, F1) and erasure probes against the base."""

from __future__ import annotations

import json
from pathlib import Path

from bench.eval.metrics import f1, perplexity
from bench.modeling import context_length
from bench.stages.runtime import CORE, ModelRef, Runtime, Splits, software
from bench.store import make_key


def utility(rt: Runtime, model: ModelRef, data: Splits, label: str) -> dict:
    """Perplexity on benign held-out text and F1 of greedy continuations against gold."""
    e = rt.board.eval
    key = make_key(
        kind="utility",
        model=model.key,
        data=data.key,
        window=e.ppl_window,
        max_texts=e.ppl_max_texts,
        f1_max=e.f1_max,
        new=rt.board.generation.max_new_tokens,
        software=software(*CORE),
    )

    def make(tmp: Path, partial: Path) -> dict:
        from bench.generators.hf import generate

        m, tok = rt.model(model), rt.tokenizer(model)
        window = min(e.ppl_window, context_length(m))
        ppl = perplexity(m, tok, data["benign_text"], window, e.ppl_max_texts)
        pairs = data["continuations"][: e.f1_max]
        f1s = []
        if pairs:
            outs = generate(
                m,
                tok,
                [p["prompt"] for p in pairs],
                max_new_tokens=rt.board.generation.max_new_tokens,
                batch_size=rt.board.generation.batch_size,
            )
            f1s = [f1(o[0], p["gold"]) for o, p in zip(outs, pairs)]
        return {"ppl": ppl, "f1": sum(f1s) / len(f1s) if f1s else None, "f1_all": f1s}

    path = rt.stage("utility", key, label, make)
    return json.loads((path / "_artifact.json").read_text())


def probe(
    rt: Runtime,
    model: ModelRef,
    base: ModelRef,
    data: Splits,
    seed: int,
    label: str,
    prompt_labels: list[float] | None = None,
) -> dict:
    """Erasure metrics of ``model`` against ``base`` (``bench.eval.erasure``), the base model's
    top toxic neurons, and the localisation of the model's edit on them with its chance share."""
    e = rt.board.eval
    key = make_key(
        kind="probe",
        model=model.key,
        base=base.key,
        data=data.key,
        seed=seed,
        max_pairs=e.probe_max_pairs,
        k=e.top_neurons,
        labels=None if prompt_labels is None else make_key(labels=prompt_labels),
        version=2,
        software=software(*CORE),
    )

    def make(tmp: Path, partial: Path) -> dict:
        from bench.eval import erasure, probes
        from bench.eval.directions import toxic_only_vocab

        pairs = data["probe_pairs"][: e.probe_max_pairs]
        tok = rt.tokenizer(model)
        base_m, m = rt.model(base), rt.model(model)
        vocab = toxic_only_vocab(tok, data["pairs"], data["benign_text"])
        er = erasure.measure(m, base_m, tok, pairs, prompt_labels, vocab, seed)
        neurons = probes.toxic_neurons(base_m, probes.probe_direction(base_m, tok, pairs), e.top_neurons)
        loc = None if model.key == base.key else probes.localisation(base_m, m, neurons)
        total = sum(v.shape[0] for v in probes.value_vectors(base_m))
        return {
            "probe_acc": er["layers"]["cont_probe"],
            "erasure": er,
            "toxic_neurons": neurons,
            "localisation": loc,
            "localisation_chance": len(neurons) / total,
        }

    path = rt.stage("probe", key, label, make)
    return json.loads((path / "_artifact.json").read_text())
