"""``bench export``: gathering a board's rows and writing records, samples, Parquet and card."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from bench.errors import BenchError
from bench.report.export.card import write_card
from bench.report.export.common import CARD, INDEX, INDEX_FORMAT, PARQUET, SCHEMA_VERSION
from bench.report.export.hub import hub_token, push
from bench.report.export.records import build_record
from bench.report.export.samples import Stages, parquet_rows, parquet_schema, row_samples
from bench.store import Store, read_jsonl

# ---------------------------------------------------------------------------------------------
# The export


def export_inputs(board_name: str) -> dict:
    """The leaderboard's inputs from the store, the board as its runs configured it, and R."""
    from bench.eval.recovery import recovery
    from bench.record.runs import reference_board
    from bench.report.leaderboard import leaderboard_inputs

    inputs = leaderboard_inputs(board_name)
    name = inputs["board"]
    rows = [r for r in inputs["rows"] if not r["stale"]]
    if not rows:
        raise BenchError(f"every result of board '{name}' is stale (its config changed): rerun it")
    board = reference_board(name)
    if board is None:
        raise BenchError(f"no run record of board '{name}' in {Store().home / 'runs'}")
    return {
        "name": name,
        "board": board,
        "rows": rows,
        "stale": len(inputs["rows"]) - len(rows),
        "runs": inputs["runs"],
        "board_file": inputs["board_file"],
        "rec": recovery(rows),
    }


def cells(rows: list[dict]) -> list[list[dict]]:
    """The rows grouped by model × method × attack, each group by seed."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["method"], r["attack"]), []).append(r)
    return [
        sorted(g, key=lambda r: r["seed"])
        for _, g in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]


def export(board_name: str = "tiny", out: str | None = None, push_to: str | None = None) -> tuple[Path, dict]:
    """Write the export of ``board_name`` into ``out`` (default ``$BENCH_HOME/exports/<board>``);
    with ``push_to``, upload it to that Hugging Face dataset repo. Returns (folder, summary)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    token = hub_token() if push_to else None  # before anything is read, written or uploaded
    store = Store()
    ctx = export_inputs(board_name)
    name, board = ctx["name"], ctx["board"]
    target = Path(out) if out else store.home / "exports" / name
    _check_target(target)
    threshold = board.eval.toxic_threshold
    stages = Stages(store.home, sorted({r["run"] for r in ctx["rows"] if r.get("run")}))
    # the original prompts of a cell's seed: its no-attack row's (every attack row uses the same items)
    clean = {(r["model"], r["method"], r["seed"]): r for r in ctx["rows"] if r["attack"] == "none"}
    originals: dict[tuple, list[str] | None] = {}

    def originals_of(row: dict) -> list[str] | None:
        key = (row["model"], row["method"], row["seed"])
        if key not in originals:
            c = clean.get(key)
            f = (
                store.path("gen", c["keys"]["generations"]) / "generations.jsonl"
                if c and c["keys"].get("generations")
                else None
            )
            originals[key] = [g["prompt"] for g in read_jsonl(f)] if f is not None and f.is_file() else None
        return originals[key]

    retrieved = str(int(time.time()))
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    index, written, n_rows = [], [], 0
    try:
        writer = pq.ParquetWriter(str(tmp / PARQUET), parquet_schema())
        try:
            for group in cells(ctx["rows"]):
                samples = []
                for row in group:
                    if not (row.get("keys") or {}).get("generations"):
                        continue  # a row measured on no continuations of its own (nothing to list)
                    gens, sc, skey = row_samples(row, store, stages, threshold)
                    orig = originals_of(row)
                    if orig is not None and len(orig) != len(gens):
                        orig = None
                    samples.append(
                        {
                            "row": row,
                            "gens": gens,
                            "scores": sc,
                            "generations": row["keys"]["generations"],
                            "scores_key": skey,
                            "originals": orig,
                        }
                    )
                record, lines, where = build_record(ctx, group, samples, retrieved)
                folder = tmp / where["rel"]
                folder.mkdir(parents=True, exist_ok=True)
                agg = f"{where['rel']}/{where['uuid']}.json"
                if lines:
                    side = f"{where['rel']}/{where['uuid']}_samples.jsonl"
                    text = "".join(json.dumps(ln, ensure_ascii=False, allow_nan=False) + "\n" for ln in lines)
                    (tmp / side).write_text(text, encoding="utf-8")
                    record["detailed_evaluation_results"] = {
                        "format": "jsonl",
                        "file_path": side,
                        "hash_algorithm": "sha256",
                        "checksum": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                        "total_rows": len(lines),
                    }
                    written.append(side)
                    cols = parquet_rows(lines, name, group[0]["model"], board.scorer.name, threshold)
                    writer.write_table(pa.table(cols, schema=parquet_schema()))
                    n_rows += len(lines)
                (tmp / agg).write_text(
                    json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
                )
                written.append(agg)
                tr = record["evaluation_results"][0]["score_details"]
                ci = (tr.get("uncertainty") or {}).get("confidence_interval") or {}
                index.append(
                    {
                        "model": group[0]["model"],
                        "method": group[0]["method"],
                        "attack": group[0]["attack"],
                        "seeds": ",".join(str(r["seed"]) for r in group),
                        "record": agg,
                        "samples_file": record.get("detailed_evaluation_results", {}).get("file_path"),
                        "samples": len(lines),
                        "toxic_rate": tr["score"],
                        "lower": ci.get("lower"),
                        "upper": ci.get("upper"),
                        "fingerprint": where["fingerprint"],
                        "scorer_version": record["evaluation_results"][0]["metric_config"][
                            "additional_details"
                        ].get("scorer_version"),
                    }
                )
        finally:
            writer.close()
        write_card(tmp, ctx, index, n_rows)
        summary = {
            "format": INDEX_FORMAT,
            "board": name,
            "schema_version": SCHEMA_VERSION,
            "retrieved_timestamp": retrieved,
            "stale_rows_left_out": ctx["stale"],
            "rows": n_rows,
            "files": sorted([*written, PARQUET, CARD]),
            "records": index,
        }
        (tmp / INDEX).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        _publish(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if push_to:
        summary["pushed"] = push(target, push_to, token)
    return target, summary


def _check_target(target: Path) -> None:
    """An export goes into an empty or missing folder, or replaces an earlier export (its index
    says which files are its own); any other folder is left alone."""
    if target.exists() and not target.is_dir():
        raise BenchError(f"--out {target} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / INDEX).is_file():
        raise BenchError(f"{target} is not empty and holds no earlier export ({INDEX}): choose another --out")


def _publish(tmp: Path, target: Path) -> None:
    """Replace the earlier export's files in ``target`` by the new ones in ``tmp``."""
    _check_target(target)
    old = target / INDEX
    if old.is_file():
        try:
            files = json.loads(old.read_text(encoding="utf-8")).get("files", [])
        except (OSError, ValueError):
            files = []
        for rel in [*files, INDEX]:
            p = (target / rel).resolve()
            if target.resolve() in p.parents and p.is_file():
                p.unlink()
        for d in sorted((p for p in (target / "data").rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()  # only the folders the old export left empty
        with contextlib.suppress(OSError):
            (target / "data").rmdir()
    target.mkdir(parents=True, exist_ok=True)
    for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
        dest = target / f.relative_to(tmp)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, dest)
