"""Prompt templates (constants) for answering and query rewriting."""
