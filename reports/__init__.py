"""Email-safe HTML reports rendered from the analyst DuckDB database.

``reports.coverage`` builds the nightly EDR coverage report: a typed context read from the database views
(``reports.context``), rendered with the shared autoescaping Jinja environment and inlined CSS
(``reports.render``).
"""
