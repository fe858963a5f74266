"""What a board is: its typed schema, loading it from YAML with --set, and the dry run's checks."""
