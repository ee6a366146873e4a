"""API pages of demo records, grouped per (dataset, scope) the way the real connectors receive them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Page sizes of the real connectors: Resource Graph $top, Cloud Asset pageSize, SSM MaxResults, and the rows
# per Log Analytics query the Change Tracking job splits a workspace into.
PAGE_SIZE = {
    "azure__virtual_machines": 1000,
    "azure__arc_machines": 1000,
    "azure__machine_extensions": 1000,
    "azure__security_pricings": 1000,
    "azure__security_connectors": 1000,
    "azure__security_assessments": 1000,
    "azure__change_tracking": 50000,
    "aws__ssm_instance_information": 50,
    "aws__ssm_applications": 50,
    "aws__ssm_services": 50,
    "gcp__compute_instances": 500,
    "gcp__os_inventories": 500,
    "aws__ec2_instances": 1000,
}


@dataclass
class DemoPage:
    """One API response page: its records and the context the extractor needs for them."""

    dataset: str
    scope: str
    records: list[dict[str, Any]]
    context: dict[str, Any] = field(default_factory=dict)


class PageCollector:
    """Collects records into pages, per (dataset, scope), keeping insertion order for determinism."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], list[DemoPage]] = {}

    def open_scope(self, dataset: str, scope: str) -> None:
        """Register a (dataset, scope) the connector queries, so an empty answer is still recorded."""
        self.pages.setdefault((dataset, scope), [])

    def add(self, dataset: str, scope: str, record: dict[str, Any], **context: Any) -> None:
        """Add one record to the current page, starting a new page when it is full or the context changes."""
        pages = self.pages.setdefault((dataset, scope), [])
        if not pages or len(pages[-1].records) >= PAGE_SIZE[dataset] or pages[-1].context != context:
            pages.append(DemoPage(dataset, scope, [], context))
        pages[-1].records.append(record)

    def add_page(self, dataset: str, scope: str, records: list[dict[str, Any]], **context: Any) -> None:
        """Add a whole page as the API returned it (one EC2 reservation, one inventory response)."""
        self.pages.setdefault((dataset, scope), []).append(DemoPage(dataset, scope, records, context))

    def add_paged(self, dataset: str, scope: str, records: list[dict[str, Any]], **context: Any) -> None:
        """Split one call's records into pages of the API's size, all with the same context."""
        size = PAGE_SIZE[dataset]
        for start in range(0, max(len(records), 1), size):
            self.add_page(dataset, scope, records[start : start + size], **context)

    def reorder(self, dataset: str, key: Callable[[dict[str, Any]], Any]) -> None:
        """Sort a context-free dataset's records per scope and page them again, like an ``order by`` query."""
        for (name, scope), pages in self.pages.items():
            if name != dataset or not pages:
                continue
            records = sorted((r for page in pages for r in page.records), key=key)
            size = PAGE_SIZE[dataset]
            self.pages[(name, scope)] = [
                DemoPage(dataset, scope, records[i : i + size]) for i in range(0, max(len(records), 1), size)
            ]

    def all_pages(self) -> list[DemoPage]:
        return [page for pages in self.pages.values() for page in pages]
