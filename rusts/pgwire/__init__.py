"""PostgreSQL wire protocol server (issue 5)."""
