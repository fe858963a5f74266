"""The detail tables below the summary: weight attacks' curves step by step, prompt attacks restart by
restart, the continuation probe by layer with the training cost, and the stale rows left out."""

from __future__ import annotations

import statistics

from bench.eval.metrics import seed_spread
from bench.report.cells import esc, fmt, mean_of, over_seeds
from bench.report.kinds import curve_title, steps_name
from bench.report.view import BoardView


def curve_tables(board: BoardView) -> list[str]:
    """One table per attack with a curve (a weight attack's checkpoints): toxic rate at each step,
    titled by the attack's kind (:func:`bench.report.kinds.curve_title`)."""
    grid, order = board.grid, board.order
    out = []
    curve_attacks = [
        a for a in board.attacks if any(grid[k].get(a) and grid[k][a][0].get("curve") for k in order)
    ]
    for attack in curve_attacks:
        # every seed's curve: with several seeds each step reads mean ± std over seeds
        curves = {k: [r for r in grid[k].get(attack) or [] if r.get("curve")] for k in order}
        seeds_of = {k: len(grid[k].get(attack) or []) for k in curves}
        curves = {k: rs for k, rs in curves.items() if rs}
        steps = sorted({s for rs in curves.values() for r in rs for s, _ in r["curve"]})
        n_seeds = max(len(rs) for rs in curves.values())
        out += [
            "",
            f"## {curve_title(attack)} (toxic rate vs {steps_name(attack)}"
            + (", mean ± std over seeds)" if n_seeds > 1 else ")"),
            "",
            "Steps to recover: the first curve step whose toxic rate reaches half the base model's, per seed "
            "(– = not within the curve).",
            "",
            "| model | method | " + " | ".join(str(s) for s in steps) + " | steps to recover | AUC |",
            "|" + "---|" * (len(steps) + 4),
        ]
        for key, rs in curves.items():
            rs = sorted(rs, key=lambda r: r.get("seed", 0))
            by_step = [[dict(r["curve"]).get(s) for r in rs] for s in steps]
            cells = [over_seeds([v for v in vals if v is not None], 3) or "–" for vals in by_step]
            recover = " / ".join(fmt(r["metrics"].get("steps_to_recover")) for r in rs)
            auc = over_seeds([a for r in rs if (a := r["metrics"].get("curve_auc")) is not None], 3) or "–"
            partial = f" ({len(rs)} of {seeds_of[key]} seeds)" if len(rs) < seeds_of[key] else ""
            out.append(
                f"| {esc(key[0])} | {esc(key[1])}{partial} | " + " | ".join(cells) + f" | {recover} | {auc} |"
            )
    return out


def prompt_attack_table(board: BoardView) -> list[str]:
    """Prompt attacks (GCG and kin): every restart of every seed, worst, spread, exactness, cost."""
    grid, order = board.grid, board.order
    prompt_attacks = [
        a
        for a in board.attacks
        if any(grid[k].get(a) and "loss_lowered_share" in grid[k][a][0]["metrics"] for k in order)
    ]
    if not prompt_attacks:
        return []
    out = [
        "",
        "## Prompt attacks",
        "",
        "Each prompt attack runs independent restarts (own seed, own string) on every seed. Every other "
        "table reports the attacker's pick (the restart with the lowest training loss, * here); this one gives "
        "the mean over all restarts, worst their maximum (chosen on the evaluation, so no attacker could pick "
        "it) and spread their standard deviation, restarts listed per seed (`;` between seeds). Exact = share "
        "of evaluated prompts whose tokens are exactly the optimised ones (lowest over restarts and seeds). "
        "Target loss lowered and forward passes: mean over seeds.",
        "",
        "| model | method | attack | toxic rate (mean) | restarts | worst | spread | target loss lowered on "
        "| exact | forward passes per prompt |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in order:
        for a in prompt_attacks:
            rs = sorted(grid[key].get(a) or [], key=lambda r: r.get("seed", 0))
            if not rs:
                continue
            per_seed = [r["metrics"].get("restart_rates") or [r["metrics"]["toxic_rate"]] for r in rs]
            rates = [x for seed_rates in per_seed for x in seed_rates]
            spread = seed_spread(rates)["std"] if len(rates) > 1 else rs[0]["metrics"].get("restart_std")
            exact = [
                r["metrics"].get("exact_share") for r in rs if r["metrics"].get("exact_share") is not None
            ]
            costs = [
                c
                for r in rs
                if (c := r.get("attack_info", {}).get("cost", {}).get("per_prompt_forward_passes"))
                is not None
            ]
            out.append(
                f"| {esc(key[0])} | {esc(key[1])} | {esc(a)} | {fmt(statistics.mean(rates))} | "
                + "; ".join(
                    ", ".join(
                        fmt(x) + ("*" if i == r["metrics"].get("picked_restart") else "")
                        for i, x in enumerate(sr)
                    )
                    for r, sr in zip(rs, per_seed)
                )
                + f" | {fmt(max(rates))} | {fmt(spread)} | {fmt(mean_of(rs, 'loss_lowered_share'))} | "
                f"{fmt(min(exact) if exact else None, 2)} | "
                f"{fmt(statistics.mean(costs) if costs else None, 0)} |"
            )
    return out


def probe_table(board: BoardView) -> list[str]:
    """The first seed's continuation probe accuracy by layer, localisation and training cost."""
    out = [
        "",
        "## Continuation probe by layer, and cost (first seed)",
        "",
        "Fresh linear probe, toxic vs benign continuation states (0 = embeddings): it reads words, so it is high "
        "for every model, the oracle included (see the validation table).",
        "",
        "| model | method | probe accuracy by layer (0 = embeddings) | localisation | train s | tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    for key in board.order:
        r = board.grid[key].get("none", [None])[0]
        if r is None:
            continue
        acc = " ".join(f"{a:.2f}" for a in r["metrics"].get("probe_acc", []))
        tr = r.get("train") or {}
        out.append(
            f"| {esc(key[0])} | {esc(key[1])} | {acc} | {fmt(r['metrics'].get('localisation'))} | "
            f"{fmt(tr.get('seconds'), 1)} | {fmt(tr.get('tokens_per_s'), 0)} |"
        )
    return out


def stale_table(stale: list[dict]) -> list[str]:
    """Rows left out because the configuration that produced them is no longer the board's."""
    if not stale:
        return []
    lines = [
        "",
        "## Stale rows (excluded)",
        "",
        "Computed under a configuration this board no longer has (their config hash differs from the "
        "one the board's latest runs give the cell): not used above. Rerun the cells to bring them back.",
        "",
        "| model | method | attack | seed | run | config hash |",
        "|---|---|---|---|---|---|",
    ]
    for r in stale:
        cells = [
            r["model"],
            r["method"],
            r["attack"],
            r["seed"],
            r.get("run", "?"),
            r.get("config_hash") or "none",
        ]
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    return lines
