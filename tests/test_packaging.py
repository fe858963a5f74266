"""A non-editable install maps methods/, attacks/ and leaderboards/ under ``bench`` and claims
no generic top-level names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_non_editable_install_layout(tmp_path):
    target = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    top = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert top <= {"bench", "bin"}, top  # no top-level `methods`, `attacks` or `leaderboards`
    code = (
        "import bench.methods.repo, bench.attacks.gcg\n"
        "from bench.board.load import board_path\n"
        "p = board_path('tiny'); assert p.is_file() and 'site' in str(p), p\n"
        "import bench.methods; assert 'site' in bench.methods.__file__\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
