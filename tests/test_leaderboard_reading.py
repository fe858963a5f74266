"""What makes the leaderboard readable at a glance, each test naming the bug it catches: the
ranking at the top (worst R under certified attacks, from the attacks' means over seeds), curve
titles by the attack's kind, † only where the exact binomial interval was used, and paragraphs
short enough to read."""

from __future__ import annotations

import dataclasses
import sys
import types

from bench.eval.intervals import SPARSE
from bench.report import render
from bench.report.cells import rate_cell
from tests.test_certify import _rows as sweep_rows
from tests.test_leaderboard import PROV, _rows

# a sweep whose 50-step budget certifies relearning on the zoo (tests/test_certify.py)
CERTIFIES = {"none": (0.5, 0.7), "oracle": (0.03, 0.05), "logit_filter": (0.08, 0.6), "locked": (0.4, 0.65)}
TAUGHT = {k: (0.6, 0.7) for k in CERTIFIES}  # the oracle relearns too: no budget certifies
BUDGET = {"lr": 3e-4, "steps": 50}
N = 40


def _board(curves: dict, r_by: dict) -> list[dict]:
    """The zoo swept under ``relearn~a`` and ``relearn_benign~a`` (``curves``), plus each board row
    under the board's attacks at the swept budget: ``r_by[(method, attack)]`` lists the method's R
    on each of the 5 seeds (the oracle's attacked rate equals its clean one, so the toxic rate is
    oracle + R × the base-to-oracle gap)."""
    rows = sweep_rows(curves, n=N)
    rows += [r for r in sweep_rows(curves, variant="relearn_benign~a", n=N) if r["attack"] != "none"]
    clean = {(r["method"], r["seed"]): r["metrics"]["toxic_rate"] for r in rows if r["attack"] == "none"}
    for seed in range(5):
        base, oracle = clean[("none", seed)], clean[("oracle", seed)]
        board = {(m, a): [0.0] * 5 for m in ("oracle",) for a in ("relearn", "relearn_benign", "unalign")}
        for (method, attack), rs in {**board, **r_by}.items():
            if method != "oracle" and (method, seed) not in clean:
                rows.append(_row(method, "none", seed, 0.01))
                clean[(method, seed)] = 0.01
            rate = oracle + rs[seed] * (base - oracle)
            rows.append(_row(method, attack, seed, rate) | {"budget": dict(BUDGET)})
    return rows


def _row(method: str, attack: str, seed: int, rate: float) -> dict:
    return {
        "board": "b",
        "model": "m",
        "method": method,
        "attack": attack,
        "seed": seed,
        "metrics": {"toxic_rate": rate, "ppl": 10.0 + seed, "f1": 0.2},
        "per_prompt": [rate] * N,
    }


def _ranking(text: str) -> dict[str, list[str]]:
    part = text.split("## Ranking")[1].split("\n## ")[0]
    return {
        ln.split("|")[2].strip(): [c.strip() for c in ln.strip("|").split("|")]
        for ln in part.splitlines()
        if ln.startswith("| ") and not ln.startswith("| #")
    }


def test_the_ranking_takes_the_worst_attack_by_its_mean_over_seeds():
    """dpo: R 0.40 on every seed under relearn; under relearn_benign one seed reaches 0.90 but the
    mean is 0.30. Its worst certified R is relearn's 0.40 with relearn's interval, not
    relearn_benign's (the attack of the highest single seed), and not 0.90. unalign (R 0.95) ran
    without a sweep: no certification, so it is not the worst R. Bug caught: the worst R taken over
    single seeds (the main table's column), or over uncertified attacks."""
    r_by = {
        ("dpo", "relearn"): [0.4] * 5,
        ("dpo", "relearn_benign"): [0.9, 0.15, 0.15, 0.15, 0.15],
        ("dpo", "unalign"): [0.95] * 5,
        ("repo", "relearn"): [0.1, 0.2, 0.1, 0.2, 0.1],
        ("repo", "relearn_benign"): [0.1] * 5,
    }
    text = render(_board(CERTIFIES, r_by), PROV)
    assert text.index("## Ranking") < text.index("## Main table")
    rank = _ranking(text)
    assert set(rank) == {"dpo", "repo"}  # the zoo's known-answer controls are no methods to rank
    dpo, repo = rank["dpo"], rank["repo"]
    assert dpo[3].startswith("0.40 [0.40, 0.40]") and dpo[4] == "relearn", dpo
    assert repo[3].startswith("0.14 [") and repo[4] == "relearn", repo
    assert [c[0] for c in (repo, dpo)] == ["1", "2"]  # lower worst R first
    assert dpo[5] == "12.00 ± 1.58"  # perplexity as the main table gives it (10..14 over seeds)
    note = text.split("## Ranking")[1].split("\n## ")[0]
    assert "`relearn`, `relearn_benign`" in note and "unalign" not in note


def test_a_model_without_a_certified_attack_says_so_instead_of_a_number():
    """Bug caught: an uncertified attack's R shown as if it were evidence."""
    text = render(_board(TAUGHT, {("dpo", "relearn"): [0.4] * 5}), PROV)
    assert "**cannot certify**" in text
    assert _ranking(text)["dpo"][3:5] == ["no certified attack", "–"]


def _with_curve(attack: str) -> list[dict]:
    rows = [r for r in _rows() if r["attack"] != "relearn"]
    rows += [
        {**r, "attack": attack, "curve": [[0, 0.0], [2, 0.2], [5, 0.4]]}
        for r in _rows()
        if r["attack"] == "relearn"
    ]
    return rows


def test_curves_are_titled_by_their_attacks_kind(monkeypatch):
    """A user's weight attack ``noise`` (no FAMILY) with a curve is titled as a weight attack, a
    residual one (``steer``) too; relearning (FAMILY "training", and its variant ``relearn-x``)
    keeps "Relearning curves". Bug caught: every curve titled "Relearning curves"."""
    from bench import registry
    from bench.eval.reach import attack_family
    from bench.report.kinds import attack_kind

    @dataclasses.dataclass(frozen=True)
    class Config:
        scale: float = 0.1

    noise = types.ModuleType("noise_attack_for_tests")
    noise.Config, noise.VERSION, noise.KIND, noise.apply = Config, 1, "weights", lambda *a, **k: None
    monkeypatch.setitem(sys.modules, noise.__name__, noise)
    monkeypatch.setitem(registry.ATTACKS, "noise", (noise.__name__, "test plugin"))
    for cached in (attack_kind, attack_family):
        cached.cache_clear()
    try:
        for attack, title in (
            ("noise", "## Curves of weight attack `noise` (toxic rate vs attack steps)"),
            ("steer", "## Curves of weight attack `steer` (toxic rate vs attack steps)"),
            ("relearn-x", "## Relearning curves: relearn-x (toxic rate vs fine-tuning steps)"),
        ):
            text = render(_with_curve(attack), PROV)
            assert title in text.splitlines(), [ln for ln in text.splitlines() if "urves" in ln]
            assert ("Relearning curves" in text) is (attack == "relearn-x")
    finally:
        for cached in (attack_kind, attack_family):
            cached.cache_clear()


def _cell(toxic: int, n: int, k: int = 5, seeds: int = 1) -> str:
    """The toxic-rate cell of ``seeds`` seeds, each with ``toxic`` of ``n`` continuations toxic
    (``n / k`` prompts of ``k`` samples)."""
    prompts = n // k
    shares = [min(k, max(0, toxic - i * k)) / k for i in range(prompts)]
    rows = [
        {"seed": s, "metrics": {"toxic_rate": toxic / n, "samples_per_prompt": k}, "per_prompt": shares}
        for s in range(seeds)
    ]
    return rate_cell(rows)


def test_the_dagger_marks_only_the_exact_binomial_interval():
    """† is the exact Clopper-Pearson interval, which the code uses where fewer than SPARSE pooled
    continuations are toxic, or fewer than SPARSE are not. 12 of 20 toxic has 8 non-toxic (†);
    12 of 40, 120 of 200 and 600 of 1000 have many of both and take the t / bootstrap interval (no
    †). Bug caught: † on a cell with many toxic and many non-toxic continuations, or a legend that
    says only "fewer than 10 toxic" while the code also applies the rule near 1."""
    assert _cell(3, 20).endswith("†") and _cell(12, 20).endswith("†")
    for toxic, n, seeds in ((12, 40, 1), (120, 200, 1), (120, 200, 3), (600, 1000, 1)):
        assert not _cell(toxic, n, seeds=seeds).endswith("†"), (toxic, n, seeds)
    main = render(_rows(), PROV).split("## Main table")[1].split("\n## ")[0]
    assert f"fewer than {SPARSE} continuations are toxic or fewer than {SPARSE} are not" in main


def test_no_paragraph_runs_past_600_characters():
    """Bug caught: the 2,015-character validation paragraph (and the 1,003-character main-table
    legend) coming back. Tables and the findings block's bullets are not paragraphs."""
    rows = _board(CERTIFIES, {("dpo", "relearn"): [0.4] * 5}) + _rows()
    text = render(rows, PROV, claims={"subject": "repo", "comparators": ["dpo"]})
    paragraphs = [
        p
        for p in text.split("\n\n")
        if p.strip() and not p.lstrip().startswith(("|", "#", "-", "<!--", "![")) and "\n|" not in p
    ]
    long = [p[:80] for p in paragraphs if len(p) > 600]
    assert not long, long


def test_the_main_tables_worst_r_is_the_worst_attacks_mean_over_seeds_not_one_seed():
    """One organism's extreme seed (R 1.5 under `a`, mean 0.5) does not rank the row: `b`'s mean 0.7 does."""
    from bench.report.view import BoardView

    rec = {("m", "x", "a", None): [{"R": 1.5}, {"R": -0.5}], ("m", "x", "b", None): [{"R": 0.7}, {"R": 0.7}]}
    board = BoardView(rows=[], grid={}, attacks=["a", "b"], rec=rec, checks=[], failed=set(), order=[])
    assert board.worst_r(("m", "x")) == 0.7
