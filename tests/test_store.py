"""The content-addressed store: stable keys, atomic publish, resume records, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest

from bench.store import Store, append_jsonl, make_key, read_jsonl, resume_jsonl


def test_keys_are_stable_and_order_free():
    assert make_key(a=1, b={"x": [1, 2]}) == make_key(b={"x": [1, 2]}, a=1)
    assert make_key(a=1) != make_key(a=2)


def test_failed_make_publishes_nothing(tmp_path):
    store = Store(tmp_path)

    def boom(tmp, partial):
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.get_or_make("gen", "k1", boom)
    assert not store.has("gen", "k1")
    assert not any((tmp_path / "store" / ".tmp").iterdir())


def test_second_call_is_cached(tmp_path):
    store = Store(tmp_path)
    calls = []

    def make(tmp, partial):
        calls.append(1)
        (tmp / "x.txt").write_text("ok")

    p1, c1 = store.get_or_make("gen", "k", make)
    p2, c2 = store.get_or_make("gen", "k", make)
    assert (c1, c2) == (False, True) and p1 == p2 and len(calls) == 1
    assert (p1 / "x.txt").read_text() == "ok"


def test_partial_records_survive_a_failure_and_are_resumed(tmp_path):
    store = Store(tmp_path)
    seen = []

    def make(tmp, partial):
        done = {r["i"] for r in resume_jsonl(partial / "items.jsonl")}
        seen.append(sorted(done))
        for i in range(4):
            if i not in done:
                append_jsonl(partial / "items.jsonl", [{"i": i}])
                if i == 1 and len(seen) == 1:
                    raise RuntimeError("crash after item 1")

    with pytest.raises(RuntimeError):
        store.get_or_make("gen", "r", make)
    store.get_or_make("gen", "r", make)
    assert seen == [[], [0, 1]]


def test_torn_last_line_is_dropped(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"i": 0}\n{"i": 1}\n{"i": 2')
    assert [r["i"] for r in resume_jsonl(p)] == [0, 1]
    append_jsonl(p, [{"i": 2}])
    assert [r["i"] for r in read_jsonl(p)] == [0, 1, 2]


def _worker(home, q):
    store = Store(home)

    def make(tmp, partial):
        with open(home / "count.txt", "a") as fh:
            fh.write(f"{os.getpid()}\n")
        (tmp / "v.txt").write_text("value")

    path, cached = store.get_or_make("gen", "shared", make)
    q.put((path.read_text() if path.is_file() else (path / "v.txt").read_text(), cached))


def test_concurrent_processes_compute_once(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(tmp_path, q)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    results = [q.get(timeout=5) for _ in procs]
    assert all(v == "value" for v, _ in results)
    assert sum(not cached for _, cached in results) == 1
    assert len((tmp_path / "count.txt").read_text().split()) == 1


def test_a_corrupt_line_in_a_finished_file_is_an_error_naming_file_and_line(tmp_path):
    from bench.errors import BenchError

    p = tmp_path / "results.jsonl"
    p.write_text('{"i": 0}\n{"i": 1\n{"i": 2}\n{"i": 3}\n')
    with pytest.raises(BenchError, match=r"results\.jsonl:2: corrupt line"):
        read_jsonl(p)  # before: rows 2 and 3 vanished without a word
    p.write_text('{"i": 0}\n{"i": 1}\n{"i": 2')  # torn last line of a finished file: still an error
    with pytest.raises(BenchError, match=r":3: corrupt line"):
        read_jsonl(p)


def test_a_corrupt_middle_record_of_a_partial_stage_is_skipped_with_a_warning(tmp_path, capsys):
    p = tmp_path / "items.jsonl"
    p.write_text('{"i": 0}\n#garbage\n{"i": 2}\n{"i": 3')
    assert [r["i"] for r in resume_jsonl(p)] == [0, 2]  # item 1 and the torn item 3 are redone
    assert "items.jsonl:2: unreadable record skipped" in capsys.readouterr().err
    assert [r["i"] for r in read_jsonl(p)] == [0, 2]  # the file was rewritten clean
