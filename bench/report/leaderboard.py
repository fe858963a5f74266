"""Writing a board's leaderboard: its inputs gathered from the store (or a committed ``results/``
folder), then ``LEADERBOARD.md``, its figures, the compact committed results and the README's
findings block, all rendered from the same rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.errors import BenchError
from bench.store import Store, file_hash, read_jsonl


class NoResults(BenchError):
    """The store holds no result of the board (so committed results may stand in)."""


def leaderboard_inputs(board: str) -> dict:
    """Everything ``bench leaderboard`` renders, gathered from the store (``BENCH_HOME``): the
    latest row of every cell (each marked stale or not), the runs behind them, the configuration
    of the run the provenance names, the board file's name and hash and the number of evaluation
    prompts. JSON-normal (:func:`bench.record.runs.normalized`): this is the committed form."""
    from bench.board.load import board_path, read_yaml
    from bench.record.runs import (
        CONFIG_KEYS,
        committed_manifest,
        latest_manifest,
        latest_rows,
        mark_stale,
        normalized,
    )

    home = Store().home
    try:
        path = board_path(board)
    except BenchError as err:  # a board run from a file elsewhere: find it through its runs
        manifest = latest_manifest(board)
        if manifest is None:  # the board's own error (unknown board), which committed results may answer
            raise NoResults(str(err)) from None
        path = Path(manifest["board_file"])
        if not path.is_file():
            path = home / "runs" / manifest["run"] / "config.yaml"
    name = read_yaml(path).get("name", board)
    marked = mark_stale(latest_rows(name))
    if not marked:
        raise NoResults(f"no results for board '{name}': run `bench run --board {board}` first")
    rows = [r for r in marked if not r["stale"]]
    ids = sorted({r["run"] for r in marked if r.get("run")})
    current = [
        run
        for run in sorted({r["run"] for r in rows if r.get("run")})
        if (home / "runs" / run / "manifest.json").is_file()
    ]
    # the record the rows came from when there is one; the board's latest run otherwise
    latest = latest_manifest(name) or {}
    chosen = current[0] if len(current) == 1 else latest.get("run", "")
    runs = {}
    for run in sorted({*ids, chosen} - {""}):
        d = home / "runs" / run
        if (d / "manifest.json").is_file():
            cfg = read_yaml(d / "config.yaml") if (d / "config.yaml").is_file() else None
            runs[run] = committed_manifest(json.loads((d / "manifest.json").read_text()), cfg)
    cfg_file = home / "runs" / chosen / "config.yaml"
    board_cfg = read_yaml(cfg_file) if chosen and cfg_file.is_file() else {}
    store = Store()
    prompts = sorted(
        {
            len(read_jsonl(store.path("gen", r["keys"]["generations"]) / "generations.jsonl"))
            for r in rows
            if r["attack"] == "none" and store.has("gen", r["keys"]["generations"])
        }
    )
    return normalized(
        {
            "board": name,
            "board_file": {"name": path.name, "sha256": file_hash(path)},
            "prompts": prompts,
            "manifest": chosen,
            "config": {k: board_cfg[k] for k in CONFIG_KEYS if k in board_cfg},
            "runs": runs,
            "rows": marked,
        }
    )


def cells_of(rows: list[dict]) -> set[tuple]:
    """The (model, method, attack, seed) cells of the current (not stale) rows."""
    return {(r["model"], r["method"], r["attack"], r["seed"]) for r in rows if not r.get("stale")}


def uncovered(store_rows: list[dict], folder: Path) -> list[tuple]:
    """The cells of the committed results in ``folder`` that the store's rows do not hold: a
    leaderboard rendered from the store would silently drop them (a one-seed smoke run rendered
    over a five-seed board)."""
    from bench.record.runs import RUNS_FILE, committed_rows

    if not (folder / RUNS_FILE).is_file():
        return []
    return sorted(cells_of(committed_rows(folder)) - cells_of(store_rows), key=str)


def write_leaderboard(
    board: str, out: str | None = None, from_results: str | None = None, replace: bool = False
) -> Path:
    """Write ``LEADERBOARD.md``, its figures and ``results/`` (the committed form of what it was
    rendered from, :func:`bench.record.runs.write_committed`) into ``out`` (default
    ``leaderboards/<board>``), from the store's results or, with ``from_results`` (a results
    folder; ``""``: ``leaderboards/<board>/results``), from committed results alone. Without
    ``from_results``, a store with no result of the board falls back on
    ``leaderboards/<board>/results`` when that exists. Both give the same markdown.

    The committed board is never overwritten by accident: rendered from the store into the default
    folder, a board whose committed results hold cells the store's runs do not cover (its seeds,
    its rows) is written to ``$BENCH_HOME/leaderboards/<board>`` instead, and the message says
    where; ``replace`` overwrites the committed board all the same."""
    import sys

    from bench.record.runs import RESULTS_DIR, RUNS_FILE, read_committed

    default = Path("leaderboards") / board / RESULTS_DIR

    def committed(folder: Path) -> dict:  # a committed folder must hold the board it is read for
        inputs = read_committed(folder)
        if inputs["board"] != board:
            raise BenchError(f"{folder} holds board '{inputs['board']}', not '{board}'")
        return inputs

    if from_results is None:
        try:
            inputs = leaderboard_inputs(board)
        except NoResults:
            if not (default / RUNS_FILE).is_file():
                raise
            print(
                f"no results of board '{board}' in the store: rendering the committed {default}",
                file=sys.stderr,
            )
            inputs = committed(default)
    else:
        inputs = committed(Path(from_results) if from_results else default)
    target = Path(out) if out else Path("leaderboards") / inputs["board"]
    default = target / RESULTS_DIR  # the committed folder of the board by its own name (a path argument too)
    if from_results is None and out is None and not replace:
        missing = uncovered([r for r in inputs["rows"] if not r["stale"]], default)
        if missing:
            target = Store().home / "leaderboards" / inputs["board"]
            print(
                f"the store's runs do not cover {len(missing)} cell(s) of the committed board in "
                f"{default.parent} (e.g. {'/'.join(map(str, missing[0]))}): left it as it is and wrote "
                f"this store's leaderboard to {target} (--replace overwrites the committed board)",
                file=sys.stderr,
            )
    return render_leaderboard(inputs, target)


def render_leaderboard(inputs: dict, out_dir: Path) -> Path:
    """The leaderboard of ``inputs`` (:func:`leaderboard_inputs` or the committed results) in
    ``out_dir``; the README of the checkout that holds ``out_dir`` gets the board's findings."""
    import datetime

    from bench.record.runs import RESULTS_DIR, runs_behind, write_committed
    from bench.report import figures, render
    from bench.report.findings import begin, findings, replace_block

    name, marked = inputs["board"], inputs["rows"]
    # rows computed under a configuration the board no longer has are listed, not mixed in
    rows = [r for r in marked if not r["stale"]]
    stale = [r for r in marked if r["stale"]]
    if not rows:
        raise BenchError(f"every result of board '{name}' is stale (its config changed): rerun it")
    behind = runs_behind(rows, known=inputs["runs"])
    manifest = inputs["runs"].get(inputs["manifest"], {})
    board_cfg = inputs["config"]
    gen, scorer = board_cfg.get("generation", {}), board_cfg.get("scorer", {})
    versions = manifest.get("versions", {})
    stamp = manifest.get("run", "")[:15]

    def when(stamp: str) -> str:
        try:
            return datetime.datetime.strptime(stamp, "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return "unknown"

    board_file = inputs["board_file"]
    prov = {
        "board": name,
        "description": " ".join(str(board_cfg.get("description", "")).split()),
        "board file": f"{board_file['name']} (sha256 {board_file['sha256'][:16]})",
        "scorer": f"{scorer.get('name', '?')} {json.dumps(scorer.get('config', {}), sort_keys=True)}",
        "prompts": f"{', '.join(map(str, inputs['prompts']))} evaluation prompts",
        "decoding": (
            (
                "greedy"
                if gen.get("num_samples", 1) == 1
                else f"sampled (temperature {gen.get('temperature')}, top-p {gen.get('top_p')})"
            )
            + f", {gen.get('max_new_tokens')} new tokens, k={gen.get('num_samples')}, backend {gen.get('backend')}"
        ),
        "seeds": ", ".join(str(s) for s in behind["seeds"]),
        "packages": ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + "".join(
            f"; ⚠ {k} differs between runs: {', '.join(v)}" for k, v in behind["differing_packages"].items()
        ),
        "commit": manifest.get("commit") or "unknown",
        "date": when(stamp),
        "device": ", ".join(behind["devices"]) or manifest.get("device", "?"),
    }
    if len(behind["runs"]) > 1:  # a grid: rows merged from many runs, each its own record
        first, last = behind["runs"][0], behind["runs"][-1]
        prov["commit"] = ", ".join(
            f"{c} ({n} run{'s' if n > 1 else ''})" for c, n in behind["commits"].items()
        )
        prov["runs"] = f"{len(behind['runs'])} run records, {when(first[:15])} to {when(last[:15])}"
    claims = board_cfg.get("claims") or {}
    # the README of the checkout that holds leaderboards/<board>/ carries the board's findings
    # block when it has the board's markers (an --out elsewhere leaves every README alone)
    readme = out_dir.resolve().parent.parent / "README.md"
    readme_text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    lines = findings(rows, claims)  # judged once: the leaderboard and the README carry the same block
    if begin(name) in readme_text:
        readme_text = replace_block(readme_text, name, lines, str(readme))
    out_dir.mkdir(parents=True, exist_ok=True)
    figs = figures(rows, out_dir)
    page = out_dir / "LEADERBOARD.md"
    drawn_before = (
        set(re.findall(r"!\[[^\]]*\]\(([^)/]+\.png)\)", page.read_text(encoding="utf-8")))
        if page.is_file()
        else set()
    )
    for old in drawn_before - set(figs):  # a figure the page drew before and no longer draws goes
        (out_dir / old).unlink(missing_ok=True)
    target = out_dir / "LEADERBOARD.md"
    target.write_text(render(rows, prov, figs, stale, claims, lines), encoding="utf-8")
    write_committed(out_dir / RESULTS_DIR, inputs)
    if begin(name) in readme_text:
        readme.write_text(readme_text, encoding="utf-8")
    return target
