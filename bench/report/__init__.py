"""How a board is shown: result rows -> markdown (:func:`render`, a pure function) plus figures
beside it (:func:`figures`).

The main table has one row per model × method: toxic rate without attack and under each attack
with its 95% bootstrap interval (mean ± std over seeds when a board runs several), the worst case
over attacks, the worst R, perplexity, F1 and the latent readout kept; sorted by worst R (worst
toxic rate without an oracle). Every cell taken from configs or names is escaped. One module per
kind of table (:mod:`.main`, :mod:`.claims`, :mod:`.validation`, :mod:`.recovery`,
:mod:`.details`), the cell helpers in :mod:`.cells`, the figures in :mod:`.plots`, and the
section order in :mod:`.page`.
"""

from bench.report.cells import esc
from bench.report.page import render
from bench.report.plots import figures

__all__ = ["esc", "figures", "render"]
