"""Canonical data format and the importers that produce it."""
