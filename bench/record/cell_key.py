"""A leaderboard cell's key: what determines its numbers (:func:`cell_config`) and its short hash
(:func:`config_hash`), which every row carries and the leaderboard compares to mark stale rows."""

from __future__ import annotations

from bench.board.schema import ANCHORS, MATCHED, Board, ModelSpec, plugin_of
from bench.board.typed import to_dict
from bench.errors import BenchError


def cell_config(board: Board, spec: ModelSpec, method: str, attack: str | None) -> dict:
    """What determines one leaderboard cell's numbers: the model, data, generation, scorer and
    eval settings, the method's and the attack's resolved configs (seeds are the cell's own)."""
    from bench import registry
    from bench.organism.build import ORGANISM_VERSION

    def version(kind: str, name: str, section: dict) -> int | None:
        try:  # a plugin's VERSION changes its results as surely as its config does
            return registry.load(kind, plugin_of(section, name)).VERSION
        except BenchError:
            return None

    attacked = attack not in (None, "none")
    evals = to_dict(board.eval)
    restarts = evals.pop("attack_restarts")  # only attack rows depend on it
    return {
        "model": to_dict(spec) | ({"organism_version": ORGANISM_VERSION} if spec.name == "organism" else {}),
        "data": to_dict(board.data),
        "generation": {k: v for k, v in to_dict(board.generation).items() if k != "batch_size"},  # no effect
        "scorer": to_dict(board.scorer) | {"version": version("scorers", board.scorer.name, {})},
        "eval": evals,
        "method": {
            "name": method,
            **(board.methods.get(method) or {}),
            "version": None if method in ANCHORS else version("methods", method, board.methods),
        },
        "attack": None
        if not attacked
        else {
            "name": attack,
            **(board.attacks.get(attack) or {}),
            "version": version("attacks", attack, board.attacks),
            "restarts": restarts,
        },
        # a matched row's strength is chosen by the calibration: its settings decide the numbers
        "calibration": to_dict(board.calibration) if method.endswith(MATCHED) else None,
    }


def config_hash(board: Board, spec: ModelSpec, method: str, attack: str | None) -> str:
    """Short hash of :func:`cell_config`: rows carry it, the leaderboard compares it."""
    import hashlib
    import json

    from bench.record.provenance import masked

    # masked as in the run's config.yaml, so a recorded config reproduces the hash
    blob = json.dumps(masked(cell_config(board, spec, method, attack)), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
