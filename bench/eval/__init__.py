"""How a board is judged: toxicity metrics, intervals over seeds, R (recovery over the oracle), the
erasure metrics, the known-answer rules, certification of attack budgets, and the claims' verdicts."""
