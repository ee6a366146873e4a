"""Extraction sources: one module per cloud (``azure``, ``aws``, ``gcp``) plus the built-in ``demo``.

Each cloud module follows the same shape: ``plan_jobs(settings)`` lists the scopes to read (subscription
chunks, account-regions, projects...), ``extract_job(job, landing, settings)`` reads one scope's datasets
page by page into the landing and returns one ``ExtractOutcome`` per dataset. The shared mechanics
(retries on transient errors only, error classes, secret redaction, outcome recording) live in ``base``.
"""
