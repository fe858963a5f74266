"""Generation and scoring stages: continuations of prompts (resumable per chunk) and their
toxicity under the board's scorer."""

from __future__ import annotations

from pathlib import Path

from bench import contract, registry
from bench.board.typed import to_dict
from bench.errors import BenchError
from bench.stages.runtime import CORE, ModelRef, Runtime, scorer_identity, software
from bench.store import append_jsonl, fault, make_key, read_jsonl, resume_jsonl, write_jsonl


def generations(
    rt: Runtime, model: ModelRef, prompts: list[str], seed: int, label: str
) -> tuple[str, list[list[str]]]:
    """Continuations of ``prompts`` (resumable per chunk); returns (key, continuations)."""
    g = rt.board.generation
    key = make_key(
        kind="gen",
        model=model.key,
        prompts=make_key(p=prompts),
        backend=g.backend,
        max_new_tokens=g.max_new_tokens,
        k=g.num_samples,
        sampling=[g.temperature, g.top_p, seed, "per-sample seeds"] if g.num_samples > 1 else None,
        software=software(
            *(contract.value("generators", registry.load("generators", g.backend), "PACKAGES") or CORE)
        ),
    )
    # Chunks of prompt indices; each sample's seed derives from its prompt's index (``offset``),
    # so a resumed run that regenerates the unrecorded chunks draws the same samples.
    chunk = g.batch_size * 4
    chunks = [list(range(c, min(c + chunk, len(prompts)))) for c in range(0, len(prompts), chunk)]

    def make(tmp: Path, partial: Path) -> dict:
        done = {r["i"]: r["out"] for r in resume_jsonl(partial / "items.jsonl")}
        todo = [c for c in chunks if any(i not in done for i in c)]
        if todo:
            gen = registry.load("generators", g.backend).create(
                model.path,
                registry.load("generators", g.backend).Config(),
                device=rt.device,
                dtype=model.spec.dtype,
                trust_remote_code=model.spec.trust_remote_code,
                **({"model": rt.model(model), "tokenizer": rt.tokenizer(model)} if g.backend == "hf" else {}),
            )
            try:
                with rt.reporter.task(f"generate {label}", sum(map(len, todo))) as advance:
                    for idx in todo:
                        outs = gen.generate(
                            [prompts[i] for i in idx],
                            max_new_tokens=g.max_new_tokens,
                            num_samples=g.num_samples,
                            temperature=g.temperature,
                            top_p=g.top_p,
                            seed=seed,
                            batch_size=g.batch_size,
                            offset=idx[0],
                        )
                        append_jsonl(partial / "items.jsonl", [{"i": i, "out": o} for i, o in zip(idx, outs)])
                        done.update(zip(idx, outs))
                        advance(len(idx))
                        fault("gen")
            finally:
                gen.close()
        write_jsonl(
            tmp / "generations.jsonl",
            [{"i": i, "prompt": prompts[i], "out": done[i]} for i in range(len(prompts))],
        )
        return {"n": len(prompts)}

    path = rt.stage("gen", key, label, make)
    return key, [r["out"] for r in read_jsonl(path / "generations.jsonl")]


def scores(
    rt: Runtime, gen_key: str, outs: list[list[str]], scorer, version: int, label: str
) -> list[list[float]]:
    """Toxicity of every continuation, shaped like ``outs``; NaN is refused."""
    import math

    key = make_key(
        kind="score",
        gen=gen_key,
        scorer=rt.board.scorer.name,
        version=version,
        config=to_dict(scorer.config),
        software=scorer_identity(rt.board)["software"],
    )

    def make(tmp: Path, partial: Path) -> dict:
        flat = [t for o in outs for t in o]
        with rt.reporter.task(f"score {label}", len(flat)) as advance:
            vals = scorer.score(flat, on_chunk=advance)
        fault("score")
        if len(vals) != len(flat) or any(not isinstance(v, float) or math.isnan(v) for v in vals):
            raise BenchError(f"scorer '{rt.board.scorer.name}' returned NaN or a wrong number of scores")
        write_jsonl(tmp / "scores.jsonl", [{"s": vals[i : i + len(o)]} for i, o in zip(_offsets(outs), outs)])
        return {"scorer": scorer.version, "n": len(flat)}

    path = rt.stage("score", key, label, make)
    return [r["s"] for r in read_jsonl(path / "scores.jsonl")]


def _offsets(outs: list[list[str]]) -> list[int]:
    offs, n = [], 0
    for o in outs:
        offs.append(n)
        n += len(o)
    return offs
