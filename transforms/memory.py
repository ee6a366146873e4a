"""Running a statement once more on one thread when DuckDB runs out of memory on several.

Near the memory limit, whether a million-machine join or a uniqueness check fits can depend on how the
threads' partitions happen to interleave: the same catch-up build at a million machines failed twice in a few
runs with "failed to pin block" and passed on the next. The night's build must not fail on that, so a model
(``transforms.build``) or a data test (``transforms.data_tests``) that runs out of memory is run again on a
single thread (each thread holds its own partitions), as DuckDB's own error advises, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import duckdb

log = logging.getLogger(__name__)
T = TypeVar("T")


class OutOfMemoryOnOneThread(RuntimeError):
    """Out of memory on several threads, then failed on one as well; ``__cause__`` is the last error."""

    def __init__(self, what: str, threads: int, error: duckdb.Error):
        self.threads = threads
        super().__init__(f"{what} (on one thread, after running out of memory on {threads}): {error}")


def on_one_thread_if_out_of_memory(con: duckdb.DuckDBPyConnection, action: Callable[[], T],
                                   what: str) -> tuple[T, bool]:
    """``(action(), retried)``: run ``action``; if DuckDB runs out of memory while more than one thread is
    set, warn, run it again with ``threads = 1`` and give the setting back. An out-of-memory error with one
    thread already set is raised as it is; any error of the retry as ``OutOfMemoryOnOneThread``."""
    try:
        return action(), False
    except duckdb.OutOfMemoryException as exc:
        threads = int(con.execute("select current_setting('threads')").fetchone()[0])
        if threads <= 1:
            raise
        log.warning("%s ran out of memory on %d threads; running it again on one thread (%s)",
                    what, threads, str(exc).splitlines()[0])
    con.execute("set threads = 1")
    try:
        return action(), True
    except duckdb.Error as exc:
        raise OutOfMemoryOnOneThread(what, threads, exc) from exc
    finally:
        con.execute(f"set threads = {threads}")
