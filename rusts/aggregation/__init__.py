"""Continuous aggregates and downsampling (issue 6)."""
