"""The HTTP edge: line-protocol parsing and (issue 4) the REST API."""
