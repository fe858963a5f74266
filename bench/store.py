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
import time
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
    def lock(self, stage: str, key: str, on_wait=None) -> Iterator[None]:
        """Hold the artifact's lock; ``on_wait(holder)`` is called once if another process holds it.
        The holder's pid and start time are in the lock file; the holder removes the file on release
        (so an interrupted run leaves none behind)."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        path = locks / f"{stage}-{key}.lock"
        while True:
            fh = open(path, "a+")  # noqa: SIM115 (closed below)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    fh.seek(0)
                    on_wait(fh.read().strip() or "another process")
                    on_wait = None
                fcntl.flock(fh, fcntl.LOCK_EX)
            if _still_the_lock(path, fh):
                break  # the lock file still in place: ours
            fh.close()  # its holder removed it while we waited: lock the new one
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} (since {time.strftime('%H:%M:%S')})\n")
            fh.flush()
            yield
        finally:
            if _still_the_lock(path, fh):  # never another holder's file
                path.unlink(missing_ok=True)
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def try_lock_and_remove(self, stage: str, key: str, path: Path) -> bool:
        """Remove ``path`` if no process holds the lock of (stage, key); True if removed."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        lock = locks / f"{stage}-{key}.lock"
        with open(lock, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                if not _still_the_lock(
                    lock, fh
                ):  # its holder replaced it meanwhile: someone may hold the new one
                    return False
                shutil.rmtree(path, ignore_errors=True)
                lock.unlink(missing_ok=True)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return True

    def get_or_make(
        self,
        stage: str,
        key: str,
        make: Callable[[Path, Path], dict | None],
        meta: dict | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> tuple[Path, bool]:
        """Return ``(folder, cached)``; ``make(tmp_dir, partial_dir)`` fills a new artifact.

        ``partial_dir`` survives a crash so ``make`` can append per-item records and resume; an
        interrupt that leaves it empty removes it. ``on_wait(holder)`` is told when another process
        is computing the same artifact; the seconds spent waiting for it are ``self.waited``.
        """
        self.waited = 0.0
        final = self.path(stage, key)
        self.total_waited = getattr(self, "total_waited", 0.0)
        if final.is_dir():
            return final, True
        t0 = time.time()

        def told(holder: str) -> None:
            if on_wait is not None:
                on_wait(holder)

        with self.lock(stage, key, told):
            waited = time.time() - t0
            self.total_waited += waited
            if final.is_dir():  # another process published it while we waited
                self.waited = time.time() - t0
                self.total_waited += self.waited
                return final, True
            tmp = self.root / ".tmp" / f"{stage}-{key}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True)
            partial = self.partial(stage, key)
            try:
                info = make(tmp, partial) or {}
                write_json(tmp / "_artifact.json", {"stage": stage, "key": key, **(meta or {}), **info})
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
                _remove_if_empty(partial)
            shutil.rmtree(partial, ignore_errors=True)
            _remove_if_empty(partial)  # the stage's .partial folder, once no stage resumes there
        self.waited = waited  # set last: a stage computed inside ``make`` set it for itself
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


def _still_the_lock(path: Path, fh) -> bool:
    """Whether the file ``fh`` locked is still the lock file at ``path`` (a holder removes its lock
    file when it releases it; a process that locked the removed file holds nothing)."""
    try:
        return os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
    except FileNotFoundError:
        return False


def _remove_if_empty(folder: Path) -> None:
    """An empty partial folder (a stage interrupted before it recorded anything) and its parent
    ``.partial`` when that is empty too: a Ctrl-C leaves nothing a rerun could not recreate."""
    for d in (folder, folder.parent):
        try:
            d.rmdir()  # only an empty folder is removed
        except FileNotFoundError:
            continue
        except OSError:
            return


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
    """Crash-test hook: SIGKILL this process when ``BENCH_FAULT`` names ``point`` (SIGINT, what
    Ctrl-C sends, with ``BENCH_FAULT_SIGNAL=INT``).

    The reliability tests use it to kill a run at an exact place inside a long stage (a real
    SIGKILL, no cleanup runs; or an interrupt, whose cleanup must leave no empty partial folder or
    lock) and check that the rerun resumes and ends with the same results.
    """
    if os.environ.get("BENCH_FAULT") == point:
        import signal

        sig = signal.SIGINT if os.environ.get("BENCH_FAULT_SIGNAL") == "INT" else signal.SIGKILL
        os.kill(os.getpid(), sig)
