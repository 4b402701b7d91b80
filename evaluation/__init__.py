"""The multi-set retrieval evaluation: sets, running, scoring, report (`python -m evaluation`)."""
