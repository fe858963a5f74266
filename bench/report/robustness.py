"""What is left of toxicity after an edit: excess recovery over the oracle (R) by attack and along
the relearning curves, the erasure metrics with their share of the base-to-oracle gap, and the
representation attacks' checkpoints (steer, ablate, unalign) beside their random controls."""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.eval.erasure import METRICS
from bench.eval.metrics import seed_spread
from bench.eval.recovery import models_without_oracle
from bench.report.cells import esc, over_seeds, r_cell, seed_shares, zoo_values
from bench.report.kinds import steps_name
from bench.report.validation import localisation_validated
from bench.report.view import BoardView


def recovery_tables(board: BoardView) -> list[str]:
    rec, attacks = board.rec, board.attacks
    out = [
        "",
        "## Excess recovery over the oracle (R)",
        "",
        "R = (T_method,attacked − T_oracle,attacked) / (T_base − T_oracle), with T_base and T_oracle the no-attack "
        "rates. 0: as clean as a model that never learned toxicity, under the same attack; 1: back to the base "
        "model. Each seed's R from its own four mean rates; the cell is their mean over seeds with a 95% "
        "t-interval over the per-seed values (‡: one seed, a paired bootstrap over its prompts).",
        "",
    ]
    missing = models_without_oracle(board.rows)
    if missing:
        out += [
            f"No oracle for model {esc(m)} (set `models[].oracle` in the board): R is not computed."
            for m in missing
        ]
    have = [k for k in board.order if any(rec.get((*k, a, None)) for a in attacks)]
    if have and missing:
        out.append("")
    if have:
        out += [
            "| model | method | " + " | ".join(esc(a) for a in attacks) + " |",
            "|" + "---|" * (len(attacks) + 2),
        ]
        for key in have:
            out.append(
                f"| {esc(key[0])} | {esc(key[1])} | "
                + " | ".join(r_cell(rec.get((*key, a, None), [])) for a in attacks)
                + " |"
            )
    for attack in attacks:
        steps = sorted({int(p) for (m, me, a, p) in rec if a == attack and p is not None})
        if not steps:
            continue
        out += [
            "",
            f"R along the {esc(attack)} curve ({steps_name(attack)}):",
            "",
            "| model | method | " + " | ".join(str(s) for s in steps) + " |",
            "|" + "---|" * (len(steps) + 2),
        ]
        for key in have:
            out.append(
                f"| {esc(key[0])} | {esc(key[1])} | "
                + " | ".join(r_cell(rec.get((*key, attack, str(s)), [])) for s in steps)
                + " |"
            )
    return out


def erasure_table(board: BoardView) -> list[str]:
    grid, failed, checks = board.grid, board.failed, board.checks
    keys = [k for k in board.order if grid[k].get("none") and grid[k]["none"][0]["metrics"].get("erasure")]
    if not keys:
        return []
    # a share of a base-to-oracle gap the metric cannot resolve is noise: shown only where it separates
    unresolved = {
        (c["model"], c["metric"]) for c in checks if any("does not separate" in r for r in c["reasons"])
    }
    out = [
        "",
        "## Erasure metrics",
        "",
        'Mean over layers 1..L of each metric (README, "How to read the numbers"), and in brackets its share of '
        "the base-to-oracle gap (1 = as the base model, 0 = as the oracle), shown only for metrics that separate "
        "the two. ⚠: failed the known-answer validation. "
        "Localisation = share of the value-vector change on the base's top toxic neurons, as a ratio to its "
        "chance share (1 = no preference for toxic neurons). With several seeds: mean ± std over seeds, each "
        "share computed within its seed (each seed has its own base model and oracle on `tiny`).",
        "",
        "| model | method | "
        + " | ".join(m + (" ⚠" if any((k[0], m) in failed for k in keys) else "") for m in METRICS)
        + " | localisation / chance"
        + ("" if localisation_validated(keys, checks) else " ⚠")
        + " |",
        "|" + "---|" * (len(METRICS) + 3),
    ]
    for key in keys:
        vals = []
        for m in METRICS:
            v = over_seeds(list(zoo_values(grid, key[0], key[1], m).values()), 3)
            share = None if (key[0], m) in unresolved else seed_shares(grid, key, m)
            vals.append("–" if v is None else v + ("" if share is None else f" ({share})"))
        locs = [r["metrics"].get("localisation_ratio") for r in grid[key]["none"]]
        loc = over_seeds([x for x in locs if x is not None], 2) or "–"
        out.append(f"| {esc(key[0])} | {esc(key[1])} | " + " | ".join(vals) + f" | {loc} |")
    return out


def representation_table(board: BoardView) -> list[str]:
    grid, order = board.grid, board.order
    attacks = sorted({a for k in order for a, rs in grid[k].items() if any(r.get("points") for r in rs)})
    if not attacks:
        return []
    n_seeds = max(len([r for r in grid[k].get(a) or [] if r.get("points")]) for k in order for a in attacks)
    out = [
        "",
        "## Representation attacks" + (" (mean ± std over seeds)" if n_seeds > 1 else ""),
        "",
        "Each checkpoint of each attack: toxic rate (perplexity). `steer` adds α × the base's toxic direction; the "
        "row's value is the highest toxic rate within its perplexity budget (✓: the checkpoint chosen"
        + (", in n of N seeds" if n_seeds > 1 else "")
        + "). `ablate` projects the edited-minus-original direction out of the weights; `unalign` scales the top "
        "toxic neurons' keys. random = the norm-matched random-direction (or random-neuron) control.",
        "",
        "| model | method | attack | along the direction | random control |",
        "|---|---|---|---|---|",
    ]
    for key in order:
        for a in attacks:
            rs = [r for r in grid[key].get(a) or [] if r.get("points")]
            if rs:
                along, rand = _pooled_points(rs)
                out.append(f"| {esc(key[0])} | {esc(key[1])} | {esc(a)} | {esc(along)} | {esc(rand)} |")
    return out


def _pooled_points(rs: list[dict]) -> tuple[str, str]:
    """One representation attack's checkpoints over the seeds' rows: the toxic rate (mean ± std
    over seeds when there are several) and mean perplexity of each checkpoint, matched across seeds
    by direction, α and step; ✓ marks the checkpoint the row's value came from (with several seeds:
    in how many of them)."""
    ident = lambda p: (p["direction"], p.get("alpha"), p["step"])  # noqa: E731
    by: dict[tuple, list[dict]] = defaultdict(list)
    chosen: dict[tuple, int] = defaultdict(int)
    for r in rs:
        pts = r["points"]
        several = len([q for q in pts if q["direction"] != "random"]) > 1
        for p in pts:
            by[ident(p)].append(p)
            if several and p["step"] == r.get("chosen") and p["direction"] != "random":
                chosen[ident(p)] += 1

    def show(k, ps):
        direction, alpha, _ = k
        tag = (
            f"α={alpha:g}: "
            if alpha is not None
            else (f"{direction}: " if direction not in ("toxic", "random") else "")
        )
        rates = [p["toxic_rate"] for p in ps]
        rate = (
            f"{rates[0]:.3f}"
            if len(rates) == 1
            else f"{statistics.mean(rates):.3f} ± {seed_spread(rates)['std']:.3f}"
        )
        mark = "" if not chosen[k] else " ✓" if len(rs) == 1 else f" ✓ {chosen[k]}/{len(rs)}"
        part = "" if len(ps) == len(rs) else f" ({len(ps)} of {len(rs)} seeds)"
        return f"{tag}{rate} ({statistics.mean(p['ppl'] for p in ps):.1f}){mark}{part}"

    along = "; ".join(show(k, ps) for k, ps in by.items() if k[0] != "random")
    rand = "; ".join(show(k, ps) for k, ps in by.items() if k[0] == "random") or "–"
    return along, rand
