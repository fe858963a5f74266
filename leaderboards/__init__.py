"""Board specs (``<name>/board.yaml``) and their generated ``LEADERBOARD.md``; installed as ``bench.leaderboards``."""
