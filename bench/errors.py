"""User-facing errors: the CLI prints them as one line and exits with code 2 for bad input
(``BenchError``) and 1 for a run that lost the machines computing it (``LostRun``)."""

from __future__ import annotations

import difflib


class BenchError(Exception):
    """An expected error caused by input (a board, a flag, a file); its message carries the fix."""


class LostRun(Exception):
    """A run stopped because everything computing it was lost (every Ray lane, say); what it
    finished is in the store and a rerun resumes from it."""


def did_you_mean(name: str, known: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(kind: str, name: str, known: list[str] | set[str]) -> BenchError:
    """``Unknown method 'rpeo'. Known: dpo, none, repo. Did you mean 'repo'?``"""
    return BenchError(
        f"Unknown {kind} '{name}'. Known: {', '.join(sorted(known))}.{did_you_mean(name, known)}"
    )
