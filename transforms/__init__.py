"""Builds the DuckDB analyst database from the raw Parquet lake with the layered SQL models in ``sql/``."""
