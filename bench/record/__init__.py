"""What was recorded: run records and their rows, the committed results form, the cell's
configuration key, provenance (environment, masked secrets) and garbage collection."""
