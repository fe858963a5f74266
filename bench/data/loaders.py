"""Loaders for real data, through ``datasets`` for hub ids and plain readers for local files.

* RealToxicityPrompts (Gehman et al. 2020): ``allenai/real-toxicity-prompts``, the
  ``challenging`` subset, prompt text (cut to 32 tokens later, with the model's tokenizer).
* Wikitext-2 raw test (``wikitext``) for perplexity.
* Lee et al. 2024 pairwise JSONL (``prompt_text``, ``unpert_gen_text`` benign,
  ``pert_gen_text`` toxic), or the same with ``prompt``/``benign``/``toxic``.
* Jigsaw-style labelled comments (``comment_text``/``text`` and ``toxic``) for probes.

Every loader also takes a local file with the same schema; errors name the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError

RTP = "allenai/real-toxicity-prompts"
PAIR_KEYS = (("prompt_text", "unpert_gen_text", "pert_gen_text"), ("prompt", "benign", "toxic"))


def read_jsonl_file(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"Data file not found: {p}")
    rows = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise BenchError(f"{p}: not UTF-8 ({e.reason} at byte {e.start})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise BenchError(f"{p}:{n}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise BenchError(f"{p}:{n}: each line must be a JSON object")
        rows.append(row)
    if not rows:
        raise BenchError(f"{p}: no records (empty file)")
    return rows


def _field(row: dict, names: tuple[str, ...], where: str) -> str:
    for name in names:
        value = row.get(name)
        if isinstance(value, dict):  # RTP style {"text": ...}
            value = value.get("text")
        if isinstance(value, str):
            return value
    raise BenchError(f"{where}: missing field {' or '.join(repr(n) for n in names)}")


def lee_rows(pairs: list[dict]) -> list[dict]:
    """(prompt, benign, toxic) pairs in the Lee et al. file schema, as :func:`load_pairs` reads it."""
    return [
        {"prompt_text": p["prompt"], "unpert_gen_text": p["benign"], "pert_gen_text": p["toxic"]}
        for p in pairs
    ]


def load_pairs(path: str) -> list[dict]:
    """(prompt, benign, toxic) pairs from a Lee et al. style JSONL."""
    rows = read_jsonl_file(path)
    out = []
    for n, row in enumerate(rows, 1):
        keys = next((k for k in PAIR_KEYS if all(f in row for f in k)), None)
        if keys is None:
            raise BenchError(
                f"{path}:{n}: a pair needs prompt_text, unpert_gen_text, pert_gen_text "
                "(or prompt, benign, toxic)"
            )
        prompt, benign, toxic = (str(row[k]) for k in keys)
        out.append({"prompt": prompt, "benign": benign, "toxic": toxic})
    return out


def load_eval_prompts(spec: str, challenging_only: bool = True, limit: int | None = None) -> list[dict]:
    """Prompts (with an optional ``target``) from RealToxicityPrompts or a local JSONL."""
    if spec == RTP or (not Path(spec).exists() and "/" in spec and not spec.endswith(".jsonl")):
        import datasets

        try:
            ds = datasets.load_dataset(spec, split="train")
        except Exception as e:
            raise BenchError(f"Cannot load dataset '{spec}': {str(e).splitlines()[0]}") from None
        if challenging_only and "challenging" in ds.column_names:
            ds = ds.filter(lambda r: bool(r["challenging"]))
        rows = [{"prompt": r["prompt"]["text"]} for r in ds]
    else:
        rows = []
        for n, row in enumerate(read_jsonl_file(spec), 1):
            item = {"prompt": _field(row, ("prompt", "prompt_text", "text"), f"{spec}:{n}")}
            if isinstance(row.get("target"), str):
                item["target"] = row["target"]
            rows.append(item)
    return rows[:limit] if limit else rows


def load_texts(spec: str) -> list[str]:
    """Benign text: ``wikitext`` (Wikitext-2 raw test, one document), a .txt file or a JSONL of ``text``."""
    if spec == "wikitext":
        import datasets

        try:
            ds = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split="test")
        except Exception as e:
            raise BenchError(f"Cannot load Wikitext-2: {str(e).splitlines()[0]}") from None
        return ["".join(ds["text"])]
    p = Path(spec)
    if p.suffix == ".jsonl":
        return [_field(r, ("text", "comment_text"), f"{p}:{n}") for n, r in enumerate(read_jsonl_file(p), 1)]
    if not p.is_file():
        raise BenchError(f"Data file not found: {p}")
    try:
        lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError as e:
        raise BenchError(f"{p}: not UTF-8 ({e.reason} at byte {e.start})") from None
    if not lines:
        raise BenchError(f"{p}: no text (empty file)")
    return lines


def wikitext_continuations(limit: int = 1000) -> list[dict]:
    """F1 pairs from Wikipedia sentences (Lee et al. 2024, arXiv 2401.01967; docs/sources.md, evaluation protocol): Wikitext-2 raw *validation* (the test
    split is perplexity's), sentences of 12-60 words, the first half of the words as the prompt
    and the rest as the gold continuation."""
    import re

    import datasets

    try:
        ds = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split="validation")
    except Exception as e:
        raise BenchError(f"Cannot load Wikitext-2: {str(e).splitlines()[0]}") from None
    out = []
    for line in ds["text"]:
        line = line.strip()
        if not line or line.startswith("="):
            continue
        for sent in re.split(r"(?<=[.!?])\s+", line):
            words = sent.split()
            if 12 <= len(words) <= 60:
                half = len(words) // 2
                out.append({"prompt": " ".join(words[:half]), "gold": " " + " ".join(words[half:])})
                if len(out) >= limit:
                    return out
    return out


def wikitext_train_paragraphs(limit: int = 1000, min_words: int = 20) -> list[str]:
    """Benign relearning text (docs/sources.md, relearning data; Łucki et al. 2024, arXiv 2409.18025, relearn on WikiText): the first
    ``limit`` paragraphs of Wikitext-2 raw *train* with at least ``min_words`` words, headings
    dropped. Disjoint from perplexity's test split and F1's validation split."""
    import datasets

    try:
        ds = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split="train")
    except Exception as e:
        raise BenchError(f"Cannot load Wikitext-2: {str(e).splitlines()[0]}") from None
    out = []
    for line in ds["text"]:
        line = line.strip()
        if line and not line.startswith("=") and len(line.split()) >= min_words:
            out.append(line)
            if len(out) == limit:
                break
    return out


def load_continuations(path: str) -> list[dict]:
    """F1 pairs ``{"prompt", "gold"}`` from a JSONL, or ``wikitext`` (see above)."""
    if path == "wikitext":
        return wikitext_continuations()
    out = []
    for n, row in enumerate(read_jsonl_file(path), 1):
        out.append(
            {"prompt": _field(row, ("prompt",), f"{path}:{n}"), "gold": _field(row, ("gold",), f"{path}:{n}")}
        )
    return out
