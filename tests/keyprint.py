"""Every cache key of the ``tiny`` board's grid, computed without computing anything.

``tests/test_key_stability.py`` compares it with ``tests/fixtures/grid_keys.json``, written by
``python -m tests.keyprint`` at the commit before the stages and config were split into rooms (the
move must orphan no store) and rewritten when keys became content-addressed (issue 33: a method or
attack key holds the plugin that runs, not the row's name). Package versions are fixed
(``v-<name>``) so the keys depend on the code alone, not on what is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "grid_keys.json"
DATA_FILES = Path(__file__).parent / "fixtures"


class _Stop(Exception):
    pass


class KeyOnly:
    """A runtime whose ``stage`` records the key it is asked for and computes nothing."""

    def __init__(self, board):
        self.board, self.keys = board, []

    def stage(self, stage, key, label, make, meta=None):
        self.keys.append(key)
        raise _Stop

    def key_of(self, fn, *args, **kwargs):
        try:
            fn(self, *args, **kwargs)
        except _Stop:
            return self.keys[-1]
        raise AssertionError(f"{fn.__name__} computed without asking the store")


def grid_keys() -> dict[str, str]:
    """``label -> key`` for every stage of the tiny board's grid over two seeds (versions fixed)."""
    from bench import stages
    from bench.board.load import board_path, load_plan, plugin_of, read_yaml, seeded_spec
    from bench.record import provenance
    from bench.record.cell_key import config_hash

    real = provenance.package_version
    provenance.package_version = lambda name: f"v-{name}"
    try:
        raw = read_yaml(board_path("tiny"))
        # every entry of the board file, not only its default grid: the graded controls
        # (``locked-s640``) and the certification sweeps' variants (``relearn~lr1e-3``) too
        methods = list(dict.fromkeys([*raw["run_methods"], *raw["methods"]]))
        attacks = list(dict.fromkeys([*raw["run_attacks"], *raw["attacks"]]))
        plan = load_plan("tiny", methods=methods, attacks=attacks, seeds=2)
        board = plan.board
        out: dict[str, str] = {}
        for seed in board.seeds:
            spec = seeded_spec(board.models[0], seed)
            base = stages.ModelRef(stages.organism_key(spec), "/nowhere", spec)
            out[f"organism s{seed}"] = base.key
            out[f"oracle s{seed}"] = stages.oracle_organism_key(base)
            data_key = stages.organism_data_key(base, board.data.eval_limit)
            out[f"data s{seed}"] = data_key
            out[f"data limit=64 s{seed}"] = stages.organism_data_key(base, 64)
            data = stages.Splits(data_key, {"attack_prompts": [{"prompt": "p", "target": "t"}]})
            items = [{"prompt": "q", "target": "t"}, {"prompt": "r", "target": None}]
            rt = KeyOnly(board)
            for method, cfg in plan.methods.items():
                key = stages.method_key(base, data_key, method, cfg, seed, plugin_of(board.methods, method))
                out[f"method {method} s{seed}"] = key
                model = stages.ModelRef(key, "/nowhere", spec)
                tag = f"{method} s{seed}"
                out[f"utility {tag}"] = rt.key_of(stages.utility, model, data, "x")
                out[f"probe {tag}"] = rt.key_of(stages.probe, model, base, data, seed, "x", [0.0, 1.0])
                out[f"probe unlabelled {tag}"] = rt.key_of(stages.probe, model, base, data, seed, "x")
                out[f"gen {tag}"] = rt.key_of(stages.generations, model, ["a", "b"], seed, "x")
                out[f"config {tag}"] = config_hash(board, spec, method, None)
                for attack, acfg in plan.attacks.items():
                    out[f"attack {attack} on {tag}"] = rt.key_of(
                        stages.attack, model, base, data, attack, acfg, seed, items, None, "x"
                    )
                    out[f"config {attack} on {tag}"] = config_hash(board, spec, method, attack)
            scorer = type("Scorer", (), {"config": {}})()
            out[f"score s{seed}"] = rt.key_of(stages.scores, "g", [["a"]], scorer, 1, "x")
        out["files data"] = stages.files_data_key(
            type(board.data)(
                source="files",
                pairs=str(DATA_FILES / "results.jsonl"),
                eval_prompts=str(DATA_FILES / "results.jsonl"),
                benign_text=str(DATA_FILES / "results.jsonl"),
            )
        )
        return out
    finally:
        provenance.package_version = real


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(grid_keys(), indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {FIXTURE}\n")
