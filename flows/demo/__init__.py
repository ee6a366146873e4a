"""A deterministic, seeded demo estate landed through the real ``Landing`` writer.

Public API:

- ``land_demo_estate(landing, machines=3000, seed=42) -> DemoSummary``: write every raw dataset for
  ``landing.snapshot_date`` and record one ``extract_runs`` outcome per (scope, dataset).
- ``planned_machines(machines, seed, snapshot_date=None) -> list[PlannedMachine]``: with a date, the machines
  that exist that night and the verdict case each is built to get that night (``phase`` says what is
  happening to it: new, onboarding, onboarded, broken, recovered, terminated); without, the estate's usual
  machines and cases, as if it never changed.
- ``demo_pages(machines, seed, snapshot_date) -> list[DemoPage]``: the raw API pages, without a lake.

The estate evolves from night to night (``flows.demo.evolution``): about 1% of it is launched and as much
decommissioned every night, new machines get their EDR 1-4 nights after launch (some never do), a handful of
EDRs break and are repaired, one subscription runs Plan 2 mid-week, and an exemption is always about to end.
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
