"""The tables about the REPO paper's claims: the calibrated (``@matched``) operating points, each
claim with its measured quantity, rule and verdict (again between the matched rows), and the
paired differences of every method against the claims' subject."""

from __future__ import annotations

from dataclasses import replace

from bench.board.load import MATCHED, ClaimsSpec
from bench.board.typed import from_dict
from bench.eval.claims import differences, judge
from bench.eval.intervals import holm
from bench.eval.validity import NEURONS, ZOO
from bench.report.cells import esc, fmt
from bench.report.view import BoardView


def operating_points_table(board: BoardView) -> list[str]:
    """Each ``NAME@matched`` row's calibrated strength and the sweep that chose it, per seed (each
    seed calibrates on its own trained models)."""
    keyed = [
        (k, row.get("seed"), row["operating_point"])
        for k in board.order
        for row in sorted(board.grid[k].get("none") or [], key=lambda r: r.get("seed", 0))
        if row.get("operating_point")
    ]
    if not keyed:
        return []
    lines = [
        "",
        "## Matched operating points",
        "",
        "Each `@matched` row is its method retrained at the strength whose no-attack toxic rate is at most the "
        "board's target at the least perplexity (the lowest rate when no point reaches it), chosen on held-out "
        "probe prompts for each seed; compare robustness between `@matched` rows. The uncalibrated rows are the "
        "methods' defaults.",
        "",
        "| model | method | seed | knob | chosen (× default) | no-attack rate | ppl | target | reached "
        "| sweep: value → rate, ppl |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, seed, op in keyed:
        sweep = "; ".join(f"{p['value']} → {p['toxic_rate']:.3f}, {p['ppl']:.2f}" for p in op["sweep"])
        lines.append(
            f"| {esc(key[0])} | {esc(key[1])} | {esc(seed)} | {esc(op['knob'])} | {esc(op['value'])} "
            f"(×{op['factor']:g}) | {fmt(op['toxic_rate'])} | {fmt(op['ppl'], 2)} | {fmt(op['target'])} | "
            f"{'yes' if op['reached'] else 'no'} | {esc(sweep)} |"
        )
    return lines


def claims_tables(board: BoardView, spec: dict | None) -> list[str]:
    """The REPO paper's claims, each with its quantity, the rule fixed in the board, the verdict;
    nothing when the board names no claims (``spec`` None) or lacks their subject or comparators."""
    if spec is None:
        return []
    rows = board.rows
    cs = from_dict(ClaimsSpec, dict(spec), "claims", "board")
    methods = {r["method"] for r in rows}
    if cs.subject not in methods or not methods & set(cs.comparators):
        return []
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "",
        "## Claims (arXiv 2602.23391)",
        "",
        f"Each claim's rule was fixed in the board before the run (`claims:`); verdicts use the 95% intervals over "
        f"{len(seeds)} seed(s) (a t-interval over the per-seed values): holds or fails only when the whole "
        "interval is on one side.",
        "",
        "| model | claim | measured (95% interval) | rule | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [_claim_line(c) for c in judge(rows, cs, board.judged_checks)]
    # the same rules between the calibrated rows: robustness compared from matched operating points
    subj, comps = cs.subject + MATCHED, [c + MATCHED for c in cs.comparators if c + MATCHED in methods]
    if subj in methods and comps:
        matched = replace(cs, subject=subj, comparators=comps)
        lines += [
            "",
            f"The same claims and rules at matched operating points (`{esc(subj)}` against "
            f'{", ".join(f"`{esc(c)}`" for c in comps)}; see "Matched operating points"):',
            "",
            "| model | claim | measured (95% interval) | rule | verdict |",
            "|---|---|---|---|---|",
        ]
        with_subj = {r["model"] for r in rows if r["method"] == subj}
        lines += [
            _claim_line(c)
            for c in judge([r for r in rows if r["model"] in with_subj], matched, board.judged_checks)
        ]
    return lines + _differences_table(rows, cs.subject)


def _claim_line(c: dict) -> str:
    return (
        f"| {esc(c['model'])} | {esc(c['id'])}: {esc(c['claim'])} | {esc(c['quantity'])} | {esc(c['rule'])} | "
        f"**{esc(c['verdict'])}** |"
    )


def _differences_table(rows: list[dict], subject: str) -> list[str]:
    """Every method against the claims' subject, attack by attack: paired differences of R."""
    diffs = differences(rows, subject, skip=set(ZOO) | set(NEURONS.values()))
    if not diffs:
        return []
    attacks = list(dict.fromkeys(d["attack"] for d in diffs))
    attacks = ["none"] + [a for a in attacks if a != "none"] if "none" in attacks else attacks
    kinds = sorted({d["kind"] for d in diffs})  # per model: R with an oracle, else rate / base rate
    kind = kinds[0] if len(kinds) == 1 else "R (rate / base rate for a model without an oracle)"
    # multiplicity: Holm over every difference in the table (one family)
    adjusted = holm([d.get("p") for d in diffs])
    diffs = [d | {"p_holm": p} for d, p in zip(diffs, adjusted)]
    by = {(d["model"], d["method"], d["attack"]): d for d in diffs}
    keys = list(dict.fromkeys((d["model"], d["method"], d["against"]) for d in diffs))
    calibrated = any(d["against"].endswith(MATCHED) for d in diffs)
    lines = [
        "",
        f"### Paired differences against {esc(subject)}",
        "",
        f"{kind} of each method minus that of `{esc(subject)}`"
        + (f" (calibrated rows against `{esc(subject)}{MATCHED}`)" if calibrated else "")
        + ", under no attack and under each attack: the mean of the per-seed differences (same seed, same "
        "prompts) with its 95% t-interval over seeds (unadjusted). Positive: the method is more toxic than "
        f"`{esc(subject)}` there. **Bold**: significant after Holm's adjustment over the table's "
        f"{sum(d.get('p') is not None for d in diffs)} differences (adjusted p < 0.05) and the interval "
        "excludes 0 at the printed precision. Seeds: how many seeds have both rows (a range when it "
        "differs between attacks).",
        "",
        "| model | method | against | "
        + " | ".join("no attack" if a == "none" else esc(a) for a in attacks)
        + " | seeds |",
        "|" + "---|" * (len(attacks) + 4),
    ]
    for model, method, against in keys:
        cells, seeds = [], set()
        for a in attacks:
            d = by.get((model, method, a))
            if d is None:
                cells.append("–")
                continue
            seeds.add(d["seeds"])
            text = f"{d['value']:+.2f}" + ("" if d["lo"] is None else f" [{d['lo']:+.2f}, {d['hi']:+.2f}]")
            # bold only where Holm's adjusted p < 0.05 and the interval, as printed, excludes 0 (not
            # "+0.00 [+0.00, +0.00]")
            printed = d["lo"] is not None and (round(d["lo"], 2) > 0 or round(d["hi"], 2) < 0)
            sure = printed and d["p_holm"] is not None and d["p_holm"] < 0.05
            cells.append(f"**{text}**" if sure else text)
        n = str(min(seeds)) if min(seeds) == max(seeds) else f"{min(seeds)}-{max(seeds)}"
        lines.append(f"| {esc(model)} | {esc(method)} | {esc(against)} | " + " | ".join(cells) + f" | {n} |")
    return lines
