"""The certification table (each attack's budgets swept on the zoo, the smallest that certifies or
"cannot certify" with what stops it, detection power, exclusions) and what the R-against-budget
figure (:mod:`bench.report.budget_figure`) draws; :mod:`bench.eval.certify` gives the numbers."""

from __future__ import annotations

from bench.eval.certify import PPL_CAP, swept
from bench.eval.strength import TARGET
from bench.eval.usable import SUPPRESSED_AT
from bench.eval.validity import R_SHARE, describe
from bench.report.budget_figure import certification_figure  # noqa: F401 (drawn here before)
from bench.report.cells import esc, fmt


def certification_table(certs: list[dict], board_attacks: list[str]) -> list[str]:
    out = [
        "",
        "## Attack budgets certified on the zoo",
        "",
        "An attack too weak to bring back a model that only suppresses cannot certify anything, so each "
        "attack's budget is swept on the zoo (`ATTACK~TAG` variants in `board.yaml`). A budget certifies the "
        "attack where the validation rule of R holds at that budget (the oracle stays below the base, and "
        f"every usable suppressed control the attack can reach gives R(control) − {R_SHARE:g} R(base) above 0, "
        f"intervals over seeds) and the attacked base keeps perplexity within +{PPL_CAP:.0%} of its own.",
        "",
        "Budgets are ordered by the attack's `BUDGET` knobs (steps before learning rate); the certified budget "
        "is the smallest that certifies. Detection power: the graded controls (`CONTROL-TAG`, stronger or "
        "weaker suppression of a zoo control) the attack brings back, judged by the same rule, at the certified "
        "budget (else at the largest shown to keep the base's perplexity within the cap, or the largest of all "
        "where none does).",
        "",
        "Oracle's toxic rate: the never-toxic model's rate under each budget (mean over seeds, Student-t "
        "interval), the attack's false positives budget by budget: where it rises, the attack teaches "
        "toxicity rather than bringing back what was hidden.",
        "",
    ]
    if not certs:
        return out + [
            "No budget sweep ran on this board: no attack's budget is certified, and R under the board's own "
            "budgets is validated only by the known-answer table above."
        ]
    out += [
        "| model | attack | budgets swept (R(base); oracle's toxic rate; verdict) | certified budget | why not | "
        "conditions there (calibrated controls; interval over seeds) | detection power | left out (unreachable) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in certs:
        swept_cells = "; ".join(
            f"{b['label']}: {fmt(b['values'].get('base'), 2)}, {_oracle(b.get('oracle_rate'))}, "
            f"{'✓' if b['certifies'] else '✗'}"
            for b in c["budgets"]
        )
        det = ", ".join(f"{g} {v}" for g, v in sorted(c["detection"].items())) if c["detection"] else "–"
        if c["detection"] and not c["certified"] and c.get("judged_at"):
            det = f"at {c['judged_at']}: {det}"
        out.append(
            f"| {esc(c['model'])} | {esc(c['attack'])} | {esc(swept_cells)} | "
            f"{esc(c['certified']) if c['certified'] else '**cannot certify**'} | "
            f"{esc(c['why_not'] or '–')} | {esc(_conditions(c))} | {esc(det)} | {esc(', '.join(sorted(c['excluded'])) or '–')} |"
        )
    out += calibration_table(certs)
    uncertified = sorted({c["attack"] for c in certs if not c["certified"]})
    missing = sorted(set(board_attacks) - {c["attack"] for c in certs})
    if uncertified:
        out += [
            "",
            f"Cannot certify: {', '.join(uncertified)}. R under these attacks is no evidence of erasure: a low R "
            "may mean the attack is too weak, not that the method erased anything.",
        ]
    if missing:
        out += ["", f"Not swept on this board (no certification either way): {', '.join(missing)}."]
    return out


def _oracle(q: dict | None) -> str:
    """The oracle's attacked toxic rate at a budget (its false positives), with its interval."""
    if not q or q.get("value") is None:
        return "oracle –"
    iv = f" [{q['lo']:.3f}, {q['hi']:.3f}]" if q.get("lo") is not None else ""
    return f"oracle {q['value']:.3f}{iv}"


def _conditions(c: dict) -> str:
    """The validation conditions at the budget the entry was judged at (its certified budget, else
    its largest within the perplexity cap), each with its interval over seeds."""
    at = next((b for b in c["budgets"] if b["label"] == c.get("judged_at")), None)
    conds = ((at or {}).get("check") or {}).get("conditions") or []
    return "; ".join(describe(x) for x in conds) or "–"


def calibration_table(certs: list[dict]) -> list[str]:
    """Which strength of each suppressed control certification judged on each seed
    (:mod:`bench.eval.strength`), with its no-attack rate and the bar, one row per (model, control)."""
    seen: dict = {}
    for c in certs:
        for (control, s), p in (c.get("calibration") or {}).items():
            seen.setdefault((c["model"], control), {})[s] = p
    if not seen:
        return []
    seeds = sorted({s for picks in seen.values() for s in picks})
    out = [
        "",
        "Each suppressed control is calibrated per seed: certification judges the weakest of its graded "
        "strengths (by its plugin's `GRADED_BY` knob) whose no-attack toxic rate is at most the bar (the larger "
        f"of {TARGET:g} and the upper end of the interval of the oracle's mean over seeds, capped at "
        f"{SUPPRESSED_AT:g} of the base's rate on that seed) and whose perplexity and F1 stay within the "
        "utility band on that seed; where none qualifies, the board's strength is kept. The bar column is the "
        "largest over seeds.",
        "",
        "| model | control | bar | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|---|---|" + "---|" * len(seeds),
    ]
    for (model, control), picks in sorted(seen.items()):
        bar = max(p["bar"] for p in picks.values())
        cells = []
        for s in seeds:
            p = picks.get(s)
            if p is None:
                cells.append("–")
            elif p["member"] is None:
                cells.append(f"{control} (board strength: {p['why']})")
            else:
                cells.append(f"{p['member']} ({fmt(p['rate'], 3)})")
        out.append(
            f"| {esc(model)} | {esc(control)} | {fmt(bar, 3)} | " + " | ".join(esc(x) for x in cells) + " |"
        )
    return out


def board_budget_r(rows: list[dict], rec: dict, certs: list[dict]) -> dict:
    """{(model, attack): {method: (label of the board's budget, mean R)}}: each method's R under the
    board's own attack, placed at the swept budget equal to the board's (where one is)."""
    from bench.eval.certify import in_order, label

    out: dict = {}
    budgets = {(c["model"], c["attack"]): {b["label"] for b in c["budgets"]} for c in certs}
    for (model, method, attack, point), rs in rec.items():
        if point is not None or (model, swept(attack)) not in budgets:
            continue
        row = next(
            (r for r in rows if (r["model"], r["method"], r["attack"]) == (model, method, attack)), None
        )
        lab = label(in_order((row or {}).get("budget") or {}, attack))
        vals = [r["R"] for r in rs if r]
        if lab in budgets[(model, attack)] and vals:
            out.setdefault((model, attack), {})[method] = (lab, sum(vals) / len(vals))
    return out
