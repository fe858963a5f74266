"""The leaderboard page: its sections in order, from result rows to markdown (a pure function)."""

from __future__ import annotations

from bench.report.certification import certification_table
from bench.report.details import curve_tables, probe_table, prompt_attack_table, stale_table
from bench.report.findings import findings, findings_section
from bench.report.main_table import main_table, provenance_section
from bench.report.plots import figure_links
from bench.report.ranking import ranking_table
from bench.report.robustness import erasure_table, recovery_tables, representation_table
from bench.report.validation import validation_tables
from bench.report.variance import variance_table
from bench.report.verdicts import claims_tables, operating_points_table
from bench.report.view import BoardView


def render(
    rows: list[dict],
    provenance: dict,
    figures: list[str] = (),
    stale: list[dict] = (),
    claims: dict | None = None,
    findings_lines: list[str] | None = None,
) -> str:
    """Markdown of a board from its result rows and provenance (pure; same input, same text).
    ``findings_lines``: the findings block's lines (:func:`findings`) when the caller has them
    already (``bench leaderboard`` writes the same block into the README)."""
    board = BoardView.of(rows)
    if findings_lines is None:
        findings_lines = findings(rows, claims, board)
    sections = [
        provenance_section(provenance),
        ranking_table(board),
        findings_section(provenance.get("board", "board"), findings_lines),
        main_table(board),
        operating_points_table(board),
        claims_tables(board, claims),
        validation_tables(board),
        certification_table(board.certs, board.attacks),
        recovery_tables(board),
        variance_table(board),
        erasure_table(board),
        representation_table(board),
        curve_tables(board),
        prompt_attack_table(board),
        probe_table(board),
        stale_table(stale),
        figure_links(figures),
    ]
    return "\n".join(line for section in sections for line in section) + "\n"
