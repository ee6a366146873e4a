"""Atomic file writes for reports: readers (and mail jobs) never pick up a half-written page."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from transforms.inputs import attach_lake


def write_atomic(target: Path, text: str) -> Path:
    """Write ``text`` to ``target`` via a temporary file in the same folder and a rename (mode 0644)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def render_within(db_path: Path, build_context: Callable[..., Any], render: Callable[[Any], str], *,
                  list_cap: int, max_bytes: int, lake: str | Path | None = None) -> str:
    """Render a report from the database at ``db_path`` (opened read-only), halving the list cap until the
    page fits in ``max_bytes`` (or the cap reaches 10): reports stay email-sized whatever the estate.

    ``lake`` is where the database was built from. A database built from a lake on object storage reads the
    earlier nights (``machine_history``, ``license_hours``) through objects registered on the connection,
    so the lake is attached first (``transforms.inputs.attach_lake``; nothing to do for a local lake)."""
    cap = list_cap
    while True:
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            if lake is not None:
                attach_lake(con, lake)
            context = build_context(con, list_cap=cap)
        finally:
            con.close()
        html = render(context)
        if len(html.encode("utf-8")) <= max_bytes or cap <= 10:
            return html
        cap = max(10, cap // 2)
