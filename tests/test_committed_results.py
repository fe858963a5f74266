"""A board rebuildable from the repository: `bench leaderboard` writes, beside LEADERBOARD.md, the
compact form of everything it rendered from (``results/rows.jsonl.gz`` and ``results/runs.json``),
and renders the same markdown from that folder alone, with no store."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "leaderboards" / "tiny" / "results"
METHODS = ("none", "oracle", "dpo", "npo", "repo")
ATTACKS = ["relearn", "gcg", "gcg_enhanced"]
WEIGHTS = b"SENTINEL-WEIGHTS-" + bytes(range(256)) * 4
N_PROMPTS = 7


def _grid_store(home: Path) -> None:
    """A store as the grid leaves it, without computing: one run record per (method, seed) (the
    rows of ``tests/test_claims._rows``), a generations file of ``N_PROMPTS`` prompts behind the
    unattacked rows, model weights that a run's manifest names, and one stale row."""
    from bench.board.load import load_plan
    from bench.record.cell_key import config_hash
    from bench.run.local import write_record
    from bench.store import Store
    from tests.test_claims import _rows

    store = Store(home)
    gen = store.path("gen", "a" * 24)
    gen.mkdir(parents=True)
    (gen / "generations.jsonl").write_text("".join(f'{{"prompt": {i}}}\n' for i in range(N_PROMPTS)))
    weights = store.path("method", "b" * 24)
    weights.mkdir(parents=True)
    (weights / "model.safetensors").write_bytes(WEIGHTS)
    rows = _rows(seeds=(0, 1))
    for method in METHODS:
        for seed in (0, 1):
            plan = load_plan("tiny", methods=[method], attacks=ATTACKS, sets=[f"seeds=[{seed}]"])
            spec = plan.board.models[0]
            mine = [
                {
                    **r,
                    "board": "tiny",
                    "model": spec.label,
                    "config_hash": config_hash(plan.board, spec, method, r["attack"]),
                    "ci95": {"toxic_rate": [r["metrics"]["toxic_rate"] / 2, r["metrics"]["toxic_rate"]]},
                    "keys": {"generations": "a" * 24, "model": "b" * 24},
                }
                for r in rows
                if r["method"] == method and r["seed"] == seed
            ]
            if method == "npo" and seed == 1:  # computed under a configuration the board no longer has
                mine[-1]["config_hash"] = "0" * 12
            stages = [{"stage": "method", "key": "b" * 24, "label": method, "seconds": 1.5, "cached": False}]
            write_record(plan, store, mine, stages, "cpu", 2.0)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_leaderboard_renders_the_same_markdown_from_its_committed_results(tmp_path, monkeypatch):
    """Render from a store, then from the results folder alone under an empty ``BENCH_HOME``
    (named, and as the fallback of a checkout whose store has no result of the board): the same
    markdown, the same findings block in the checkout's README, the same committed bytes."""
    from bench.record.runs import latest_rows
    from bench.report.findings import begin, block, end, findings
    from bench.report.leaderboard import write_leaderboard

    home = tmp_path / "store"
    monkeypatch.setenv("BENCH_HOME", str(home))
    _grid_store(home)
    first = write_leaderboard("tiny", out=str(tmp_path / "a" / "tiny"))
    text = first.read_text(encoding="utf-8")
    # what must survive the round trip is there to begin with
    assert f"- **prompts**: {N_PROMPTS} evaluation prompts\n" in text
    assert "- **seeds**: 0, 1\n" in text and "- **runs**: 10 run records" in text
    assert "## Stale rows (excluded)" in text and "| 000000000000 |" in text and "base 0.600" in text
    committed = first.parent / "results"
    assert sorted(_files(committed)) == ["rows.jsonl.gz", "runs.json"]

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "empty"))
    second = write_leaderboard("tiny", out=str(tmp_path / "b" / "tiny"), from_results=str(committed))
    assert second.read_text(encoding="utf-8") == text
    assert _files(second.parent / "results") == _files(committed)  # same rows, same bytes
    header = _files(committed)["rows.jsonl.gz"][:10]
    assert header[3] == 0 and header[4:8] == bytes(4)  # no file name, no time stamp: reproducible

    # a fresh checkout: committed results, a README with the board's block, no store
    checkout = tmp_path / "checkout"
    shutil.copytree(committed, checkout / "leaderboards" / "tiny" / "results")
    (checkout / "README.md").write_text(f"# prose\n\n{block('tiny', ['stale 9.99'])}\n")
    monkeypatch.chdir(checkout)
    third = write_leaderboard("tiny")  # no rows in the store: the committed results stand in
    assert third.resolve() == (checkout / "leaderboards" / "tiny" / "LEADERBOARD.md").resolve()
    assert third.read_text(encoding="utf-8") == text
    current = [r for r in latest_rows("tiny", home) if r["config_hash"] != "0" * 12]
    expected = block("tiny", findings(current, _claims_of_runs(committed)))
    readme = (checkout / "README.md").read_text()
    assert readme[readme.index(begin("tiny")) : readme.index(end("tiny")) + len(end("tiny"))] == expected
    assert "stale 9.99" not in readme and expected in text


def _claims_of_runs(folder: Path) -> dict:
    return json.loads((folder / "runs.json").read_text())["config"].get("claims") or {}


def test_the_committed_results_hold_no_weights_and_no_path_of_the_machine(tmp_path, monkeypatch):
    """The compact form is rows and run records only: no store artifact (the weights a run
    computed), no absolute path (the store's, the board file's), small enough to commit."""
    from bench.report.leaderboard import write_leaderboard

    home = tmp_path / "store"
    monkeypatch.setenv("BENCH_HOME", str(home))
    _grid_store(home)
    folder = write_leaderboard("tiny", out=str(tmp_path / "lb")).parent / "results"
    files = _files(folder)
    assert sorted(files) == ["rows.jsonl.gz", "runs.json"]
    rows = gzip.decompress(files["rows.jsonl.gz"])
    texts = [rows, files["runs.json"]]
    for raw in texts:
        assert WEIGHTS[:20] not in raw and b"safetensors" not in raw
        assert str(tmp_path).encode() not in raw and str(ROOT).encode() not in raw
    strings: list[str] = []

    def walk(obj) -> None:
        if isinstance(obj, dict):
            strings.extend(map(str, obj))
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str):
            strings.append(obj)

    walk(json.loads(files["runs.json"]))
    for line in rows.decode().splitlines():
        walk(json.loads(line))
    assert not [s for s in strings if s.startswith(("/", "~")) or s[1:3] == ":\\"]
    runs = json.loads(files["runs.json"])["runs"]
    assert len(runs) == 10 and all(m["board_file"] == "board.yaml" for m in runs.values())
    assert all("stages" not in m for m in runs.values())
    assert sum(map(len, files.values())) < 100_000


def test_the_committed_tiny_board_is_what_its_committed_results_render(tmp_path, monkeypatch):
    """`bench leaderboard tiny --from-results --out TMP` in a fresh clone (no store) reproduces the
    committed ``leaderboards/tiny/LEADERBOARD.md`` byte for byte (the figures are rendered too, but
    PNG bytes depend on the matplotlib version, so only the markdown is compared). Skipped while
    ``leaderboards/tiny/results/`` is not committed: the board committed before this form existed
    was rendered from a local store; a later session regenerates the board (``perf/grid.py``, then
    ``bench leaderboard tiny``) and commits the folder with the markdown, and from then on this
    test fails whenever the markdown and the results it claims to come from disagree."""
    if not (COMMITTED / "runs.json").is_file():
        pytest.skip(
            "leaderboards/tiny/results/ is not committed yet: regenerate the tiny board with "
            "`python perf/grid.py --seeds 5 --out leaderboards/tiny` and commit the folder"
        )
    from bench.cli import main

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "empty"))
    monkeypatch.chdir(ROOT)
    out = tmp_path / "tiny"
    assert main(["leaderboard", "tiny", "--from-results", "--out", str(out)]) == 0
    expected = (ROOT / "leaderboards" / "tiny" / "LEADERBOARD.md").read_text(encoding="utf-8")
    assert (out / "LEADERBOARD.md").read_text(encoding="utf-8") == expected, (
        "the committed LEADERBOARD.md is not what leaderboards/tiny/results renders: run "
        "`bench leaderboard tiny --from-results` and commit the markdown with the results"
    )


def test_a_results_folder_of_another_board_or_format_is_refused(tmp_path, monkeypatch):
    from bench.errors import BenchError
    from bench.record.runs import read_committed
    from bench.report.leaderboard import write_leaderboard

    home = tmp_path / "store"
    monkeypatch.setenv("BENCH_HOME", str(home))
    _grid_store(home)
    folder = write_leaderboard("tiny", out=str(tmp_path / "lb")).parent / "results"
    with pytest.raises(BenchError, match="holds board 'tiny', not 'gpt2-medium'"):
        write_leaderboard("gpt2-medium", out=str(tmp_path / "x"), from_results=str(folder))
    meta = json.loads((folder / "runs.json").read_text())
    (folder / "runs.json").write_text(json.dumps({**meta, "rows": {**meta["rows"], "count": 3}}))
    with pytest.raises(BenchError, match="rows, .* says 3"):
        read_committed(folder)
    (folder / "runs.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(BenchError, match="format 99"):
        read_committed(folder)
    # a damaged folder is one line, not a traceback: cut JSON, a list, a missing or cut rows file
    rows_file = folder / meta["rows"]["file"]
    good = rows_file.read_bytes()
    for runs_text, rows_bytes in (
        ("{", good),
        ("[]", good),
        (json.dumps(meta), None),
        (json.dumps(meta), good[: len(good) // 2]),
    ):
        (folder / "runs.json").write_text(runs_text)
        if rows_bytes is None:
            rows_file.unlink(missing_ok=True)
        else:
            rows_file.write_bytes(rows_bytes)
        with pytest.raises(BenchError, match="not a results folder bench can read|format 'list'"):
            read_committed(folder)
