"""The Hugging Face Hub side of ``bench export --push-to-hub``: the token, checked before anything is
written, and the upload."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.errors import BenchError
from bench.report.export.common import INDEX, PROJECT, TRUE

# ---------------------------------------------------------------------------------------------
# Pushing: checked before anything is written or uploaded


def hub_token() -> str:
    """The Hugging Face token ``--push-to-hub`` would use; a one-line error when the hub is off
    (``HF_HUB_OFFLINE``) or no token is found. The token is never printed nor recorded."""
    import huggingface_hub
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in TRUE:
        raise BenchError("--push-to-hub: the hub is offline (HF_HUB_OFFLINE is set): nothing uploaded")
    try:
        token = huggingface_hub.get_token()
    except Exception as e:  # an OIDC exchange or a token refresh that failed; its text is not shown
        raise BenchError(
            f"--push-to-hub: the Hugging Face token could not be read ({type(e).__name__}): nothing uploaded"
        ) from None
    if not token:
        raise BenchError(
            "--push-to-hub: no Hugging Face token found (set HF_TOKEN or run `hf auth login`): nothing uploaded"
        )
    return token


def push(folder: Path, repo: str, token: str) -> str:
    """Upload ``folder`` as the dataset repo ``repo`` (created if missing); returns its URL."""
    import huggingface_hub

    from bench.record.provenance import masked

    board = json.loads((folder / INDEX).read_text())["board"]
    try:
        huggingface_hub.create_repo(repo, repo_type="dataset", exist_ok=True, token=token)
        huggingface_hub.upload_folder(
            repo_id=repo,
            folder_path=str(folder),
            repo_type="dataset",
            token=token,
            commit_message=f"{PROJECT} export of board {board}",
        )
    except Exception as e:  # refused, unreachable: one line, the export stays where it is
        why = masked(" ".join(str(e).split()))[:300]
        raise BenchError(
            f"--push-to-hub {repo}: upload failed ({type(e).__name__}: {why}); the export is in {folder}"
        ) from None
    return f"https://huggingface.co/datasets/{repo}"
