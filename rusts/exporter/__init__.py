"""rusts-export: a measurement out to Parquet (issue 7)."""
