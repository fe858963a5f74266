"""The instance-level samples of a row (generations and their scores, read from the store) and their
Parquet table."""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError
from bench.report.export.common import KNOWN_LICENCES
from bench.store import Store, read_jsonl

# ---------------------------------------------------------------------------------------------
# Reading the store


class Stages:
    """Which ``score`` artifact holds the scores of a ``gen`` artifact: the runs' manifests list
    each toxicity measurement as a gen stage followed by the score stage of the same label."""

    def __init__(self, home: Path, runs: list[str]):
        self.home = home
        self.by_run: dict[str, dict[str, list[str]]] = {}
        for run in runs:
            f = home / "runs" / run / "manifest.json"
            if not f.is_file():
                continue
            pairs: dict[str, list[str]] = {}
            last_gen: dict[str, str] = {}
            for st in json.loads(f.read_text()).get("stages", []):
                if st["stage"] == "gen":
                    last_gen[st["label"]] = st["key"]
                elif st["stage"] == "score" and st["label"] in last_gen:
                    keys = pairs.setdefault(last_gen[st["label"]], [])
                    if st["key"] not in keys:
                        keys.append(st["key"])
            self.by_run[run] = pairs

    def candidates(self, run: str, gen_key: str) -> list[str]:
        own = self.by_run.get(run, {}).get(gen_key, [])
        others = [k for r, p in sorted(self.by_run.items()) if r != run for k in p.get(gen_key, [])]
        return list(dict.fromkeys([*own, *others]))


def _cell_name(row: dict) -> str:
    return f"{row['model']}/{row['method']}/{row['attack']} seed {row['seed']}"


def row_samples(
    row: dict, store: Store, stages: Stages, threshold: float
) -> tuple[list[dict], list[list[float]], str]:
    """(generations, scores, score key) of a row: ``generations[i]`` = {i, prompt, out: [k texts]},
    ``scores[i]`` the k scores. The scores are the artifact whose per-prompt toxic rates are the
    row's own, looked for in the row's own run first."""
    from bench.run.cell import per_prompt_rates

    gen_key = row["keys"]["generations"]
    gen_dir = store.path("gen", gen_key)
    if not (gen_dir / "generations.jsonl").is_file():
        raise BenchError(
            f"the store holds no generations {gen_key} of {_cell_name(row)}: export reads continuations "
            f"from the store (committed results hold none); rerun its `bench run` to make them again"
        )
    gens = read_jsonl(gen_dir / "generations.jsonl")
    want = row.get("per_prompt")
    for key in stages.candidates(row.get("run", ""), gen_key):
        f = store.path("score", key) / "scores.jsonl"
        if not f.is_file():
            continue
        sc = [r["s"] for r in read_jsonl(f)]
        if len(sc) != len(gens) or any(len(s) != len(g["out"]) for s, g in zip(sc, gens)):
            continue
        if want is None or all(abs(a - b) < 1e-9 for a, b in zip(per_prompt_rates(sc, threshold), want)):
            return gens, sc, key
    raise BenchError(
        f"no stored scores reproduce the toxic rates of {_cell_name(row)} (generations {gen_key}): "
        "rerun its `bench run` to score them again"
    )


def attack_string(original: str, attacked: str, universal: str | None) -> str | None:
    """The adversarial text of one prompt: the row's universal string, or what a per-prompt attack
    put before or after the prompt; None when the prompt is unchanged (or rewritten otherwise)."""
    if universal:
        return universal
    if attacked == original or not original:
        return None
    if attacked.endswith(original):
        return attacked[: -len(original)]
    if attacked.startswith(original):
        return attacked[len(original) :]
    return None


# ---------------------------------------------------------------------------------------------
# Parquet and the dataset card

PARQUET_COLUMNS = (
    ("evaluation_id", "string"),
    ("model_id", "string"),
    ("board", "string"),
    ("model", "string"),
    ("method", "string"),
    ("attack", "string"),
    ("seed", "int64"),
    ("prompt_index", "int64"),
    ("sample_index", "int64"),
    ("sample_id", "string"),
    ("prompt", "string"),
    ("model_input", "string"),
    ("attack_string", "string"),
    ("attack_budget", "string"),
    ("continuation", "string"),
    ("score", "float64"),
    ("toxic", "bool"),
    ("scorer", "string"),
    ("toxic_threshold", "float64"),
)


def parquet_schema():
    import pyarrow as pa

    return pa.schema([(n, pa.type_for_alias(t)) for n, t in PARQUET_COLUMNS])


def parquet_rows(lines: list[dict], board: str, model: str, scorer: str, threshold: float) -> dict[str, list]:
    cols: dict[str, list] = {n: [] for n, _ in PARQUET_COLUMNS}
    for ln in lines:
        m = ln["metadata"]
        values = {
            "evaluation_id": ln["evaluation_id"],
            "model_id": ln["model_id"],
            "board": board,
            "model": model,
            "method": m["method"],
            "attack": m["attack"],
            "seed": int(m["seed"]),
            "prompt_index": int(m["prompt_index"]),
            "sample_index": int(m["sample_index"]),
            "sample_id": ln["sample_id"],
            "prompt": ln["input"]["raw"],
            "model_input": ln["input"]["formatted"],
            "attack_string": m.get("attack_string"),
            "attack_budget": m.get("attack_budget"),
            "continuation": ln["output"]["raw"][0],
            "score": ln["evaluation"]["score"],
            "toxic": m["toxic"] == "true",
            "scorer": scorer,
            "toxic_threshold": threshold,
        }
        for n in cols:
            cols[n].append(values[n])
    return cols


def size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return label
    return "10M<n<100M"


def prompt_licence(board) -> tuple[str, str]:
    """(card licence id, sentence) of the board's evaluation prompts."""
    d = board.data
    if d.source == "organism":
        return "mit", (
            "The prompts are generated by this project (templated dialogue lines of the built-in model "
            "organism, `bench/organism/corpus.py`; docs/organism.md), under the project's MIT licence."
        )
    ep = d.eval_prompts or ""
    if ep in KNOWN_LICENCES:
        return KNOWN_LICENCES[
            ep
        ], f"The prompts come from `{ep}`, licensed {KNOWN_LICENCES[ep]} by its authors."
    return "other", f"The prompts come from `{ep or 'the board data'}`; see its own licence."
