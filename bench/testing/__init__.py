"""Stand-ins for tests and perf scripts: tiny real-architecture models and data files built here."""
