"""The suite's own machinery: a session fixture built once for all pytest-xdist workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import built_once


class _Factory:
    """A stand-in for pytest's tmp_path_factory whose shared root is a test folder."""

    def __init__(self, root: Path):
        self.base = root / "pytest-7" / "popen-gw0"
        self.base.mkdir(parents=True)

    def getbasetemp(self) -> Path:
        return self.base


def test_built_once_is_built_by_one_worker_and_read_by_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    factory, calls = _Factory(tmp_path), []

    def build(folder):
        calls.append(folder)
        (folder / "home").mkdir()
        return [str(folder / "home"), 1.5]

    first = built_once(factory, "e2e", build)
    again = built_once(factory, "e2e", build)  # another worker: same shared root
    assert first == again == [str(tmp_path / "pytest-7" / "e2e" / "home"), 1.5]
    assert len(calls) == 1


def test_a_failed_build_fails_the_other_workers_without_building_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    factory, calls = _Factory(tmp_path), []

    def build(folder):
        calls.append(folder)
        raise AssertionError("bench run exited 1: no space left")

    with pytest.raises(AssertionError, match="no space left"):
        built_once(factory, "e2e", build)
    with pytest.raises(pytest.fail.Exception, match="(?s)failed to build on another worker:.*no space left"):
        built_once(factory, "e2e", build)
    assert len(calls) == 1


def test_without_xdist_each_session_builds_in_its_own_folder(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    folders = []
    built_once(tmp_path_factory, "solo", lambda folder: folders.append(folder))
    assert len(folders) == 1 and folders[0].is_dir() and folders[0].parent == tmp_path_factory.getbasetemp()
