"""SQL translation onto the query model (issue 5)."""
