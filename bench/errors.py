"""User-facing errors: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib


class BenchError(Exception):
    """An expected error caused by input (a board, a flag, a file); its message carries the fix."""


def did_you_mean(name: str, known: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(kind: str, name: str, known: list[str] | set[str]) -> BenchError:
    """``Unknown method 'rpeo'. Known: dpo, none, repo. Did you mean 'repo'?``"""
    return BenchError(
        f"Unknown {kind} '{name}'. Known: {', '.join(sorted(known))}.{did_you_mean(name, known)}"
    )
