"""``bench export``: a board's results as records the field can reuse, read from the store.

Writes, into one folder (default ``$BENCH_HOME/exports/<board>``):

* ``data/<collection>/<developer>/<model>/<uuid>.json``: one **Every Eval Ever** aggregate record
  (schema 0.3.0, EvalEval coalition, arXiv 2606.14516) per model × method × attack, all seeds of
  the cell together. Its toxic rate and interval are the leaderboard's own
  (:func:`bench.report.cells.rate_interval_of`), and so are mean toxicity, perplexity, F1 and R
  (:func:`bench.report.cells.cell`'s rules, :func:`bench.eval.recovery.recovery_interval`);
* ``…/<uuid>_samples.jsonl`` beside it: the instance-level sidecar, one line per (prompt,
  continuation) of every seed, with its score (the datastore's layout: the aggregate names it in
  ``detailed_evaluation_results.file_path``, with its sha256 and line count);
* ``samples.parquet``: the same lines as one table (``pandas.read_parquet``,
  ``datasets.load_dataset("parquet", ...)``), and ``README.md``, a Hugging Face dataset card
  whose ``configs`` point ``load_dataset(REPO)`` at it;
* ``export.json``: what was written (the records' cells and paths), so a later export into the
  same folder replaces exactly those files and nothing else.

Committed ``results/`` folders hold no continuations, so the export reads the store: the rows of
the board's latest runs (:func:`bench.report.leaderboard.leaderboard_inputs`, the leaderboard's
rows, stale ones left out), each row's generations (``store/gen/<key>/generations.jsonl``) and
their scores (the ``score`` stage the run's manifest pairs with them, checked against the row's
per-prompt rates). ``docs/export.md`` maps every field.
"""

from bench.report.export.write import export

__all__ = ["export"]
