"""What every connector's dataset loop guarantees, whatever the cloud."""

from __future__ import annotations

import gc
import weakref
from datetime import date

from flows.lake.writer import Landing
from flows.sources.base import ScopeJob, extract_dataset, paged
from tests import builders as b


class _Page(list):
    """A page of records that can be watched with a weak reference (a plain list cannot)."""


def test_a_page_is_released_before_the_next_one_is_fetched(tmp_path):
    """Memory holds one API page per dataset being read, not two: by the time the next page is fetched
    (a 50,000-row Log Analytics answer, 500 GCP OS inventories), nothing keeps the one already written."""
    alive_when_fetching: list[bool] = []

    def pages():
        previous = None
        for start in (0, 3, 6):
            if previous is not None:
                gc.collect()
                alive_when_fetching.append(previous() is not None)
            page = _Page(b.azure_vm(f"vm-{start + i}") for i in range(3))
            previous = weakref.ref(page)
            yield page, {}
            del page

    landing = Landing(tmp_path, date(2026, 11, 28))
    outcome = extract_dataset(landing, ScopeJob("azure", "sub"), "azure__virtual_machines", pages, source="azure")
    assert (outcome.status, outcome.rows, outcome.pages) == ("ok", 9, 3)
    assert alive_when_fetching == [False, False]


def test_a_token_paged_listing_releases_each_page_before_fetching_the_next(tmp_path):
    """The same through ``paged`` (Resource Graph, AWS), whose own loop holds the page it yielded."""
    alive_when_fetching: list[bool] = []
    previous: list[weakref.ref] = []

    def fetch(token):
        if previous:
            gc.collect()
            alive_when_fetching.append(previous[-1]() is not None)
        start = int(token or 0)
        page = _Page(b.azure_vm(f"vm-{start + i}") for i in range(3))
        previous.append(weakref.ref(page))
        return page, (str(start + 3) if start < 6 else None)

    landing = Landing(tmp_path, date(2026, 11, 28))
    outcome = extract_dataset(landing, ScopeJob("azure", "sub"), "azure__virtual_machines",
                              lambda: paged(fetch), source="azure")
    assert (outcome.status, outcome.rows, outcome.pages) == ("ok", 9, 3)
    assert alive_when_fetching == [False, False]
