"""A default run on the newest releases that ``pyproject.toml`` allows prints no deprecation warning
from the project's own calls.

CI installs the pinned set (``constraints.txt``), so it never sees what the next transformers
deprecates. This check runs where the newest releases are installed, before the pins are
refreshed (``constraints.txt`` says how) and whenever a bound in ``pyproject.toml`` is raised:

    python -m venv /tmp/newest-venv && . /tmp/newest-venv/bin/activate
    pip install torch==2.13.0 && pip install -e .   # no -c: the newest releases within the bounds
    python perf/check_newest.py

It runs the README's command (``bench run --method repo --attacks gcg,relearn``) with the tests'
small settings (``SMALL`` in ``tests/conftest.py``: seconds, not minutes, and the same code paths)
in this process, in a fresh ``BENCH_HOME``, and records

* every ``DeprecationWarning``, ``PendingDeprecationWarning`` and ``FutureWarning`` (each
  occurrence, not only the first per line as Python prints them);
* every message of ``transformers``' logger that says "deprecated" (it logs some deprecations,
  once per process, instead of warning; a run sets its verbosity to errors only, which this check
  lifts to warnings);

and charges each to the project's call that led to it: the innermost caller on the stack outside
the standard library and the installed libraries, or the line the warning names where that is a
project file. The line a warning names is not enough: a deprecated argument passed to a model's
``forward`` names the line of a transformers wrapper that ``torch.nn.Module.__call__`` went
through, not the project's line that passed it.

It prints them all, with the project's line and the printed one, and exits 1 if any was charged
to the project's own files (``bench/``, ``methods/``, ``attacks/``, ``leaderboards/``), or if the
run fails. A deprecation that only other libraries' code reaches is listed and does not fail the
check; one inside a library that a project call reaches is charged to that call (the message says
which function is deprecated: judge from it).
"""

from __future__ import annotations

import argparse
import ast
import collections
import logging
import os
import sys
import sysconfig
import tempfile
import traceback
import warnings
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tuple(str(ROOT / d) + os.sep for d in ("bench", "methods", "attacks", "leaderboards"))
LIBRARIES = tuple(
    {
        str(Path(p).resolve()) + os.sep
        for k in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(k))
    }
)
DEPRECATION = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
ARGS = ["run", "--method", "repo", "--attacks", "gcg,relearn"]
PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "huggingface_hub", "numpy", "pandas")


def small_sets() -> list[str]:
    """``--set`` arguments for the tests' small settings, read from ``tests/conftest.py`` (not
    imported: it needs pytest, which a user's install does not have)."""
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SMALL" for t in node.targets):
            return [a for s in ast.literal_eval(node.value) for a in ("--set", s)]
    raise SystemExit("tests/conftest.py has no SMALL list")


def ours(filename: str) -> bool:
    return not filename.startswith("<") and str(Path(filename).resolve()).startswith(PROJECT)


def where(filename: str, line: int) -> str:
    """``filename:line``, relative to the repository for the project's own files."""
    path = os.path.relpath(str(Path(filename).resolve()), ROOT) if ours(filename) else filename
    return f"{path}:{line}"


def first_caller() -> tuple[str, int]:
    """The innermost frame on the current stack that is not in the standard library, an installed
    library or this script: the code that called into the library that warns or logs."""
    here = str(Path(__file__).resolve())
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<"):  # frozen modules (importlib) are library code
            path = str(Path(name).resolve())
            if not path.startswith(LIBRARIES) and path != here:
                return name, frame.f_lineno
        frame = frame.f_back
    return "<no caller outside the libraries>", 0


def charge(category, message, filename: str, lineno: int) -> tuple | None:
    """A deprecation warning as (kind, the project's call: file and line, printed at: file and line,
    message), charged to the line it names where that is a project file, else to the innermost
    project caller on the stack (:func:`first_caller`); None for any other warning."""
    if not issubclass(category, DEPRECATION):
        return None
    caller = (filename, lineno) if ours(filename) else first_caller()
    return (category.__name__, *caller, filename, lineno, str(message))


def charged_to_us(counts: dict) -> dict:
    """The recorded warnings (with their counts) whose call is in the project's own files."""
    return {k: n for k, n in counts.items() if ours(k[1])}


class DeprecationLog(logging.Handler):
    """Records ``transformers``' log messages that say something is deprecated."""

    def __init__(self, found: list) -> None:
        super().__init__(logging.WARNING)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "deprecat" in message.lower():
            caller = first_caller()
            self.found.append(("log " + record.name, *caller, record.pathname, record.lineno, message))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", help="BENCH_HOME for the run (default: a fresh temporary folder)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="more KEY=VALUE overrides")
    args = ap.parse_args()
    print("installed: " + ", ".join(f"{p} {version(p)}" for p in PACKAGES))

    home = args.home or tempfile.mkdtemp(prefix="check-newest-")
    os.environ["BENCH_HOME"] = home
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    # a run keeps transformers to errors only (bench/modeling.py, quiet_transformers): lift that
    # to warnings, or the deprecations it logs would not reach the handler
    os.environ["TRANSFORMERS_VERBOSITY"] = "warning"
    found: list[tuple] = []  # (kind, the project's call: file, line, printed at: file, line, message)

    def record(message, category, filename, lineno, file=None, line=None):
        entry = charge(category, message, filename, lineno)
        if entry is not None:
            found.append(entry)

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    handler = DeprecationLog(found)
    hf_logging.get_logger().addHandler(handler)  # the library's root logger: all its modules

    from bench.cli import main as bench

    sets = [a for s in args.sets for a in ("--set", s)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # every occurrence, including DeprecationWarning
            warnings.showwarning = record  # restored when the block ends
            rc = bench([*ARGS, *small_sets(), *sets])
    except Exception:  # what was recorded up to the failure is still listed
        traceback.print_exc()
        rc = "an exception (above)"
    finally:
        hf_logging.get_logger().removeHandler(handler)

    counts = collections.Counter(found)
    charged = charged_to_us(counts)
    print(f"\n{sum(counts.values())} deprecation warnings ({len(counts)} distinct) in the run:")
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        kind, caller, printed, message = key[0], where(*key[1:3]), where(*key[3:5]), key[5]
        at = caller if caller == printed else f"{caller} (printed at {printed})"
        print(
            f"{'OURS ' if key in charged else '     '}{n:4d}x {kind} from {at}: {message.splitlines()[0][:200]}"
        )
    if rc != 0:
        print(f"\nFAIL: the run ended with {rc}")
        return 1
    if charged:
        print(f"\nFAIL: {sum(charged.values())} deprecation warnings from the project's own calls")
        return 1
    print("\nOK: no deprecation warning from the project's own calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
