"""``perf/check_newest.py`` charges each deprecation to the project's call that led to it: the line a
warning names when that is a project file, else the innermost caller outside the standard library
and the installed libraries. Checked on a fixture of frames compiled under a project path and under
the installed libraries' path (no file needs to exist: a frame's filename is what is read)."""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("check_newest", ROOT / "perf" / "check_newest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _compiled(path: Path, source: str, names: dict) -> dict:
    ns = {**names, "__file__": str(path)}
    exec(compile(source, str(path), "exec"), ns)
    return ns


def test_a_warning_inside_a_library_is_charged_to_the_project_call_that_reached_it():
    cn = _module()
    library = Path(sysconfig.get_paths()["purelib"]).resolve() / "fakelib" / "api.py"
    project = ROOT / "bench" / "fake_caller.py"
    lib = _compiled(
        library,
        "def deprecated():\n    return charge(FutureWarning, 'x is deprecated', __file__, 2)\n",
        {"charge": cn.charge},
    )
    ours = _compiled(project, "def call():\n    return deprecated()\n", {"deprecated": lib["deprecated"]})
    entry = ours["call"]()
    assert entry[0] == "FutureWarning" and entry[1:3] == (str(project), 2)  # the project's line
    assert entry[3:5] == (str(library), 2)  # and where it was printed
    assert cn.charged_to_us({entry: 3}) == {entry: 3}


def test_a_warning_that_names_a_project_line_is_charged_there_and_library_only_ones_are_not():
    cn = _module()
    named = cn.charge(DeprecationWarning, "old", str(ROOT / "methods" / "repo.py"), 7)
    assert named[1:3] == (str(ROOT / "methods" / "repo.py"), 7)
    library = Path(sysconfig.get_paths()["purelib"]).resolve() / "fakelib" / "inner.py"
    lib = _compiled(
        library, "def f():\n    return charge(FutureWarning, 'y', __file__, 2)\n", {"charge": cn.charge}
    )
    entry = lib["f"]()  # reached from this test, not from bench/, methods/, attacks/ or leaderboards/
    assert not cn.charged_to_us({entry: 1})
    assert cn.charge(UserWarning, "not a deprecation", str(ROOT / "bench" / "cli.py"), 1) is None
