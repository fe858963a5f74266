"""Content-addressed artifact store under ``$BENCH_HOME`` (default ``./.bench``).

Layout::

    store/<stage>/<key>/             a finished artifact (immutable once published)
    store/<stage>/.partial/<key>/    per-item records of an unfinished stage (resume from here)
    store/.tmp/                      artifacts being written (never read)
    store/.locks/<stage>-<key>.lock  flock held while one process computes an artifact
    runs/<time>-<board>-<id>/        run records: config.yaml, manifest.json, results.jsonl

Publishing is ``os.rename`` of a finished temporary folder, so an artifact folder either does
not exist or is complete: a killed run never leaves a half artifact that a later run trusts.
Two processes wanting the same key serialise on its lock; the second finds it published.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def bench_home() -> Path:
    return Path(os.environ.get("BENCH_HOME", ".bench")).absolute()


def make_key(**parts: Any) -> str:
    """Stable hash of everything that determines an artifact."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def file_hash(path: str | Path) -> str:
    """sha256 of a file, or of every file under a folder (names and contents)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class Store:
    def __init__(self, home: Path | None = None):
        self.home = home or bench_home()
        self.root = self.home / "store"

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_dir()

    def partial(self, stage: str, key: str) -> Path:
        p = self.root / stage / ".partial" / key
        p.mkdir(parents=True, exist_ok=True)
        return p

    @contextlib.contextmanager
    def lock(self, stage: str, key: str) -> Iterator[None]:
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{stage}-{key}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def try_lock_and_remove(self, stage: str, key: str, path: Path) -> bool:
        """Remove ``path`` if no process holds the lock of (stage, key); True if removed."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{stage}-{key}.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                shutil.rmtree(path, ignore_errors=True)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return True

    def get_or_make(
        self, stage: str, key: str, make: Callable[[Path, Path], dict | None], meta: dict | None = None
    ) -> tuple[Path, bool]:
        """Return ``(folder, cached)``; ``make(tmp_dir, partial_dir)`` fills a new artifact.

        ``partial_dir`` survives a crash so ``make`` can append per-item records and resume.
        """
        final = self.path(stage, key)
        if final.is_dir():
            return final, True
        with self.lock(stage, key):
            if final.is_dir():  # another process published it while we waited
                return final, True
            tmp = self.root / ".tmp" / f"{stage}-{key}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True)
            try:
                partial = self.partial(stage, key)
                info = make(tmp, partial) or {}
                write_json(tmp / "_artifact.json", {"stage": stage, "key": key, **(meta or {}), **info})
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(self.root / stage / ".partial" / key, ignore_errors=True)
        return final, False

    def all_artifacts(self) -> Iterator[tuple[str, str, Path]]:
        if not self.root.is_dir():
            return
        for stage_dir in sorted(self.root.iterdir()):
            if stage_dir.name.startswith(".") or not stage_dir.is_dir():
                continue
            for art in sorted(stage_dir.iterdir()):
                if not art.name.startswith("."):
                    yield stage_dir.name, art.name, art


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path, partial: bool = False) -> list[dict]:
    """Rows of a JSONL file. A line that is not JSON is an error naming the file and line, so a
    corrupt artifact or results file never silently loses the rows after it.

    ``partial=True`` is for per-item records of an unfinished stage, which are only a cache of
    work done: a torn last line (a crash mid-append) is dropped quietly, and any other unreadable
    line is skipped with a warning (its item is simply computed again).
    """
    if not path.exists():
        return []
    with open(path, encoding="utf-8", errors="strict") as fh:
        lines = fh.read().split("\n")
    rows = []
    last = max((n for n, line in enumerate(lines) if line.strip()), default=-1)
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if not partial:
                from bench.errors import BenchError

                raise BenchError(
                    f"{path}:{n + 1}: corrupt line ({e.msg}); the file is damaged: remove its "
                    "artifact folder (or run record) and run again"
                ) from None
            if n != last:
                import sys

                print(
                    f"warning: {path}:{n + 1}: unreadable record skipped; it will be recomputed",
                    file=sys.stderr,
                )
            continue
        rows.append(row)
    return rows


def resume_jsonl(path: Path) -> list[dict]:
    """Rows already recorded in a partial-stage file; unreadable lines are dropped from it too."""
    rows = read_jsonl(path, partial=True)
    if path.exists():
        write_jsonl(path, rows)
    return rows


def append_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def fault(point: str) -> None:
    """Crash-test hook: SIGKILL this process when ``BENCH_FAULT`` names ``point``.

    The reliability tests use it to kill a run at an exact place inside a long stage (a real
    SIGKILL, no cleanup runs) and check that the rerun resumes and ends with the same results.
    """
    if os.environ.get("BENCH_FAULT") == point:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
