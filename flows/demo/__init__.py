"""A deterministic, seeded demo estate landed through the real ``Landing`` writer.

Public API:

- ``land_demo_estate(landing, machines=3000, seed=42) -> DemoSummary``: write every raw dataset for
  ``landing.snapshot_date`` and record one ``extract_runs`` outcome per (scope, dataset).
- ``planned_machines(machines, seed) -> list[PlannedMachine]``: the intended verdict case of every machine.
- ``demo_pages(machines, seed, snapshot_date) -> list[DemoPage]``: the raw API pages, without a lake.
"""

from flows.demo.estate import MALFORMED, DemoSummary, demo_pages, land_demo_estate, summarize
from flows.demo.inventory import EXEMPT_TAG, EXEMPT_UNTIL_TAG, OWNER_TAG
from flows.demo.pages import DemoPage
from flows.demo.plan import CASES, PlannedMachine, Topology, planned_machines, topology

__all__ = [
    "CASES",
    "EXEMPT_TAG",
    "EXEMPT_UNTIL_TAG",
    "MALFORMED",
    "OWNER_TAG",
    "DemoPage",
    "DemoSummary",
    "PlannedMachine",
    "Topology",
    "demo_pages",
    "land_demo_estate",
    "planned_machines",
    "summarize",
    "topology",
]
