"""The rows of a board arranged once for every table: by (model, method) and attack, the attack
order, R per cell, the known-answer checks, and the row order (worst R, then worst toxic rate)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bench.eval import certify, validity
from bench.eval.recovery import recovery
from bench.report.cells import mean_of


@dataclass
class BoardView:
    rows: list[dict]
    grid: dict[tuple, dict[str, list[dict]]]  # (model, method) -> attack -> the seeds' rows
    attacks: list[str]  # every attack but "none", in the order the rows first name them
    rec: dict  # bench.eval.recovery.recovery: (model, method, attack, point) -> per-seed R
    checks: list[dict]  # validity.validation: the known-answer checks
    failed: set[tuple]  # (model, metric) of every check that does not pass (fails, inconclusive, not run)
    order: list[tuple]  # the (model, method) keys in the order every table lists them
    certs: list[dict] = None  # certify.certification: each swept attack's budgets on the zoo
    gate: dict = None  # certify.gate: (model, attack) -> why R under the board's budget is no evidence

    @classmethod
    def of(cls, rows: list[dict]) -> BoardView:
        every = rows
        rows = main_rows(rows)
        grid: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        attacks: list[str] = []
        for r in rows:
            grid[(r["model"], r["method"])][r["attack"]].append(r)
            if r["attack"] != "none" and r["attack"] not in attacks:
                attacks.append(r["attack"])
        checks = validity.validation(rows)
        # only a pass validates: a metric that fails, is inconclusive or did not run carries ⚠
        failed = {(c["model"], c["metric"]) for c in checks if c["verdict"] != "passes"}
        certs = certify.certification(every)
        gate = certify.gate(certs, rows)  # an uncertified budget's R is no evidence either
        failed |= {(m, f"R {a}") for m, a in gate}
        board = cls(rows, grid, attacks, recovery(rows), checks, failed, [], certs, gate)
        board.order = sorted(grid, key=board._rank)
        return board

    @property
    def judged_checks(self) -> list[dict]:
        """The checks the claims read: R under a swept attack whose board budget is not certified
        counts as not validated ("not certified"), whatever its validation verdict."""
        out = []
        for c in self.checks:
            why = (
                (self.gate or {}).get((c["model"], c["metric"].removeprefix("R ")))
                if c["kind"] == "robustness"
                else None
            )
            out.append(
                c if why is None else c | {"verdict": "not certified", "reasons": [*c["reasons"], why]}
            )
        return out

    def worst(self, key) -> float:
        """The highest mean toxic rate of a row over no attack and every attack."""
        cells = self.grid[key]
        rates = [mean_of(cells[a], "toxic_rate") for a in ["none"] + self.attacks if cells.get(a)]
        return max(x for x in rates if x is not None) if rates else float("inf")

    def worst_r(self, key) -> float | None:
        """The largest mean over seeds of R among the attacks: each attack's seeds are averaged
        first, so one organism's extreme seed does not rank the row; None without an oracle."""
        means = []
        for a in self.attacks:
            vals = [r["R"] for r in self.rec.get((*key, a, None), []) if r]
            if vals:
                means.append(sum(vals) / len(vals))
        return max(means) if means else None

    def _rank(self, key):
        # by worst R where there is one, rows without R last by worst toxic rate
        r = self.worst_r(key)
        return (r is None, r if r is not None else self.worst(key), self.worst(key), key)

    @property
    def has_r(self) -> bool:
        return any(self.worst_r(k) is not None for k in self.order)


def main_rows(rows: list[dict]) -> list[dict]:
    """The rows every table but the certification reads: without budget sweeps (``ATTACK~TAG``) and
    graded controls (``CONTROL-TAG``), which only certify attacks (:mod:`bench.eval.certify`)."""
    return [r for r in rows if not certify.is_sweep(r["attack"]) and not certify.graded_of(r["method"])]
