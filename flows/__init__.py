"""edrcov: nightly multicloud EDR coverage. The Prefect flow, sources, landing and CLI live here."""
