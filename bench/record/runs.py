"""Reading results back: the latest row of every cell, as dicts or a pandas DataFrame.

>>> from bench.record.runs import results_frame
>>> df = results_frame("tiny")   # one row per model × method × attack × seed
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.store import Store, read_jsonl

CELL = ("board", "model", "method", "attack", "seed")


def run_dirs(home: Path | None = None) -> list[Path]:
    """Finished runs (those with a manifest), oldest first."""
    runs = (home or Store().home) / "runs"
    if not runs.is_dir():
        return []
    return sorted(d for d in runs.iterdir() if (d / "manifest.json").is_file())


def latest_rows(board: str | None = None, home: Path | None = None) -> list[dict]:
    """The most recent result row of every cell (later runs replace earlier ones)."""
    cells: dict[tuple, dict] = {}
    for d in run_dirs(home):
        manifest = json.loads((d / "manifest.json").read_text())
        for row in read_jsonl(d / "results.jsonl"):
            if board is None or row["board"] == board:
                cells[tuple(row[k] for k in CELL)] = {**row, "run": manifest["run"]}
    return sorted(cells.values(), key=lambda r: tuple(str(r[k]) for k in CELL))


def reference_board(board: str, home: Path | None = None):
    """The board as its runs last configured it: data, generation, scorer and eval from the latest
    run; each model, method and attack entry from the latest run that had it. ``None`` without runs."""
    from bench.board.load import Board, read_yaml
    from bench.board.typed import from_dict

    merged: dict | None = None
    for d in run_dirs(home):
        if (
            json.loads((d / "manifest.json").read_text())["board"] != board
            or not (d / "config.yaml").is_file()
        ):
            continue
        cfg = read_yaml(d / "config.yaml")
        if merged is None:
            merged = {**cfg, "models": {}, "methods": {}, "attacks": {}}
        merged.update({k: v for k, v in cfg.items() if k not in ("models", "methods", "attacks")})
        merged["models"].update({m.get("label") or m["name"]: m for m in cfg.get("models", [])})
        merged["methods"].update(cfg.get("methods") or {})
        merged["attacks"].update(cfg.get("attacks") or {})
    if merged is None:
        return None
    merged["models"] = list(merged["models"].values())
    return from_dict(Board, merged, "", f"runs of board {board}")


def mark_stale(rows: list[dict], home: Path | None = None) -> list[dict]:
    """Each row with ``stale``: True when the config hash it carries is not the one the board's
    current configuration (:func:`reference_board`) gives its cell, or it carries none."""
    from bench.record.cell_key import config_hash

    refs: dict[str, object] = {}
    out = []
    for row in rows:
        if row["board"] not in refs:
            refs[row["board"]] = reference_board(row["board"], home)
        ref = refs[row["board"]]
        spec = next((m for m in ref.models if m.label == row["model"]), None) if ref else None
        want = None if spec is None else config_hash(ref, spec, row["method"], row["attack"])
        out.append({**row, "stale": row.get("config_hash") is None or row.get("config_hash") != want})
    return out


def runs_behind(rows: list[dict], home: Path | None = None, known: dict | None = None) -> dict:
    """What the runs that produced ``rows`` were: their seeds, how many runs, their commits (in
    run order, each with its number of runs), the first and last run, and package versions that
    differ between runs. A leaderboard merged from many runs (a grid) reports all of them, not
    only the latest run's settings. The manifests come from the store, or from ``known`` (run id
    to manifest, as the committed results hold them) when it is given."""
    ids = sorted({r["run"] for r in rows if r.get("run")})
    manifests = []
    for run in ids:
        if known is not None:
            if run in known:
                manifests.append(known[run])
            continue
        f = (home or Store().home) / "runs" / run / "manifest.json"
        if f.is_file():
            manifests.append(json.loads(f.read_text()))
    commits: dict[str, int] = {}
    names = {k for m in manifests for k in (m.get("versions") or {})}
    versions: dict[str, set] = {k: set() for k in names}
    for m in manifests:
        c = (m.get("commit") or "unknown")[:12]
        commits[c] = commits.get(c, 0) + 1
        for k in names:
            versions[k].add((m.get("versions") or {}).get(k, "absent"))
    return {
        "seeds": sorted({r["seed"] for r in rows}),
        "runs": ids,
        "manifests": manifests,
        "commits": commits,
        "devices": sorted({m.get("device", "?") for m in manifests}),
        "differing_packages": {k: sorted(v) for k, v in sorted(versions.items()) if len(v) > 1},
    }


def latest_manifest(board: str, home: Path | None = None) -> dict | None:
    for d in reversed(run_dirs(home)):
        m = json.loads((d / "manifest.json").read_text())
        if m["board"] == board:
            return m
    return None


def board_known(name: str, home: Path | None = None) -> bool:
    """A built-in board, a board file, or a board some run was recorded under."""
    from bench.board.load import board_path
    from bench.errors import BenchError

    try:
        board_path(name)
        return True
    except BenchError:
        return latest_manifest(name, home) is not None


def results_frame(board: str | None = None, home: Path | None = None):
    """A ``pandas.DataFrame`` of :func:`latest_rows`: cell columns, one column per metric and
    ``<metric>_lo`` / ``<metric>_hi`` for its 95% interval."""
    import pandas as pd

    flat = []
    for row in latest_rows(board, home):
        rec = {k: row[k] for k in CELL}
        for k, v in row["metrics"].items():
            rec[k] = v
        for k, (lo, hi) in row.get("ci95", {}).items():
            rec[f"{k}_lo"], rec[f"{k}_hi"] = lo, hi
        rec["run"] = row["run"]
        flat.append(rec)
    return pd.DataFrame(flat)


# ---------------------------------------------------------------------------------------------
# The committed form of a board's results: what ``bench leaderboard`` renders, without the store.

RESULTS_DIR = "results"  # beside LEADERBOARD.md: leaderboards/<board>/results/
ROWS_FILE, RUNS_FILE = "rows.jsonl.gz", "runs.json"
FORMAT = 1
# what a committed run record keeps of its manifest: no store keys, no paths of the machine
MANIFEST_KEYS = ("run", "board", "commit", "versions", "device", "executor", "machine", "python", "seconds")
# what the leaderboard reads of the configuration of the run its provenance names
CONFIG_KEYS = ("description", "generation", "scorer", "claims")


def committed_manifest(manifest: dict, config: dict | None = None) -> dict:
    """A run's manifest as the committed results keep it: its identity, commit, package versions,
    device and time, the board file by name only, and the seeds its configuration ran; the stage
    list (store keys) and the absolute path of the board file stay in the local record."""
    out = {k: manifest[k] for k in MANIFEST_KEYS if k in manifest}
    if manifest.get("board_file"):
        out["board_file"] = Path(manifest["board_file"]).name
    if config is not None:
        out["seeds"] = config.get("seeds")
    return out


def normalized(obj):
    """``obj`` as it reads back from JSON (keys sorted, tuples as lists): the leaderboard renders
    from this both from the store and from the committed results, so the two give the same bytes."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def write_committed(folder: Path, inputs: dict) -> Path:
    """Write a leaderboard's inputs (:func:`bench.report.leaderboard.leaderboard_inputs`) as ``folder/rows.jsonl.gz``
    (one row a line, keys sorted, gzip with no name and a fixed time, so the same rows give the
    same bytes) and ``folder/runs.json`` (everything else: board, board file, prompt count, the
    provenance run's configuration and every run record behind the rows). Returns ``folder``."""
    import gzip
    import io
    import os

    rows = inputs["rows"]
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    meta = {k: v for k, v in inputs.items() if k != "rows"}
    meta = {"format": FORMAT, "rows": {"file": ROWS_FILE, "count": len(rows)}, **meta}
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (
        (ROWS_FILE, buf.getvalue()),
        (RUNS_FILE, (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode("utf-8")),
    ):
        tmp = folder / f".{name}.{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / name)
    return folder


def read_committed(folder: Path) -> dict:
    """The leaderboard's inputs from a committed results folder (:func:`write_committed`)."""
    import gzip

    from bench.errors import BenchError

    runs = folder / RUNS_FILE
    if not runs.is_file():
        raise BenchError(f"no committed results in {folder}: {RUNS_FILE} is missing")
    try:
        meta = json.loads(runs.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise BenchError(f"{runs}: format {found!r}, this version reads format {FORMAT}")
        spec = meta.pop("rows")
        meta.pop("format")
        with gzip.open(folder / spec["file"], "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        meta["board"]  # noqa: B018 (a committed folder names its board)
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:  # damaged, cut short, not ours
        raise BenchError(
            f"{folder} is not a results folder bench can read ({type(e).__name__}: {e}); "
            "write it again with `bench leaderboard`"
        ) from None
    if len(rows) != spec["count"]:
        raise BenchError(f"{folder / spec['file']}: {len(rows)} rows, {runs} says {spec['count']}")
    return {**meta, "rows": rows}


def committed_rows(folder: Path) -> list[dict]:
    """The current rows (not stale) of a committed results folder, or none when it has none."""
    if not (folder / RUNS_FILE).is_file():
        return []
    return [r for r in read_committed(folder)["rows"] if not r.get("stale")]
