"""Series index, tag index and bloom filters (issue 3)."""
