"""The raw Parquet lake: dataset registry and the atomic, streaming partition writer."""
