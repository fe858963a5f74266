"""R under relearning against compute (issue 35's figure): a distilled method is charged its
teacher's training too, and the oracle sits at a full retrain of the organism."""

from __future__ import annotations

from bench.report.compute import compute_points


def _row(method, seed, train):
    return {"model": "m", "method": method, "attack": "none", "seed": seed, "train": train}


def test_a_distilled_method_is_charged_its_teachers_tokens_and_the_oracle_a_full_retrain():
    """Bug caught: undo plotted at its distillation tokens alone (it looks cheaper than it is), or the
    oracle left off the axis (no full-retrain reference)."""
    rows = []
    for s in (0, 1):
        rows += [
            _row("none", s, None),
            _row("oracle", s, None),
            _row("repo", s, {"tokens": 1000}),
            _row(
                "undo-a50",
                s,
                {"tokens": 4000, "teacher": "repo", "distill_tokens": 4000, "token_ratio": 0.04},
            ),
        ]
    rec = {
        ("m", m, "relearn", None): [{"R": r, "seed": 0}, {"R": r + 0.1, "seed": 1}]
        for m, r in (("oracle", 0.0), ("repo", 0.7), ("undo-a50", 0.3))
    }
    pts = {p["method"]: p for p in compute_points(rows, rec)}
    assert pts["undo-a50"]["tokens"] == 5000  # 4000 distilled + the teacher's 1000
    assert pts["repo"]["tokens"] == 1000
    assert pts["oracle"]["tokens"] == 100000  # 4000 / 0.04: the organism's own training
    assert abs(pts["repo"]["R"] - 0.75) < 1e-9 and pts["repo"]["lo"] < 0.75 < pts["repo"]["hi"]
