"""Constants and small helpers every part of ``bench export`` shares."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid

from bench.errors import BenchError

SCHEMA_VERSION = "0.3.0"
PROJECT = "detox-bench"
PARQUET = "samples.parquet"
CARD = "README.md"
INDEX = "export.json"
INDEX_FORMAT = 1
LEVEL = 0.95  # every interval the leaderboard prints is a 95% interval
N_BOOT = 1000  # the leaderboard's resamples for a one-seed rate interval (rate_interval_of)
# prompt licences the project knows; any other source is "other" (see the source's own card)
KNOWN_LICENCES = {"allenai/real-toxicity-prompts": "apache-2.0"}
TRUE = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub reads as true in HF_HUB_OFFLINE

# ---------------------------------------------------------------------------------------------
# Small helpers


def _s(value) -> str:
    """A value for an ``additional_details`` map (strings only): JSON for anything not a string."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _details(d: dict) -> dict[str, str]:
    return {k: _s(v) for k, v in d.items() if v is not None}


def _epoch(run: str) -> str | None:
    """A run id's time (``20261208-033640-tiny-…``, UTC) as Unix epoch seconds."""
    try:
        t = datetime.datetime.strptime(run[:15], "%Y%m%d-%H%M%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return str(int(t.timestamp()))


def _component(value: str) -> str:
    """One datastore path component, as ``every_eval_ever.helpers.io`` flattens it."""
    import re

    out = re.sub(r'[<>:"\\|?*\x00-\x1f]', "_", value.replace(":", "_")).rstrip(". ")
    if not out or out in (".", "..", "data"):
        raise BenchError(f"'{value}' gives no usable folder name for an Every Eval Ever record")
    return out


def uuid_of(fingerprint: str) -> str:
    """A UUID of version 4 (the datastore's file names) derived from the record's fingerprint, so
    re-exporting the same results names the same files."""
    return str(uuid.UUID(bytes=hashlib.sha256(fingerprint.encode()).digest()[:16], version=4))


def sample_hash(raw: str, reference: list[str]) -> str:
    """sha256 of (input.raw, input.reference), canonically as the package's adapters write it."""
    payload = json.dumps({"raw": raw, "reference": reference}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
