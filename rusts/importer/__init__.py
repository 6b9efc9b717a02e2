"""rusts-import and rusts-export (issue 7)."""
