"""Extraction jobs to a task runner, no more at a time than it can start, the jobs handed back first.

Why not submit every job at once? A runner queues what it cannot start yet, first come first served. A job
that hands back work (an AWS account-region lists its managed instances, then hands back inventory shards)
finishes in a second or two, but its shards then queue behind every scope submitted before them, often a
few long, CPU-heavy ones (an Azure subscription chunk, a GCP project): the shards, most of the night's
requests, start last and finish last. Held here instead, the queue is ours: a handed-back job goes to its
front, so the work that divides the night's requests starts as soon as there is a free worker.

Among the handed-back jobs waiting, the largest starts first (``weight``: an inventory shard's machines).
With shards that get smaller towards the end of each region (``flows.sources.aws.inventory_shards``), the
last jobs of the night are small ones, so the workers run out of work at about the same time instead of
most of them idling while a few large shards finish (longest processing time first).

``capacity`` is how many jobs the runner runs at once (its threads); ``None`` (unknown, e.g. a Dask
cluster of one's own that may grow) submits everything at once, as the runner then orders it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class JobQueue(Generic[Job, Result]):
    """Submit ``Job``s through ``submit`` (returns a future), at most ``capacity`` running; collect each one's
    result in the order the jobs were added. ``handed_back`` turns a result into the jobs it hands back
    (added at the front of the queue, the heaviest by ``weight`` first, if given, else the latest first);
    ``first_done`` waits for one of the running futures and returns it."""

    def __init__(self, capacity: int | None, submit: Callable[[Job], Any],
                 first_done: Callable[[list[Any]], Any], handed_back: Callable[[Result], Iterable[Job]],
                 weight: Callable[[Job], float] | None = None):
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1 (or None: no limit)")
        self.capacity, self.submit, self.first_done, self.handed_back = capacity, submit, first_done, handed_back
        self.weight = weight
        self.front: list[tuple[int, Job]] = []  # handed-back jobs, in the order they start
        self.pending: deque[tuple[int, Job]] = deque()
        self.running: dict[Any, int] = {}
        self.results: list[Any] = []  # in the order added; a running or waiting job's place holds None

    def add(self, jobs: Iterable[Job], *, first: bool = False) -> None:
        """Queue ``jobs`` (in this order; ``first``: ahead of those already waiting) and start what fits."""
        entries = []
        for job in jobs:
            entries.append((len(self.results), job))
            self.results.append(None)
        if first:
            self.front[:0] = entries
            if self.weight is not None:
                weight = self.weight
                self.front.sort(key=lambda entry: -weight(entry[1]))  # stable: ties keep the latest first
        else:
            self.pending.extend(entries)
        self._start()

    def add_result(self, result: Result) -> None:
        """A result that needs no job (a cloud whose planning failed), in its place in the order."""
        self.results.append(result)

    def _start(self) -> None:
        while (self.front or self.pending) and (self.capacity is None or len(self.running) < self.capacity):
            index, job = self.front.pop(0) if self.front else self.pending.popleft()
            self.running[self.submit(job)] = index

    def drain(self) -> list[Result]:
        """Wait for every job, the handed-back ones included; their results in order."""
        while self.running:
            future = self.first_done(list(self.running))
            index = self.running.pop(future)
            result = future.result()
            self.results[index] = result
            self.add(self.handed_back(result), first=True)
        return self.results
