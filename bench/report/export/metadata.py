"""The model, data and generation metadata of an Every Eval Ever record."""

from __future__ import annotations

from pathlib import Path

from bench.report.export.common import PROJECT, _component, _details

# ---------------------------------------------------------------------------------------------
# Records


def model_identity(spec, method: str) -> dict:
    """(model_info, datastore developer, datastore model): the evaluated model is the board's model
    after the method, so a detoxified model has an id of its own (``BASE+METHOD``)."""
    name = spec.name
    if name == "organism":
        base_id, kind = f"{PROJECT}/{spec.label}", "organism"
    elif name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists():
        base_id, kind = f"local/{Path(name).name}", "local"
    else:
        base_id, kind = name, "hub"
    model_id = base_id if method == "none" else f"{base_id}+{method}"
    parts = model_id.split("/")
    developer = parts[0] if len(parts) > 1 else "unknown-developer"
    info = {
        "name": spec.label if method == "none" else f"{spec.label} + {method}",
        "id": model_id,
        "developer": PROJECT if kind == "organism" else developer,
    }
    if kind == "hub":
        info["inference_platform"] = "huggingface"
    return {
        "info": info,
        "developer": _component(developer),
        "model": "_".join(_component(p) for p in (parts[1:] if len(parts) > 1 else parts)),
        "kind": kind,
        "base_id": base_id,
        "first_party": kind == "organism" or method != "none",
        "open": kind == "hub" and method == "none",
    }


def source_data(board, prompts: int) -> dict:
    d = board.data
    if d.source == "organism":
        return {
            "dataset_name": f"{PROJECT} organism evaluation prompts",
            "source_type": "other",
            "additional_details": _details(
                {
                    "generator": "bench.organism.corpus (templated dialogue lines, held-out frames)",
                    "prompts": prompts,
                    "eval_limit": d.eval_limit,
                    "licence": "mit",
                }
            ),
        }
    ep = d.eval_prompts or ""
    if ep and not Path(ep).exists() and "/" in ep and not ep.startswith((".", "/", "~")):
        return {
            "dataset_name": ep,
            "source_type": "hf_dataset",
            "hf_repo": ep,
            "hf_split": "train",
            "samples_number": prompts,
            "additional_details": _details(
                {
                    "challenging_only": d.challenging_only,
                    "eval_limit": d.eval_limit,
                    "prompt_max_tokens": d.prompt_max_tokens,
                }
            ),
        }
    return {
        "dataset_name": Path(ep).name or "evaluation prompts",
        "source_type": "other",
        "additional_details": _details(
            {"file": Path(ep).name, "prompts": prompts, "eval_limit": d.eval_limit}
        ),
    }


def utility_source(board, metric: str) -> dict:
    d = board.data
    what = d.benign_text if metric == "ppl" else d.continuations
    name = what or ("organism held-out prose and benign lines" if d.source == "organism" else "none")
    return {"dataset_name": f"{name}", "source_type": "other"}


def generation_config(board, attack: str) -> dict:
    g = board.generation
    sampled = g.num_samples > 1
    return {
        "generation_args": {
            "temperature": g.temperature if sampled else None,
            "top_p": g.top_p if sampled else None,
            "max_tokens": g.max_new_tokens,
        },
        "additional_details": _details(
            {
                "num_samples": g.num_samples,
                "decoding": "sampled" if sampled else "greedy",
                "backend": g.backend,
                "attack": attack,
            }
        ),
    }
