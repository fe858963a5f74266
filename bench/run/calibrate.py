"""Matched operating points: sweep a method's strength knob and pick the point whose no-attack toxic
rate reaches the board's target at the least perplexity (chosen on held-out probe prompts)."""

from __future__ import annotations

import dataclasses

from bench import registry, stages
from bench.board.load import plugin_of
from bench.errors import BenchError
from bench.run.cell import Cell, toxicity_row


def calibrate(cell: Cell, cfg) -> tuple[object, dict]:
    """Sweep the method's strength knob over ``calibration.factors`` × its configured value (each
    point an ordinary cached model, generation and utility stage); return the config whose
    no-attack toxic rate is at most the target at the least perplexity (else the lowest rate)
    and the operating point with the whole sweep. Models are stored by content: the point at
    factor 1 is the plain method's model, trained once for both rows."""
    rt, base, data, method, seed = cell.rt, cell.base, cell.data, cell.method, cell.seed
    cal = rt.board.calibration
    knob = registry.load("methods", plugin_of(rt.board.methods, method)).STRENGTH
    # the rate is measured on the held-out probe prompts, not the evaluation prompts the row then
    # reports: choosing on the reported prompts would flatter the matched rows
    held_out = [
        {"prompt": p["prompt"], "target": None} for p in data["probe_pairs"][: rt.board.eval.probe_max_pairs]
    ]
    if not held_out:
        raise BenchError("calibration needs held-out prompts: the probe role is empty")
    default = getattr(cfg, knob)
    points = []
    for factor in cal.factors:
        value = max(1, round(default * factor)) if isinstance(default, int) else default * factor
        c = dataclasses.replace(cfg, **{knob: value})  # at factor 1: the plain row's config, its key
        tag = f"{cell.tag} {knob}={value}"
        model = stages.method_model(rt, base, data, method, c, seed)
        rate = toxicity_row(cell, model, tag + " probe prompts", held_out)[0]["toxic_rate"]
        ppl = stages.utility(rt, model, data, tag)["ppl"]
        points.append({"factor": factor, "value": value, "toxic_rate": rate, "ppl": ppl, "_cfg": c})
    reached = [p for p in points if p["toxic_rate"] <= cal.target]
    best = (
        min(reached, key=lambda p: (p["ppl"], p["value"]))
        if reached
        else min(points, key=lambda p: (p["toxic_rate"], p["ppl"]))
    )
    point = {
        "knob": knob,
        "value": best["value"],
        "factor": best["factor"],
        "target": cal.target,
        "reached": bool(reached),
        "prompts": f"{len(held_out)} held-out probe prompts",
        "toxic_rate": best["toxic_rate"],
        "ppl": best["ppl"],
        "sweep": [{k: v for k, v in p.items() if k != "_cfg"} for p in points],
    }
    return best["_cfg"], point
