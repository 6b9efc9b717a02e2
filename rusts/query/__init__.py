"""Query model, planner and executor (issue 4)."""
