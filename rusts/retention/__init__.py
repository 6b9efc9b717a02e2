"""Retention policies and storage tiering (issue 6)."""
