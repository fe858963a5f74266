"""The one-glance ranking at the top of the leaderboard: one row per method (the zoo's known-answer
controls left out) with its no-attack toxic rate, its worst R under a certified attack and its
perplexity, each formatted as the tables below format it (:mod:`bench.report.cells`).

An attack is certified for a model where its budget sweep on the zoo certified a budget
(:func:`bench.eval.certify.certification`) and the board attacks at or above it (not in
:func:`bench.eval.certify.gate`). An attack that was not swept is in no gate but has no
certification either way, so it does not count. The worst R is the highest of the certified
attacks' means over seeds, shown with that attack's interval over seeds (:func:`r_cell`): not the
highest single seed's R."""

from __future__ import annotations

from bench.eval.recovery import models_without_oracle, recovery_interval
from bench.report.cells import cell, esc, mean_of, r_cell
from bench.report.variance import CONTROLS
from bench.report.view import BoardView


def certified(board: BoardView) -> dict[str, list[str]]:
    """{model: the board's attacks certified for it, in the board's order}."""
    gate = board.gate or {}
    ok = {(c["model"], c["attack"]) for c in board.certs or [] if c["certified"] is not None}
    models = dict.fromkeys(k[0] for k in board.order)
    return {m: [a for a in board.attacks if (m, a) in ok and (m, a) not in gate] for m in models}


def worst_certified(board: BoardView, key: tuple, attacks: list[str]) -> tuple[str, list] | None:
    """(attack, its per-seed R) of the certified attack with the highest mean R over seeds for the
    (model, method) ``key``; None where no certified attack has an R for it."""
    best = None
    for a in attacks:
        rs = board.rec.get((*key, a, None)) or []
        value = recovery_interval(list(rs))["value"]
        if value is not None and (best is None or value > best[0]):
            best = (value, a, rs)
    return None if best is None else (best[1], best[2])


def ranking_table(board: BoardView) -> list[str]:
    keys = [k for k in board.order if k[1] not in CONTROLS]
    if not keys:
        return []
    cert = certified(board)
    no_oracle = set(models_without_oracle(board.rows))
    several = len({m for m, _ in keys}) > 1
    entries = []
    for key in keys:
        clean = board.grid[key].get("none", [])
        found = None if key[0] in no_oracle else worst_certified(board, key, cert[key[0]])
        if key[0] in no_oracle:
            r_text, attack = "no oracle: R not computed", "–"
        elif not cert[key[0]]:
            r_text, attack = "no certified attack", "–"
        elif found is None:
            r_text, attack = "no R under a certified attack", "–"
        else:
            attack, rs = found
            r_text = r_cell(rs)
            have = sum(1 for a in cert[key[0]] if board.rec.get((*key, a, None)))
            if have < len(cert[key[0]]):
                r_text += f" (R under {have} of the {len(cert[key[0]])} certified attacks)"
        value = None if found is None else recovery_interval(list(found[1]))["value"]
        rate = mean_of(clean, "toxic_rate")
        sort = (value is None, value if value is not None else 0.0, rate if rate is not None else 1.0, key)
        cells = [esc(key[1]), cell(clean, "toxic_rate"), r_text, esc(attack), cell(clean, "ppl", 2, ci=False)]
        entries.append((sort, ([esc(key[0])] if several else []) + cells))
    entries.sort(key=lambda e: e[0])
    head = ["#"] + (["model"] if several else []) + ["method", "toxic rate, no attack"]
    head += ["worst R, certified attacks", "attack", "perplexity"]
    lines = ["", "## Ranking", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [f"| {i} | " + " | ".join(c) + " |" for i, (_, c) in enumerate(entries, 1)]
    return lines + ["", _note(cert, several, no_oracle >= set(cert))]


def _note(cert: dict[str, list[str]], several: bool, without_r: bool) -> str:
    """The one sentence under the ranking: its order, and what "certified" means here."""
    if without_r:
        return (
            "Ordered by the no-attack toxic rate, lowest first: no model has an oracle, so R is not computed."
        )
    named = "; ".join(
        (f"{esc(m)}: " if several else "") + (", ".join(f"`{esc(a)}`" for a in attacks) or "none")
        for m, attacks in cert.items()
    )
    return (
        "Ordered by worst R, lowest (most robust) first, ties by the no-attack toxic rate: the highest mean "
        "over seeds of R (0 = oracle, 1 = base) among the attacks certified for the model, with that attack's "
        "95% interval, where an attack is certified when its budget sweep on the zoo certified a budget at or "
        f'below the one the board attacks with (here {named}; see "Attack budgets certified on the zoo").'
    )
