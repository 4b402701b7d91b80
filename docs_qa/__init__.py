"""The `docs-qa` command: one entry point for every front door."""
